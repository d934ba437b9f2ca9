// Every WASM kernel against the plain-TS reference on random, ragged shapes.
//   f32/f16/bf16 weights: |wasm − ref| ≤ 1e-5 · Σ_i |x_i·w_i| (f32 vs f64 accumulation).
//   Quantized weights: activations are quantized to 8 bits first (llama.cpp's scheme), so
//   (a) against an oracle with llama.cpp's semantics — dequantized weights times the
//       activations quantized and dequantized by ggml's rules, summed in f64 — the same
//       1e-5 · Σ|terms| bound holds; and
//   (b) against the f32 reference the difference is the activation-quantization error,
//       measured over all outputs of a dtype relative to rms(ref): rms error < 1% and max
//       error < 5% asserted (observed: see the test's diagnostics and docs/kernels.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createFastKernels, type FastKernels } from "../fast.js";
import { addInPlace, gatherRows, matmul as refMatmul, rmsNorm, ropeInterleaved, scatterAddRows, softmaxInPlace, swigluInPlace } from "../ref/ops.js";
import { matrix, quantizeMatrix, readRow, type Matrix, type WeightDType } from "../matrix.js";
import { f32ToBf16, f32ToF16 } from "../dtype.js";
import { dequantizeRows, quantizeRows } from "../quant/index.js";
import { compileKernelBuild, instantiateKernels, kernelModule } from "./module.js";
import { splitmix32 } from "../../synth/synth.js";

const f = Math.fround;
/** Round half to even of an f32 (|x| < 2^22), like ggml's nearest_int. */
const nearestInt = (x: number): number => f(x + 12582912) - 12582912;

function randomArray(rand: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}

/** A random [rows, cols] matrix stored as `dtype` (quantized with ggml's reference quantizers). */
export function randomMatrix(rand: () => number, dtype: WeightDType, rows: number, cols: number): Matrix {
  const src = randomArray(rand, rows * cols);
  if (dtype === "f32") return matrix("f32", rows, cols, src);
  if (dtype === "f16") return matrix("f16", rows, cols, Uint16Array.from(src, f32ToF16));
  if (dtype === "bf16") return matrix("bf16", rows, cols, Uint16Array.from(src, f32ToBf16));
  return quantizeMatrix(matrix("f32", rows, cols, src), dtype);
}

/** The same matrix with its data copied into the kernel set's arena. */
function inArena(k: FastKernels, m: Matrix): Matrix {
  const a = k.allocMatrix(m.dtype, m.rows, m.cols);
  (a.data as Uint8Array).set(m.data as Uint8Array);
  return a;
}

/** ggml's quantize_row_q8_K followed by dequantization: q·d per value. */
function q8kRoundTrip(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length; b += 256) {
    let amax = 0, max = 0;
    for (let j = 0; j < 256; j++) {
      if (Math.abs(x[b + j]!) > amax) {
        amax = Math.abs(x[b + j]!);
        max = x[b + j]!;
      }
    }
    if (amax === 0) continue;
    const iscale = f(-127 / max);
    const d = f(1 / iscale);
    for (let j = 0; j < 256; j++) out[b + j] = Math.min(127, nearestInt(f(iscale * x[b + j]!))) * d;
  }
  return out;
}

/** Activations as the quantized kernels see them. */
function activationsSeen(dtype: WeightDType, x: Float32Array, T: number, I: number): Float32Array {
  if (dtype === "q8_0" || dtype === "q4_0" || dtype === "q5_0") return dequantizeRows("q8_0", quantizeRows("q8_0", x, T, I), T, I);
  if (dtype === "q4_k" || dtype === "q5_k" || dtype === "q6_k") return q8kRoundTrip(x);
  return x;
}

/** y[t, o] = Σ_i w[o, i]·x[t, i] in f64, and Σ_i |w·x| for the tolerance. */
function oracle(w: Matrix, x: Float32Array, T: number): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(T * w.rows);
  const mag = new Float64Array(T * w.rows);
  const row = new Float32Array(w.cols);
  for (let o = 0; o < w.rows; o++) {
    readRow(w, o, row);
    for (let t = 0; t < T; t++) {
      let s = 0, a = 0;
      for (let i = 0; i < w.cols; i++) {
        const p = row[i]! * x[t * w.cols + i]!;
        s += p;
        a += Math.abs(p);
      }
      y[t * w.rows + o] = s;
      mag[t * w.rows + o] = a;
    }
  }
  return { y, mag };
}

