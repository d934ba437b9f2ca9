// `llama4 generate`: continue a token list (ids in, ids out).
import type { Command } from "commander";
import { openModel } from "../runtime/load.js";
import { generateAll } from "../runtime/generator.js";
import { KV_TYPE_HELP, parseFloatArg, parseIntArg, parseKVTypeArg, parseTokenList } from "./args.js";
import { loadProgressBar } from "./progress.js";

interface GenerateCliOptions {
  model: string;
  tokens: number[];
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  seed?: number;
  json?: boolean;
  stop?: boolean;
  quiet?: boolean;
  kvType: "f32" | "f16" | "q8_0";
}

export function registerGenerateCommand(program: Command): void {
  program
    .command("generate")
    .description("continue --tokens and print the generated token ids")
    .requiredOption("--model <dir>", "model folder")
    .requiredOption("--tokens <ids>", "comma-separated prompt token ids", parseTokenList)
    .option("--max-tokens <n>", "tokens to generate", parseIntArg("--max-tokens", 0), 32)
    .option("--temperature <t>", "sampling temperature (0 = greedy)", parseFloatArg("--temperature", 0), 0)
    .option("--top-k <k>", "sample from the k most likely tokens", parseIntArg("--top-k", 0))
    .option("--top-p <p>", "nucleus sampling mass", parseFloatArg("--top-p", 0))
    .option("--min-p <p>", "drop tokens below p × the top probability", parseFloatArg("--min-p", 0))
    .option("--repeat-penalty <r>", "repetition penalty (1 = off)", parseFloatArg("--repeat-penalty", 0))
    .option("--seed <n>", "random seed (same seed, same output)", parseIntArg("--seed", 0))
    .option("--no-stop", "do not stop at the config's end-of-sequence ids")
    .option("--json", 'print {"tokens":[...]}')
    .option("--quiet", "no progress output")
    .option("--kv-type <type>", KV_TYPE_HELP, parseKVTypeArg, "f32")
    .action(async (o: GenerateCliOptions) => {
      const bar = loadProgressBar("loading", !!o.quiet);
      const { model } = openModel(o.model, { onProgress: bar.update, kvType: o.kvType });
      bar.stop();
      const result = await generateAll(model, o.tokens, {
        maxTokens: o.maxTokens,
        stopTokens: o.stop === false ? [] : model.config.eosTokenIds,
        sampling: {
          temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP,
          repetitionPenalty: o.repeatPenalty, seed: o.seed ?? 0,
        },
      });
      const tokens = [...result.tokens];
      process.stdout.write(o.json ? JSON.stringify({ tokens }) + "\n" : tokens.join(",") + "\n");
    });
}
