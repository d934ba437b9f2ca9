// `llama4 tokenize` / `llama4 detokenize`: text <-> token ids through stdin/stdout.
import type { Command } from "commander";
import { Tokenizer } from "../tokenizer/index.js";
import { readStdin } from "./args.js";

/** Parses a JSON array of token ids; the error says what was wrong and where. */
export function parseTokenIds(input: string): number[] {
  let value: unknown;
  try {
    value = JSON.parse(input);
  } catch (err) {
    throw new Error(`detokenize: stdin is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value)) throw new Error("detokenize: expected a JSON array of token ids on stdin");
  return value.map((v: unknown, i: number) => {
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw new Error(`detokenize: element ${i} is not an integer token id: ${JSON.stringify(v)}`);
    }
    return v;
  });
}

export function registerTokenizeCommands(program: Command): void {
  program
    .command("tokenize")
    .description("encode text from stdin (all of it, as UTF-8) and print the token ids as a JSON array")
    .requiredOption("--tokenizer <file|dir>", "tokenizer.model, tokenizer.json, or a directory holding one")
    .option("--allow-special", "turn special-token strings such as <|eot|> into their ids", false)
    .action(async (opts: { tokenizer: string; allowSpecial: boolean }) => {
      const tokenizer = Tokenizer.load(opts.tokenizer);
      const text = (await readStdin()).toString("utf8");
      process.stdout.write(JSON.stringify(tokenizer.encode(text, { allowSpecial: opts.allowSpecial })) + "\n");
    });

  program
    .command("detokenize")
    .description("decode a JSON array of token ids from stdin and print the text")
    .requiredOption("--tokenizer <file|dir>", "tokenizer.model, tokenizer.json, or a directory holding one")
    .action(async (opts: { tokenizer: string }) => {
      const tokenizer = Tokenizer.load(opts.tokenizer);
      const ids = parseTokenIds((await readStdin()).toString("utf8"));
      process.stdout.write(tokenizer.decode(ids));
    });
}