const FLOAT: readonly WeightDType[] = ["f32", "f16", "bf16"];
const BLOCK32: readonly WeightDType[] = ["q8_0", "q4_0", "q5_0"];
const KQUANT: readonly WeightDType[] = ["q4_k", "q5_k", "q6_k"];

test("matmul: every dtype agrees with the reference (and with llama.cpp's semantics) on ragged shapes, T = 1..9", async (t) => {
  const k = createFastKernels({ threads: 2, arena: { scratchBytes: 4 << 20 } });
  const rand = splitmix32(41);
  const errors = new Map<WeightDType, { sq: number; refSq: number; max: number; n: number }>();
  try {
    const cases: [readonly WeightDType[], readonly number[]][] = [
      [FLOAT, [1, 5, 8, 33, 67, 256]],
      [BLOCK32, [32, 96, 512]],
      [KQUANT, [256, 768]],
    ];
    let T = 1;
    for (const [dtypes, widths] of cases) {
      for (const dtype of dtypes) {
        for (const I of widths) {
          for (const O of [1, 7, 37, 130]) {
            T = (T % 9) + 1;
            const m = randomMatrix(rand, dtype, O, I);
            const w = inArena(k, m);
            assert.ok(k.accelerates(w));
            const x = randomArray(rand, T * I, 3);
            if (T > 2) x.fill(0, I, 2 * I); // an all-zero activation row
            const y = new Float32Array(T * O);
            k.matmul(y, x, w, T);
            const { y: want, mag } = oracle(m, activationsSeen(dtype, x, T, I), T);
            for (let i = 0; i < y.length; i++) {
              assert.ok(Math.abs(y[i]! - want[i]!) <= 1e-5 * mag[i]! + 1e-30, `${dtype} [T ${T}, O ${O}, I ${I}] at ${i}: ${y[i]} vs ${want[i]}`);
            }
            if (dtypes !== FLOAT) {
              const ref = new Float32Array(T * O);
              refMatmul(ref, x, m, T);
              const e = errors.get(dtype) ?? { sq: 0, refSq: 0, max: 0, n: 0 };
              for (let i = 0; i < y.length; i++) {
                const d = Math.abs(y[i]! - ref[i]!);
                e.sq += d * d;
                e.refSq += ref[i]! ** 2;
                e.max = Math.max(e.max, d);
                e.n++;
              }
              errors.set(dtype, e);
            }
          }
        }
      }
    }
    for (const [dtype, e] of errors) {
      const rms = Math.sqrt(e.refSq / e.n);
      const rmsErr = Math.sqrt(e.sq / e.n) / rms;
      const maxErr = e.max / rms;
      t.diagnostic(`${dtype}: vs f32 reference, rms error ${(rmsErr * 100).toFixed(2)}% and max error ${(maxErr * 100).toFixed(2)}% of rms(y)`);
      assert.ok(rmsErr < 0.01 && maxErr < 0.05, `${dtype}: activation-quantization error rms ${rmsErr}, max ${maxErr}`);
    }
  } finally {
    await k.close();
  }
});

test("f16 and bf16 weights widen exactly: subnormals, signed zeros, infinities and NaN", async () => {
  const k = createFastKernels({ threads: 1 });
  // Every half bit pattern once, as a [8192, 8] f16 matrix; x = e_j picks column j.
  const all = k.allocMatrix("f16", 8192, 8);
  const bits = all.data as Uint16Array;
  for (let h = 0; h < 65536; h++) bits[h] = h;
  const bf = k.allocMatrix("bf16", 8192, 8);
  (bf.data as Uint16Array).set(bits);
  const T = 5; // a 4-row tile and a 1-row tail: row t of x is e_{(j + t) mod 8}
  for (const w of [all, bf]) {
    const ref = new Float32Array(8);
    for (let j = 0; j < 8; j++) {
      const x = new Float32Array(T * 8);
      for (let t = 0; t < T; t++) x[t * 8 + ((j + t) % 8)] = 1;
      const y = new Float32Array(T * 8192);
      k.matmul(y, x, w, T);
      for (let r = 0; r < 8192; r++) {
        readRow(w, r, ref);
        for (let t = 0; t < T; t++) {
          // x·w sums 1·w_c and seven 0·w_i: NaN where any weight of the row is NaN or infinite.
          let want = 0;
          for (let i = 0; i < 8; i++) want += x[t * 8 + i]! * ref[i]!;
          const got = y[t * 8192 + r]!;
          assert.ok(Object.is(got, Math.fround(want)) || (Number.isNaN(got) && Number.isNaN(want)), `${w.dtype} row ${r}, x row ${t}, j ${j}: ${got} vs ${want}`);
        }
      }
    }
  }
  await k.close();
});

