// `llama4 eval`: logits for every position of a token list, written as safetensors.
import type { Command } from "commander";
import { writeSafetensors } from "../formats/safetensors.js";
import { openModel } from "../runtime/load.js";
import { DEFAULT_BLOCK_SIZE, evalLogits } from "../runtime/generate.js";
import { SequenceKVCache } from "../runtime/kvcache.js";
import type { Llama4TextModel } from "../model/llama4.js";
import { loadVisionWeights } from "../formats/hf-vision.js";
import { Llama4VisionModel } from "../model/vision.js";
import { countPatchTokens, multimodalEmbeddings } from "../model/multimodal.js";
import { decodeImage } from "../image/decode.js";
import { preprocessImage } from "../image/preprocess.js";
import { KV_TYPE_HELP, parseIntArg, parseKVTypeArg, parseTokenList } from "./args.js";
import { loadProgressBar } from "./progress.js";

interface EvalCliOptions {
  model: string;
  tokens: number[];
  out: string;
  incremental?: boolean;
  blockSize?: number;
  quiet?: boolean;
  image: string[];
  kvType: "f32" | "f16" | "q8_0";
}

export function registerEvalCommand(program: Command): void {
  program
    .command("eval")
    .description("write logits F32 [T, V] for every position of --tokens to a safetensors file (tensor `logits`)")
    .requiredOption("--model <dir>", "model folder")
    .requiredOption("--tokens <ids>", "comma-separated token ids", parseTokenList)
    .requiredOption("--out <file>", "output .safetensors file")
    .option("--incremental", "feed the tokens one at a time through the KV cache")
    .option("--block-size <n>", "prefill block size (tokens per forward call)", parseIntArg("--block-size", 1))
    .option("--quiet", "no progress output")
    .option("--kv-type <type>", KV_TYPE_HELP, parseKVTypeArg, "f32")
    .option("--image <path>", "image for the next run of <|patch|> tokens in --tokens (repeatable, prompt order)",
      (v: string, prev: string[]) => [...prev, v], [] as string[])
    .action(async (o: EvalCliOptions) => {
      const bar = loadProgressBar("loading", !!o.quiet);
      const { model } = openModel(o.model, { onProgress: bar.update, kvType: o.kvType });
      bar.stop();
      const V = model.config.vocabSize;
      const logits = o.image.length === 0
        ? evalLogits(model, o.tokens, { incremental: !!o.incremental, ...(o.blockSize !== undefined && { blockSize: o.blockSize }) })
        : evalWithEmbeddings(model, o.tokens, await imageEmbeddings(model, o.model, o.tokens, o.image), o.incremental ? 1 : (o.blockSize ?? DEFAULT_BLOCK_SIZE));
      writeSafetensors(o.out, [
        { name: "logits", dtype: "F32", shape: [o.tokens.length, V], data: logits },
        { name: "tokens", dtype: "I32", shape: [o.tokens.length], data: Int32Array.from(o.tokens) },
      ]);
    });
}

/** Input embeddings [T, D] of `tokens` with the images' rows in place of the <|patch|> tokens. */
async function imageEmbeddings(model: Llama4TextModel, dir: string, tokens: number[], paths: string[]): Promise<Float32Array> {
  const { config, weights } = loadVisionWeights(dir);
  const vision = new Llama4VisionModel(config, weights);
  const parts: Float32Array[] = [];
  const needs: string[] = [];
  for (const path of paths) {
    const p = preprocessImage(await decodeImage(path), { tileSize: config.imageSize });
    parts.push(vision.embedTiles(p.pixels, p.numTiles));
    needs.push(`${path}: ${p.rows}×${p.cols} tiles → ${p.numTiles * vision.geometry.tokensPerTile}`);
  }
  const rows = new Float32Array(parts.reduce((n, r) => n + r.length, 0));
  parts.reduce((at, r) => (rows.set(r, at), at + r.length), 0);
  const have = countPatchTokens(tokens, config.imageTokenIndex);
  if (have * vision.outputDim !== rows.length) {
    throw new Error(`--tokens has ${have} <|patch|> tokens (id ${config.imageTokenIndex}) but the images need ` +
      `${rows.length / vision.outputDim} (${needs.join("; ")}); spell each image with its placeholder layout`);
  }
  return multimodalEmbeddings(model, tokens, rows, config.imageTokenIndex);
}

/** evalLogits with precomputed input embeddings, fed in blocks of `block` tokens. */
function evalWithEmbeddings(model: Llama4TextModel, tokens: number[], embeddings: Float32Array, block: number): Float32Array {
  const { vocabSize: V, hiddenSize: D } = model.config;
  const cache = SequenceKVCache.forModel(model, { maxBlock: block });
  const out = new Float32Array(tokens.length * V);
  for (let s = 0; s < tokens.length; s += block) {
    const part = tokens.slice(s, s + block);
    // forward() adds into the embeddings it is given: each block gets its own copy.
    const e = embeddings.slice(s * D, (s + part.length) * D);
    out.set(model.forward(part, cache, { logits: "all", embeddings: e }), s * V);
  }
  cache.dispose();
  return out;
}
