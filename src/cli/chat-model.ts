// What `run` and `chat` share: picking the model (or the demo model), its tokenizer, the
// stop tokens, the sampling options, and the timing line on stderr.
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isGgufFile, openModel, type LoadQuant } from "../runtime/load.js";
import { loadGgufTokenizer } from "../formats/gguf-vocab.js";
import type { Llama4TextModel } from "../model/llama4.js";
import { Tokenizer } from "../tokenizer/index.js";
import { DEMO_MODEL_NOTE, ensureDemoModel } from "../synth/demo-model.js";
import type { SamplingParams } from "../runtime/sampler.js";
import type { GenerationEvent } from "../runtime/generator.js";
import { KV_TYPE_HELP, parseFloatArg, parseIntArg, parseKVTypeArg } from "./args.js";
import { loadProgressBar } from "./progress.js";

export interface ChatModel {
  readonly dir: string;
  readonly model: Llama4TextModel;
  readonly tokenizer: Tokenizer;
  readonly stopTokens: readonly number[];
  readonly isDemo: boolean;
  readonly loadSeconds: number;
  /** Ids never sampled (the demo model's random head would otherwise emit special tokens). */
  readonly suppress: ReadonlyMap<number, number> | undefined;
}

export interface ModelCliOptions {
  model?: string;
  tokenizer?: string;
  quiet?: boolean;
  threads?: number;
  kernels?: string;
  quant?: string;
  kvType?: "f32" | "f16" | "q8_0";
}

export function loadChatModel(o: ModelCliOptions): ChatModel {
  const log = (msg: string) => { if (!o.quiet) process.stderr.write(`${msg}\n`); };
  const isDemo = o.model === undefined;
  const dir = o.model ?? ensureDemoModel(undefined, log);
  if (isDemo) log(`llama4: using the ${DEMO_MODEL_NOTE}.`);
  const t0 = performance.now();
  const bar = loadProgressBar("loading", !!o.quiet);
  if (o.kernels !== undefined && o.kernels !== "wasm" && o.kernels !== "ref") throw new Error(`--kernels must be wasm or ref, got ${JSON.stringify(o.kernels)}`);
  if (o.quant !== undefined && !["q8_0", "q4_0", "q4_k"].includes(o.quant)) throw new Error(`--quant must be q8_0, q4_0 or q4_k, got ${JSON.stringify(o.quant)}`);
  const { model } = openModel(dir, {
    onProgress: bar.update,
    ...(o.threads !== undefined && { threads: o.threads }),
    ...(o.kernels !== undefined && { kernels: o.kernels as "wasm" | "ref" }),
    ...(o.quant !== undefined && { quant: o.quant as LoadQuant }),
    ...(o.kvType !== undefined && { kvType: o.kvType }),
  });
  bar.stop();
  const tokPath = o.tokenizer ?? dir;
  const gguf = !o.tokenizer && isGgufFile(dir);
  if (!o.tokenizer && !gguf && !["tokenizer.json", "tokenizer.model"].some((f) => existsSync(join(dir, f)))) {
    throw new Error(`${dir}: no tokenizer.json or tokenizer.model in the model folder; pass --tokenizer <file|dir>`);
  }
  // A GGUF carries its vocabulary in its metadata (tokenizer.ggml.*).
  const tokenizer = gguf ? loadGgufTokenizer(dir) : Tokenizer.load(tokPath);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(`tokenizer ${tokPath} has ${tokenizer.vocabSize} ids but the model's vocabulary is ${model.config.vocabSize}`);
  }
  // End of turn, end of message and end of text all stop a reply, whatever the config lists.
  const stops = new Set<number>(tokenizer.eosIds);
  for (const id of model.config.eosTokenIds) if (id < model.config.vocabSize) stops.add(id);
  let suppress: Map<number, number> | undefined;
  if (isDemo) {
    suppress = new Map();
    for (let id = 0; id < model.config.vocabSize; id++) if (tokenizer.isSpecial(id) && !stops.has(id)) suppress.set(id, -Infinity);
  }
  return { dir, model, tokenizer, stopTokens: [...stops], isDemo, loadSeconds: (performance.now() - t0) / 1000, suppress };
}

export interface SamplingCliOptions {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK?: number;
  minP?: number;
  repeatPenalty?: number;
  seed?: number;
  stop: string[];
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option("--model <dir>", "model folder (default: the built-in demo model, random weights)")
    .option("--tokenizer <file|dir>", "tokenizer (default: the one in the model folder)")
    .option("--threads <n>", "compute threads (default: every core)", parseIntArg("--threads", 1))
    .option("--kernels <k>", "wasm (WASM SIMD, default) or ref (plain TypeScript)")
    .option("--quant <type>", "quantize a safetensors model's matrices while loading: q8_0 | q4_0 | q4_k")
    .option("--kv-type <type>", KV_TYPE_HELP, parseKVTypeArg)
    .option("--quiet", "no progress or timing output on stderr");
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option("--max-tokens <n>", "most tokens to generate", parseIntArg("--max-tokens", 0), 512)
    .option("--temperature <t>", "sampling temperature (0 = greedy)", parseFloatArg("--temperature", 0), 0.6)
    .option("--top-p <p>", "nucleus sampling mass", parseFloatArg("--top-p", 0), 0.9)
    .option("--top-k <k>", "sample among the k most likely tokens", parseIntArg("--top-k", 0))
    .option("--min-p <p>", "drop tokens below p × the top probability", parseFloatArg("--min-p", 0))
    .option("--repeat-penalty <r>", "repetition penalty (1 = off)", parseFloatArg("--repeat-penalty", 0))
    .option("--seed <n>", "random seed (same seed, same output)", parseIntArg("--seed", 0))
    .option("--stop <text>", "stop when this text is generated (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[]);
}

export function samplingParams(o: SamplingCliOptions, m: ChatModel): SamplingParams {
  return {
    ...(m.suppress && { logitBias: m.suppress }),
    temperature: o.temperature, topP: o.topP, topK: o.topK, minP: o.minP, repetitionPenalty: o.repeatPenalty,
    ...(o.seed !== undefined && { seed: o.seed }),
  };
}

export function timingLine(done: Extract<GenerationEvent, { type: "done" }>): string {
  const rate = (n: number, s: number) => (s > 0 ? (n / s).toFixed(1) : "∞");
  return `[prompt ${done.promptTokens} tok, ${rate(done.promptTokens, done.promptSeconds)} tok/s | generated ${done.tokens.length} tok, ` +
    `${rate(done.tokens.length, done.decodeSeconds)} tok/s | ${done.finishReason}]`;
}