test("matmul falls back to the reference for weights outside the arena, and checks sizes", async () => {
  const k = createFastKernels({ threads: 1 });
  const rand = splitmix32(3);
  const m = randomMatrix(rand, "q8_0", 5, 64);
  const x = randomArray(rand, 2 * 64);
  const a = new Float32Array(10), b = new Float32Array(10);
  assert.equal(k.accelerates(m), false);
  k.matmul(a, x, m, 2);
  refMatmul(b, x, m, 2);
  assert.deepEqual(a, b);
  assert.throws(() => k.matmul(new Float32Array(1), x, inArena(k, m), 2), /matmul: x needs/);
  await k.close();
});

test("activation quantizers reproduce ggml's Q8_0 bytes and Q8_K values exactly", async () => {
  const k = createFastKernels({ threads: 1 });
  const mem = k.arena.memories.length ? k.arena.memories[0]! : (k.alloc("u8", 1), k.arena.memories[0]!);
  const wasm = instantiateKernels(kernelModule(), mem.memory);
  const rand = splitmix32(9);
  const T = 5, I = 512; // one full 4-token tile and a tail token
  const x = k.alloc("f32", T * I);
  x.set(randomArray(rand, T * I, 5));
  x[7] = 0.5 * f(5 / 127) * 3; // near a rounding tie
  x.fill(0, I, I + 256); // a zero block (both layouts)
  // Exact rounding ties: a block (and a 256-value block) whose scale is 1, holding k + 0.5 for
  // both signs: roundf goes away from zero (Q8_0), nearest even for Q8_K.
  const ties = 2 * I + 256;
  for (let j = 0; j < 256; j++) x[ties + j] = (j % 2 ? -1 : 1) * ((j % 60) + 0.5);
  x[ties] = 127;
  x[ties + 32] = 127;
  x[ties + 64] = -127; // Q8_K keeps the sign of the first largest magnitude
  const q = k.alloc("u8", T * I * 2);
  const d = k.alloc("f32", (T * I) / 32);
  const sums = k.alloc("u8", ((T * I) / 16) * 2);
  const q16 = new Int16Array(q.buffer, q.byteOffset, T * I);
  const sums16 = new Int16Array(sums.buffer, sums.byteOffset, (T * I) / 16);

  wasm.quantize_q8_32(x.byteOffset, q.byteOffset, d.byteOffset, T, I);
  const ggml = quantizeRows("q8_0", x, T, I);
  const ggmlX = dequantizeRows("q8_0", ggml, T, I);
  for (let b = 0; b < (T * I) / 32; b++) {
    for (let j = 0; j < 32; j++) {
      // Each 16 values are stored evens first: value j sits at slot (j & 16) + (j odd ? 8 : 0) + ((j & 15) >> 1).
      const slot = b * 32 + (j & 16) + (j & 1 ? 8 : 0) + ((j & 15) >> 1);
      assert.equal(q16[slot], (ggml[b * 34 + 2 + j]! << 24) >> 24, `q8_0 block ${b} value ${j}`);
      // Scales of full 4-token tiles are stored [block][token].
      const t = Math.floor(b / (I / 32)), blk = b % (I / 32);
      const at = t < (T & ~3) ? (t & ~3) * (I / 32) + blk * 4 + (t & 3) : b;
      assert.equal(q16[slot]! * (d[at]! * 256), ggmlX[b * 32 + j], `q8_0 block ${b} value ${j} scaled`); // d is stored /256
    }
  }

  wasm.quantize_q8_k(x.byteOffset, q.byteOffset, d.byteOffset, sums.byteOffset, T, I);
  const want = q8kRoundTrip(x);
  // The relaxed-SIMD build keeps q8_k values as int8 in order, the other as int16 evens first per 16.
  const relaxed = wasm.relaxed_simd() === 1;
  const q8 = new Int8Array(q.buffer, q.byteOffset, T * I);
  const value = (i: number) => (relaxed ? q8[i]! : q16[(i & ~15) + (i & 1 ? 8 : 0) + ((i & 15) >> 1)]!);
  for (let i = 0; i < T * I; i++) {
    const t = Math.floor(i / I), blk = Math.floor((i % I) / 256), nbk = I / 256;
    const at = t < (T & ~3) ? (t & ~3) * nbk + blk * 4 + (t & 3) : t * nbk + blk;
    assert.equal(f(value(i) * d[at]!), want[i], `q8_k value ${i}`);
  }
  for (let s = 0; s < (T * I) / 16; s++) {
    let sum = 0;
    for (let j = 0; j < 16; j++) sum += value(s * 16 + j);
    assert.equal(sums16[s], sum, `q8_k sum ${s}`);
  }
  await k.close();
});

