// `npm start`: the main job on a fresh clone, with no download. Makes a small Scout-shaped
// checkpoint with random weights on first run (models/demo-scout), describes it, and
// generates from it through the same CLI a user would call.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const model = join(root, "models", "demo-scout");
const cli = (args: string[]) => {
  process.stderr.write(`$ llama4 ${args.join(" ")}\n`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

if (!existsSync(join(model, "config.json"))) {
  cli(["synth", "--preset", "scout", "--hidden", "256", "--layers", "8", "--heads", "8", "--kv-heads", "2", "--head-dim", "32",
    "--experts", "16", "--expert-hidden", "512", "--vocab", "32000", "--chunk", "64", "--dtype", "bf16", "--seed", "42", "--out", model]);
}
cli(["inspect", model]);
process.stderr.write("NOTE: this demo model has RANDOM weights: the tokens below are meaningless, the machinery is real.\n");
cli(["generate", "--model", model, "--tokens", "200000,1,2,3,4,5,6,7", "--max-tokens", "16", "--json"]);
