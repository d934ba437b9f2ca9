// `llama4 generate`: continue a token list (ids in, ids out).
import type { Command } from "commander";
import { openModel } from "../runtime/load.js";
import { generateGreedy } from "../runtime/generate.js";
import { parseFloatArg, parseIntArg, parseTokenList } from "./args.js";
import { loadProgressBar } from "./progress.js";

interface GenerateCliOptions {
  model: string;
  tokens: number[];
  maxTokens: number;
  temperature: number;
  json?: boolean;
  stop?: boolean;
  quiet?: boolean;
}

export function registerGenerateCommand(program: Command): void {
  program
    .command("generate")
    .description("continue --tokens and print the generated token ids")
    .requiredOption("--model <dir>", "model folder")
    .requiredOption("--tokens <ids>", "comma-separated prompt token ids", parseTokenList)
    .option("--max-tokens <n>", "tokens to generate", parseIntArg("--max-tokens", 0), 32)
    .option("--temperature <t>", "sampling temperature (0 = greedy)", parseFloatArg("--temperature", 0), 0)
    .option("--no-stop", "do not stop at the config's end-of-sequence ids")
    .option("--json", 'print {"tokens":[...]}')
    .option("--quiet", "no progress output")
    .action((o: GenerateCliOptions) => {
      if (o.temperature !== 0) {
        throw new Error("generate: only --temperature 0 (greedy) is implemented so far; sampling comes with the sampler");
      }
      const bar = loadProgressBar("loading", !!o.quiet);
      const { model } = openModel(o.model, { onProgress: bar.update });
      bar.stop();
      const tokens = generateGreedy(model, o.tokens, {
        maxTokens: o.maxTokens,
        stopTokens: o.stop === false ? [] : model.config.eosTokenIds,
      });
      process.stdout.write(o.json ? JSON.stringify({ tokens }) + "\n" : tokens.join(",") + "\n");
    });
}