test("residual add and MoE row gather/scatter give the reference's bits, in the arena and out of it", async () => {
  const k = createFastKernels({ threads: 1 });
  const rand = splitmix32(23);
  const arenaCopy = (v: Float32Array): Float32Array => {
    const a = k.alloc("f32", v.length);
    a.set(v);
    return a;
  };
  for (const [T, D] of [[1, 7], [5, 64], [9, 1027]] as const) {
    const h = randomArray(rand, T * D, 3), y = randomArray(rand, T * D, 3);
    const want = Float32Array.from(h);
    addInPlace(want, y, T * D);
    const ah = arenaCopy(h);
    k.addInPlace(ah, arenaCopy(y), T * D);
    assert.deepEqual(Float32Array.from(ah), want, `add ${T}x${D}`);
    const plain = Float32Array.from(h);
    k.addInPlace(plain, y, T * D);
    assert.deepEqual(plain, want, `add ${T}x${D}, ordinary arrays`);

    // An expert's tokens (distinct, unordered) and gates; gather, then add back.
    const rows = Int32Array.from({ length: T }, (_, r) => (r * 7 + 3) % T).slice(0, Math.max(1, T - 2));
    const n = rows.length;
    const gates = randomArray(rand, n);
    const x = randomArray(rand, T * D, 2);
    const gathered = new Float32Array(n * D);
    gatherRows(gathered, x, rows, gates, n, D);
    const ag = k.alloc("f32", n * D);
    k.gatherRows(ag, arenaCopy(x), rows, gates, n, D);
    assert.deepEqual(Float32Array.from(ag), gathered, `gather ${T}x${D}`);
    const out = randomArray(rand, T * D);
    const summed = Float32Array.from(out);
    scatterAddRows(summed, gathered, rows, n, D);
    const ao = arenaCopy(out);
    k.scatterAddRows(ao, ag, rows, n, D);
    assert.deepEqual(Float32Array.from(ao), summed, `scatter ${T}x${D}`);
    assert.throws(() => k.gatherRows(ag, x, Int32Array.of(T), gates, 1, D), /row \d+ outside/);
  }
  await k.close();
});

test("the workspace hands out zeroed kernel memory in stack order, and ordinary arrays when full", async () => {
  const k = createFastKernels({ threads: 1, workspaceBytes: 4096 });
  const ws = k.workspace;
  const base = ws.mark();
  const a = ws.floats(10);
  a.fill(5);
  const top = ws.mark();
  const b = ws.floats(100);
  assert.ok(k.arena.locate(a) && k.arena.locate(b), "arena views");
  assert.equal(a.length, 10);
  assert.equal(b.byteOffset - a.byteOffset, 64, "64-byte steps");
  b.fill(3);
  ws.release(top);
  const c = ws.floats(100);
  assert.equal(c.byteOffset, b.byteOffset, "b's room is reused");
  assert.ok(c.every((v) => v === 0), "zeroed");
  const big = ws.floats(2000); // more than is left of 4096 bytes
  assert.equal(k.arena.locate(big), undefined, "an ordinary array");
  assert.throws(() => ws.release(top + 1000), /release to/);
  ws.release(base);
  assert.equal(ws.floats(1).byteOffset, a.byteOffset);
  await k.close();
  // Memories too small for the 64 MiB region: ordinary arrays throughout.
  const small = createFastKernels({ threads: 1, arena: { maxMemoryBytes: 1 << 20, scratchBytes: 64 << 10 } });
  const v = small.workspace.floats(10);
  assert.equal(small.arena.locate(v), undefined);
  assert.equal(v.length, 10);
  await small.close();
});

