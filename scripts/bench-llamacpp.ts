// `npm run bench:llamacpp -- --model x.gguf [--prompt-tokens 512 --gen-tokens 128 --threads 2 --runs 3]`:
// llama4.ts and llama.cpp (node-llama-cpp 3.21.1) on the same GGUF, same threads and token
// counts, each in fresh processes, alternating; prints medians and the llama4.ts/llama.cpp ratios.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const o = new Command()
  .requiredOption("--model <gguf>")
  .option("--prompt-tokens <n>", "", "512")
  .option("--gen-tokens <n>", "", "128")
  .option("--threads <n>", "", String(availableParallelism()))
  .option("--runs <n>", "", "3")
  .option("--json", "one JSON line")
  .parse()
  .opts<{ model: string; promptTokens: string; genTokens: string; threads: string; runs: string; json?: boolean }>();

type Result = Record<string, number | string>;
function run(cmd: string[], label: string): Result {
  const r = spawnSync(process.execPath, cmd, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Result;
}

const ours: Result[] = [];
const theirs: Result[] = [];
for (let i = 0; i < Number(o.runs); i++) {
  ours.push(run(["--import", "tsx", join(root, "src/cli/main.ts"), "bench", "--model", o.model, "--prompt-tokens", o.promptTokens,
    "--gen-tokens", o.genTokens, "--threads", o.threads, "--json"], "llama4 bench"));
  theirs.push(run([join(root, "scripts/llamacpp-probe.mjs"), o.model, o.promptTokens, o.genTokens, o.threads], "llama.cpp"));
}
const median = (rs: Result[], k: string) => {
  const v = rs.map((r) => Number(r[k])).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};
const keys = ["load_s", "prompt_tok_s", "decode_tok_s", "peak_rss_mb"] as const;
const summary = Object.fromEntries(keys.map((k) => [k, { llama4ts: median(ours, k), llamacpp: median(theirs, k), ratio: median(ours, k) / median(theirs, k) }]));
if (o.json) {
  process.stdout.write(JSON.stringify({ model: o.model, threads: Number(o.threads), runs: Number(o.runs), kernels: ours[0]!.kernels, ...summary }) + "\n");
} else {
  process.stdout.write(`model ${o.model}, ${o.threads} threads, ${o.promptTokens} prompt + ${o.genTokens} generated tokens, median of ${o.runs} fresh processes\n`);
  process.stdout.write(`${"".padEnd(14)}${"llama4.ts".padStart(12)}${"llama.cpp".padStart(12)}${"ratio".padStart(9)}\n`);
  for (const k of keys) {
    const s = summary[k]!;
    process.stdout.write(`${k.padEnd(14)}${s.llama4ts.toFixed(2).padStart(12)}${s.llamacpp.toFixed(2).padStart(12)}${s.ratio.toFixed(3).padStart(9)}\n`);
  }
  process.stdout.write("(ratio = llama4.ts / llama.cpp: above 1 is better for tok/s, below 1 is better for load_s and peak_rss_mb)\n");
}
