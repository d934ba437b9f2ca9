// Matvec (T = 1) throughput of the WASM SIMD kernels vs the plain-TS reference, for every
// weight dtype, on the benchmark model's lm_head (202048 × 1024) and a 1024 × 1024 matrix,
// plus a prefill-sized call (T = 64 tokens) on the 1024 × 1024 matrix.
// Usage: npx tsx scripts/bench-kernels.ts [--seconds S] [--dtypes f32,q8_0,...] [--shapes lm_head,1024,1024@64]
// Reports weight bytes streamed per second (GB/s, 1e9; weights are read once per call) and
// GFLOP/s (2·O·I·T per call) from the median of repeated calls after warm-up, and the best
// call's GB/s; 1- and 2-thread calls alternate in short blocks. Weights are random but valid
// (finite, normal scales); the reference runs fewer calls on the big matrix.
import { randomFillSync } from "node:crypto";
import { availableParallelism, cpus, loadavg } from "node:os";
import { createFastKernels } from "../src/kernels/fast.js";
import { WasmArena } from "../src/kernels/wasm/arena.js";
import { matmul as refMatmul } from "../src/kernels/ref/ops.js";
import type { Matrix, WeightDType } from "../src/kernels/matrix.js";
import { QUANT_FORMATS, isQuantDType } from "../src/kernels/quant/index.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const seconds = Number(arg("--seconds") ?? 1.5);
const DTYPES = (arg("--dtypes") ?? "f32,f16,bf16,q8_0,q4_0,q4_k,q5_k,q6_k").split(",") as WeightDType[];
const SHAPES = (arg("--shapes") ?? "lm_head,1024,1024@64").split(",").map((s) => {
  const [size, tokens] = s.split("@");
  const T = Number(tokens ?? 1);
  const suffix = T > 1 ? ` T=${T}` : "";
  return size === "lm_head"
    ? { name: `202048×1024${suffix}`, rows: 202048, cols: 1024, T }
    : { name: `${size}×${size}${suffix}`, rows: Number(size), cols: Number(size), T };
});

/** Random finite weights straight into `m.data`: floats of magnitude 0.5..1, blocks with small normal f16 scales. */
function fillRandom(m: Matrix): void {
  const bytes = new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const chunk = 1 << 16;
  for (let o = 0; o < bytes.length; o += chunk) randomFillSync(bytes.subarray(o, Math.min(bytes.length, o + chunk)));
  if (m.dtype === "f32") {
    const u = new Uint32Array(m.data.buffer, m.data.byteOffset, m.data.length);
    for (let i = 0; i < u.length; i++) u[i] = (u[i]! & 0x807fffff) | 0x3f000000;
  } else if (m.dtype === "f16" || m.dtype === "bf16") {
    const u = m.data as Uint16Array;
    const [keep, set] = m.dtype === "f16" ? [0x83ff, 0x3800] : [0x807f, 0x3f00];
    for (let i = 0; i < u.length; i++) u[i] = (u[i]! & keep) | set;
  } else if (isQuantDType(m.dtype)) {
    const { blockBytes } = QUANT_FORMATS[m.dtype];
    // f16 scales (d, and dmin for Q4_K/Q5_K) → 2^-7 and 2^-9: normal, small.
    const scaleAt = m.dtype === "q6_k" ? [208] : m.dtype === "q4_k" || m.dtype === "q5_k" ? [0, 2] : [0];
    for (let b = 0; b < bytes.length; b += blockBytes) {
      for (const s of scaleAt) {
        bytes[b + s] = 0;
        bytes[b + s + 1] = s === 2 ? 0x18 : 0x20;
      }
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * ms per call of each runner: `warm` calls each, then rounds in which every runner makes
 * `block` calls in turn (the first of each block is not counted: it may wake sleeping
 * workers), so a burst of load from other processes hits all runners alike; at least
 * `minRounds` rounds or `budget` seconds. Returns each runner's median and best.
 */
function time(runs: (() => void)[], warm: number, minRounds: number, budget: number, block = 4): { median: number; best: number }[] {
  for (const run of runs) for (let i = 0; i < warm; i++) run();
  const ts: number[][] = runs.map(() => []);
  const end = performance.now() + budget * 1000;
  for (let round = 0; round < minRounds || (performance.now() < end && round < 500); round++) {
    runs.forEach((run, i) => {
      for (let b = 0; b < block; b++) {
        const t0 = performance.now();
        run();
        if (b > 0 || block === 1) ts[i]!.push(performance.now() - t0);
      }
    });
  }
  return ts.map((t) => ({ median: median(t), best: Math.min(...t) }));
}

const arena = new WasmArena({ scratchBytes: 8 << 20 });
const one = createFastKernels({ threads: 1, arena });
const two = createFastKernels({ threads: 2, arena });
await two.ready();

console.log(`# ${new Date().toISOString()}  node ${process.version}  ${cpus()[0]?.model ?? "?"} × ${availableParallelism()}  loadavg ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
const rows: string[][] = [];
const header = [
  "shape", "dtype", "MB", "ref ms", "wasm×1 ms", "GB/s", "best", "GFLOP/s", "wasm×2 ms", "GB/s", "best", "GFLOP/s", "×2 vs ref", "×2 vs ×1",
];
for (const shape of SHAPES) {
  for (const dtype of DTYPES) {
    const w = arena.allocMatrix(dtype, shape.rows, shape.cols);
    fillRandom(w);
    const T = shape.T;
    const x = Float32Array.from({ length: T * shape.cols }, () => Math.random() * 2 - 1);
    const y = new Float32Array(T * shape.rows);
    const big = T * shape.rows * shape.cols > 1e7;
    const [ref] = time([() => refMatmul(y, x, w, T)], big ? 0 : 2, big ? 1 : 5, big ? 0 : seconds / 3, 1);
    const [w1, w2] = time([() => one.matmul(y, x, w, T), () => two.matmul(y, x, w, T)], 5, 4, 2 * seconds, big ? 4 : 16);
    const mb = w.data.byteLength / 1e6;
    const flop = 2 * shape.rows * shape.cols * T;
    const gbs = (ms: number): string => (mb / ms).toFixed(2);
    const gflops = (ms: number): string => (flop / ms / 1e6).toFixed(1);
    const row = [
      shape.name, dtype, mb.toFixed(1), ref!.median.toFixed(1),
      w1!.median.toFixed(2), gbs(w1!.median), gbs(w1!.best), gflops(w1!.median),
      w2!.median.toFixed(2), gbs(w2!.median), gbs(w2!.best), gflops(w2!.median),
      `${(ref!.median / w2!.median).toFixed(1)}x`, `${(w1!.median / w2!.median).toFixed(2)}x`,
    ];
    rows.push(row);
    console.log(row.join("\t"));
  }
}
await one.close();
await two.close();

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log();
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
console.log(`\nworker chunks (2 threads): ${two.pool.workerChunks}; loadavg after ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