test("rmsNorm, softmax, swiglu, RoPE and attention helpers match the reference in the arena", async () => {
  const k = createFastKernels({ threads: 1 });
  const rand = splitmix32(17);
  const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void => {
    for (let i = 0; i < b.length; i++) {
      assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    }
  };
  const arenaCopy = (v: Float32Array): Float32Array => {
    const a = k.alloc("f32", v.length);
    a.set(v);
    return a;
  };
  for (const [T, D] of [[1, 7], [3, 64], [2, 1027]] as const) {
    const x = randomArray(rand, T * D, 4);
    const w = randomArray(rand, D);
    for (const weight of [w, null]) {
      const want = new Float32Array(T * D);
      rmsNorm(want, x, weight, 1e-5, T, D);
      const out = k.alloc("f32", T * D);
      k.rmsNorm(out, arenaCopy(x), weight ? arenaCopy(weight) : null, 1e-5, T, D);
      near(out, want, 1e-6, `rmsNorm ${T}x${D}`);
      const plain = new Float32Array(T * D); // ordinary arrays go through the scratch region
      k.rmsNorm(plain, x, weight, 1e-5, T, D);
      assert.deepEqual(plain, Float32Array.from(out), `rmsNorm ${T}x${D}, ordinary arrays`);
    }
    const v = randomArray(rand, D, 30);
    v[0] = -Infinity; // a masked score
    const sm = Float32Array.from(v);
    softmaxInPlace(sm, D);
    const av = arenaCopy(v);
    k.softmaxInPlace(av, D);
    near(av, sm, 1e-6, `softmax ${D}`);
    assert.equal(av[0], 0);

    const g = randomArray(rand, D, 12), u = randomArray(rand, D);
    const sw = Float32Array.from(g);
    swigluInPlace(sw, u, D);
    const ag = arenaCopy(g);
    k.swigluInPlace(ag, arenaCopy(u), D);
    near(ag, sw, 2e-6, `swiglu ${D}`);
    const plain = Float32Array.from(g); // ordinary arrays go through the scratch region
    k.swigluInPlace(plain, u, D);
    assert.deepEqual(plain, ag, `swiglu ${D}, ordinary arrays`);
  }
  for (const [T, H, d] of [[1, 1, 4], [3, 2, 64], [2, 3, 6]] as const) {
    const x = randomArray(rand, T * H * d);
    const ang = Float32Array.from({ length: (T * d) / 2 }, () => rand() * 100);
    const cos = ang.map(Math.cos), sin = ang.map(Math.sin);
    const want = Float32Array.from(x);
    ropeInterleaved(want, cos, sin, T, H, d);
    const ax = arenaCopy(x);
    k.ropeInterleaved(ax, arenaCopy(cos), arenaCopy(sin), T, H, d);
    near(ax, want, 1e-6, `rope ${T}x${H}x${d}`);
    const plain = Float32Array.from(x);
    k.ropeInterleaved(plain, cos, sin, T, H, d);
    assert.deepEqual(plain, Float32Array.from(ax), `rope ${T}x${H}x${d}, ordinary arrays`);
  }
  for (const [n, d, stride] of [[1, 64, 64], [37, 64, 512], [5, 13, 20]] as const) {
    const q = randomArray(rand, d), kv = randomArray(rand, (n - 1) * stride + d), p = randomArray(rand, n);
    const scores = new Float32Array(n), out = randomArray(rand, d);
    const aScores = k.alloc("f32", n), aOut = arenaCopy(out);
    k.attnScores(aScores, arenaCopy(q), arenaCopy(kv), stride, n, d, 0.125);
    k.attnScores(scores, q, kv, stride, n, d, 0.125); // the plain path
    near(aScores, scores, 1e-5, `attnScores ${n}x${d}`);
    k.attnAccumulate(aOut, arenaCopy(p), arenaCopy(kv), stride, n, d);
    k.attnAccumulate(out, p, kv, stride, n, d);
    near(aOut, out, 1e-5, `attnAccumulate ${n}x${d}`);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[i]! * kv[j * stride + i]!;
      assert.ok(Math.abs(scores[j]! - s * 0.125) < 1e-5, `plain attnScores ${j}`);
    }
  }
  await k.close();
});

