// `llama4 eval`: logits for every position of a token list, written as safetensors.
import type { Command } from "commander";
import { writeSafetensors } from "../formats/safetensors.js";
import { openModel } from "../runtime/load.js";
import { evalLogits } from "../runtime/generate.js";
import { parseIntArg, parseTokenList } from "./args.js";
import { loadProgressBar } from "./progress.js";

interface EvalCliOptions {
  model: string;
  tokens: number[];
  out: string;
  incremental?: boolean;
  blockSize?: number;
  quiet?: boolean;
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
    .action((o: EvalCliOptions) => {
      const bar = loadProgressBar("loading", !!o.quiet);
      const { model } = openModel(o.model, { onProgress: bar.update });
      bar.stop();
      const V = model.config.vocabSize;
      const logits = evalLogits(model, o.tokens, { incremental: !!o.incremental, ...(o.blockSize !== undefined && { blockSize: o.blockSize }) });
      writeSafetensors(o.out, [
        { name: "logits", dtype: "F32", shape: [o.tokens.length, V], data: logits },
        { name: "tokens", dtype: "I32", shape: [o.tokens.length], data: Int32Array.from(o.tokens) },
      ]);
    });
}
