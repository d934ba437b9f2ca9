// The default model `llama4 run` / `llama4 chat` use when no --model is given: a small
// Scout-shaped checkpoint with random weights and our own small tokenizer, made on first
// use in a cache folder. It proves the machinery end to end; its text is meaningless.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { synthCheckpoint } from "./synth.js";
import { writeDemoTokenizer } from "./demo-tokenizer.js";

export const DEMO_MODEL_NOTE = "demo model with RANDOM weights (no download needed): its replies are gibberish; pass --model <dir> for a real checkpoint";

export function defaultModelDir(): string {
  const home = process.env.LLAMA4_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "llama4.ts");
  return join(home, "demo-scout-v1");
}

/** Returns the demo model's folder, creating it (atomically, via a temp folder) if needed. */
export function ensureDemoModel(dir = defaultModelDir(), log: (msg: string) => void = () => {}): string {
  if (existsSync(join(dir, "config.json"))) return dir;
  log(`creating the demo model in ${dir} (one time)…`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const { vocabSize, tokenizer } = writeDemoTokenizer(tmp);
  synthCheckpoint({
    preset: "scout",
    dtype: "bf16",
    seed: 42,
    out: tmp,
    overrides: { hidden: 256, layers: 8, heads: 8, kvHeads: 2, headDim: 32, experts: 16, expertHidden: 512, vocab: vocabSize, chunk: 256 },
  });
  // Point the config's special ids at this tokenizer's (the preset carries Llama 4's real ones).
  const configPath = join(tmp, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as { text_config: Record<string, unknown> };
  config.text_config.bos_token_id = tokenizer.tokenId("<|begin_of_text|>");
  config.text_config.eos_token_id = ["<|end_of_text|>", "<|eom|>", "<|eot|>"].map((n) => tokenizer.tokenId(n));
  config.text_config.pad_token_id = tokenizer.tokenId("<|finetune_right_pad|>");
  writeFileSync(configPath, JSON.stringify(config, null, 2) + "\n");
  writeFileSync(join(tmp, "README.md"), `# llama4.ts demo model\n\n${DEMO_MODEL_NOTE}.\n`);
  mkdirSync(join(dir, ".."), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