test("quantized matmul gives each token the same bits alone or inside a tile of four or eight", async () => {
  // Batched decoding puts a sequence's token in a 4-token tile; alone it runs as T = 1.
  // Same request, same output, under load or not, needs these to agree exactly.
  const k = createFastKernels({ threads: 2, arena: { scratchBytes: 4 << 20 } });
  const rand = splitmix32(77);
  try {
    for (const dtype of [...BLOCK32, ...KQUANT]) {
      const I = 512, O = 37, T = 15; // a tile of eight, one of four, two tail tokens (a pair in the relaxed build), one alone
      const w = inArena(k, randomMatrix(rand, dtype, O, I));
      const x = randomArray(rand, T * I, 3);
      const tiled = new Float32Array(T * O);
      k.matmul(tiled, x, w, T);
      for (let t = 0; t < T; t++) {
        const alone = new Float32Array(O);
        k.matmul(alone, x.subarray(t * I, (t + 1) * I), w, 1);
        assert.deepEqual(alone, tiled.subarray(t * O, (t + 1) * O), `${dtype}: token ${t}`);
      }
    }
  } finally {
    await k.close();
  }
});

test("the relaxed-SIMD build's K-quant kernels give the SIMD build's bits", async (t) => {
  // kernels-relaxed.wasm multiplies bytes (i16x8.relaxed_dot_i8x16_i7x16_s) where kernels.wasm
  // widens to int16 first: the integer sums, and so every output bit, must be the same.
  const relaxedModule = compileKernelBuild("relaxed-simd");
  if (!relaxedModule) return t.skip("this engine does not run relaxed SIMD");
  const k = createFastKernels({ threads: 1 });
  try {
    const mem = (k.alloc("u8", 1), k.arena.memories[0]!);
    const builds = [instantiateKernels(compileKernelBuild("simd")!, mem.memory), instantiateKernels(relaxedModule, mem.memory)];
    assert.deepEqual(builds.map((b) => b.relaxed_simd()), [0, 1]);
    const rand = splitmix32(5);
    const kernels = { q4_k: "matmul_q4_k", q5_k: "matmul_q5_k", q6_k: "matmul_q6_k" } as const;
    for (const dtype of KQUANT) {
      for (const [T, I, O] of [[1, 256, 7], [2, 512, 9], [4, 512, 5], [6, 256, 4], [9, 768, 13], [15, 256, 3]] as const) {
        const w = inArena(k, randomMatrix(rand, dtype, O, I));
        const x = k.alloc("f32", T * I);
        x.set(randomArray(rand, T * I, 4));
        if (T > 2) x.fill(0, I, 2 * I); // an all-zero token
        const q = k.alloc("u8", T * I * 2), d = k.alloc("f32", (T * I) / 32), sums = k.alloc("u8", (T * I) / 8);
        const ys = builds.map((b) => {
          const y = k.alloc("f32", T * O);
          b.quantize_q8_k(x.byteOffset, q.byteOffset, d.byteOffset, sums.byteOffset, T, I);
          b[kernels[dtype as keyof typeof kernels]](y.byteOffset, q.byteOffset, d.byteOffset, sums.byteOffset, (w.data as Uint8Array).byteOffset, T, I, O, 0, O, 1024);
          return new Uint32Array(y.buffer, y.byteOffset, y.length).slice();
        });
        assert.ok(ys[0]!.some((v) => v !== 0), "outputs are not all zero");
        assert.deepEqual(ys[1], ys[0], `${dtype} [T ${T}, O ${O}, I ${I}]`);
      }
    }
  } finally {
    await k.close();
  }
});
