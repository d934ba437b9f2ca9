// `npx tsx scripts/kl-divergence.ts --reference <bf16/f32 gguf> --model <quantized gguf> [--positions 256]`:
// how far a quantized file's next-token distributions are from the reference's, over a
// pseudo-random token sequence, in llama4.ts and in llama.cpp (node-llama-cpp) on the SAME
// two files: mean and max KL(P_ref || P_quant) and top-1 agreement for each engine.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { openModel } from "../src/runtime/load.js";
import { evalLogits } from "../src/runtime/generate.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const o = new Command()
  .requiredOption("--reference <gguf>")
  .requiredOption("--model <gguf>")
  .option("--positions <n>", "", "256")
  .option("--json")
  .parse()
  .opts<{ reference: string; model: string; positions: string; json?: boolean }>();

const T = Number(o.positions);
const tokens = [200000, ...Array.from({ length: T - 1 }, (_, i) => (i * 7919 + 13) % 200000)];

/** log-softmax of each row of logits [T, V], in place. */
function logSoftmax(l: Float32Array, V: number): Float32Array {
  for (let t = 0; t < l.length / V; t++) {
    const row = l.subarray(t * V, (t + 1) * V);
    let max = -Infinity;
    for (const x of row) if (x > max) max = x;
    let s = 0;
    for (const x of row) s += Math.exp(x - max);
    const lse = max + Math.log(s);
    for (let i = 0; i < V; i++) row[i] = row[i]! - lse;
  }
  return l;
}

function compare(ref: Float32Array, q: Float32Array, V: number) {
  let sum = 0, max = 0, agree = 0;
  for (let t = 0; t < T; t++) {
    let kl = 0, ar = 0, aq = 0;
    for (let i = 0; i < V; i++) {
      const lp = ref[t * V + i]!, lq = q[t * V + i]!;
      if (lp > -Infinity) kl += Math.exp(lp) * (lp - (lq > -Infinity ? lq : -100));
      if (lp > ref[t * V + ar]!) ar = i;
      if (lq > q[t * V + aq]!) aq = i;
    }
    sum += kl;
    max = Math.max(max, kl);
    if (ar === aq) agree++;
  }
  return { mean_kl: sum / T, max_kl: max, top1_agreement: agree / T };
}

function ours(path: string): { logp: Float32Array; V: number } {
  const { model } = openModel(path);
  const V = model.config.vocabSize;
  return { logp: logSoftmax(evalLogits(model, tokens), V), V };
}

function llamacpp(path: string, V: number): Float32Array {
  const out = join(tmpdir(), `llama4-kl-${process.pid}.f32`);
  const r = spawnSync(process.execPath, [join(root, "scripts/llamacpp-probs.mjs"), path, tokens.join(","), out], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`llama.cpp failed: ${r.stderr.slice(-2000)}`);
  const buf = readFileSync(out);
  rmSync(out);
  const a = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (a.length !== T * V) throw new Error(`llama.cpp gave ${a.length} values, expected ${T * V}`);
  return a;
}

const r = ours(o.reference);
const q = ours(o.model);
const oursResult = compare(r.logp, q.logp, r.V);
const lr = llamacpp(o.reference, r.V);
const lq = llamacpp(o.model, r.V);
const theirs = compare(lr, lq, r.V);
const cross = compare(lr, r.logp, r.V); // the two engines on the reference file
const result = { reference: o.reference, model: o.model, positions: T, llama4ts: oursResult, llamacpp: theirs, reference_llamacpp_vs_llama4ts: cross };
process.stdout.write(o.json ? JSON.stringify(result) + "\n" : JSON.stringify(result, null, 2) + "\n");
