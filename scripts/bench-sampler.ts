// Microbenchmark of sampling at the Llama 4 vocabulary (202048 logits): µs per draw for the
// common settings, on a flat distribution (random-weight models) and a peaked one (trained
// models), plus the logprobs computation the server does per token when asked.
//   npx tsx scripts/bench-sampler.ts [path/to/other/sampler.ts]
// With a path, that implementation is timed too, interleaved with this one (same process,
// same logits), e.g. a copy of an older sampler.ts for before/after numbers.
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { Rng } from "../src/runtime/rng.js";
import { logprobsOf } from "../src/runtime/generator.js";
import type { Sampler as SamplerClass, SamplingParams } from "../src/runtime/sampler.js";

const V = 202048;
const { Sampler } = (await import("../src/runtime/sampler.js")) as { Sampler: typeof SamplerClass };
const other = process.argv[2] ? ((await import(pathToFileURL(resolve(process.argv[2])).href)) as { Sampler: typeof SamplerClass }).Sampler : undefined;

function gaussian(rng: Rng): number {
  const u = 1 - rng.next(), v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function makeLogits(kind: "flat" | "peaked", seed: number): Float32Array {
  const rng = new Rng(seed);
  const l = new Float32Array(V);
  for (let i = 0; i < V; i++) l[i] = kind === "flat" ? gaussian(rng) : 2.5 * gaussian(rng);
  if (kind === "peaked") for (let k = 0; k < 8; k++) l[Math.floor(rng.next() * V)] = 18 + 2 * k;
  return l;
}

const cases: [string, SamplingParams][] = [
  ["greedy", { temperature: 0 }],
  ["T=0.8", { temperature: 0.8 }],
  ["T=0.8 top_p=0.9", { temperature: 0.8, topP: 0.9 }],
  ["T=0.8 top_k=40", { temperature: 0.8, topK: 40 }],
  ["T=0.8 min_p=0.05", { temperature: 0.8, minP: 0.05 }],
  ["T=0.8 +presence", { temperature: 0.8, presencePenalty: 0.5 }],
];

function time(fn: () => void, minMs = 300): number {
  for (let i = 0; i < 5; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    fn();
    n++;
    t = performance.now();
  }
  return ((t - t0) / n) * 1000;
}

for (const kind of ["flat", "peaked"] as const) {
  const sets = [0, 1, 2, 3].map((s) => makeLogits(kind, 100 + s));
  console.log(`\n${kind} logits (V=${V})`);
  for (const [name, params] of cases) {
    const timeOf = (S: typeof SamplerClass) => {
      const s = new S({ ...params, seed: 1 });
      s.observe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      let i = 0;
      return time(() => void s.sample(sets[i++ & 3]!));
    };
    const ours: number[] = [], theirs: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      if (other) theirs.push(timeOf(other));
      ours.push(timeOf(Sampler));
    }
    const best = (xs: number[]) => Math.min(...xs).toFixed(1).padStart(9);
    console.log(`  ${name.padEnd(20)} ${best(ours)} µs/draw${other ? `   (other: ${best(theirs)} µs/draw)` : ""}`);
  }
  for (const top of [0, 5, 20]) {
    let i = 0;
    const us = time(() => void logprobsOf(sets[i & 3]!, i++ % V, top));
    console.log(`  ${`logprobs top ${top}`.padEnd(20)} ${us.toFixed(1).padStart(8)} µs/token`);
  }
}
