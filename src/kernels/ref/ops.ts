// Plain TypeScript kernels: the oracle every fast kernel is tested against, and the
// path used where no fast kernel exists. Sums accumulate in float64 (JS numbers), which is
// at least as accurate as the fp32 accumulation of the reference implementations.
import type { Matrix } from "../matrix.js";
import { isQuantized, readRow } from "../matrix.js";
import { widenRow } from "../dtype.js";
import { dequantizeRow, quantRowBytes } from "../quant/index.js";

/**
 * y[T, O] = x[T, I] · Wᵀ, with W [O, I] in nn.Linear orientation. f16/bf16 rows are widened
 * and quantized rows dequantized into one scratch row, once per output feature.
 */
export function matmul(y: Float32Array, x: Float32Array, w: Matrix, T: number): void {
  const O = w.rows;
  const I = w.cols;
  if (x.length < T * I || y.length < T * O) {
    throw new Error(`matmul: x needs ${T * I} and y ${T * O} values, got ${x.length} and ${y.length}`);
  }
  const row = w.dtype === "f32" ? undefined : new Float32Array(I);
  const quant = isQuantized(w) ? w : undefined;
  const float = isQuantized(w) ? undefined : w;
  const rowBytes = quant ? quantRowBytes(quant.dtype, I) : 0;
  for (let o = 0; o < O; o++) {
    let wr: Float32Array;
    let base: number;
    if (quant) {
      dequantizeRow(quant.dtype, quant.data, o * rowBytes, row!, I);
      wr = row!;
      base = 0;
    } else if (row) {
      widenRow(float!.dtype, float!.data, o * I, row, I);
      wr = row;
      base = 0;
    } else {
      wr = w.data as Float32Array;
      base = o * I;
    }
    for (let t = 0; t < T; t++) {
      const xo = t * I;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let i = 0;
      for (; i + 3 < I; i += 4) {
        s0 += x[xo + i]! * wr[base + i]!;
        s1 += x[xo + i + 1]! * wr[base + i + 1]!;
        s2 += x[xo + i + 2]! * wr[base + i + 2]!;
        s3 += x[xo + i + 3]! * wr[base + i + 3]!;
      }
      for (; i < I; i++) s0 += x[xo + i]! * wr[base + i]!;
      y[t * O + o] = s0 + s1 + s2 + s3;
    }
  }
}

/** Row `r` of an embedding table, widened to f32. */
export function embeddingRow(out: Float32Array, table: Matrix, r: number): void {
  if (!Number.isInteger(r) || r < 0 || r >= table.rows) throw new RangeError(`token id ${r} is outside 0..${table.rows - 1}`);
  readRow(table, r, out);
}

/** out[t] = x[t] / rms(x[t]) · w, over T rows of width D. `w` may be omitted (weightless norm). */
export function rmsNorm(out: Float32Array, x: Float32Array, w: Float32Array | null, eps: number, T: number, D: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[o + i]! * x[o + i]!;
    // Rounded to f32 like torch's fp32 statistics.
    const r = Math.fround(1 / Math.sqrt(Math.fround(ss / D) + eps));
    if (w) for (let i = 0; i < D; i++) out[o + i] = Math.fround(x[o + i]! * r) * w[i]!;
    else for (let i = 0; i < D; i++) out[o + i] = x[o + i]! * r;
  }
}

export function silu(a: number): number {
  return a / (1 + Math.exp(-a));
}

export function sigmoid(a: number): number {
  return 1 / (1 + Math.exp(-a));
}

/** h[i] += y[i] for i < n (the residual stream). */
export function addInPlace(h: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) h[i] = h[i]! + y[i]!;
}

/** Rows of D floats: dst[r] = scales[r] · src[rows[r]] for r < n. */
export function gatherRows(dst: Float32Array, src: Float32Array, rows: Int32Array, scales: Float32Array, n: number, D: number): void {
  for (let r = 0; r < n; r++) {
    const s = rows[r]! * D;
    const g = scales[r]!;
    for (let c = 0; c < D; c++) dst[r * D + c] = g * src[s + c]!;
  }
}

/** Rows of D floats: dst[rows[r]] += src[r] for r < n, in order. */
export function scatterAddRows(dst: Float32Array, src: Float32Array, rows: Int32Array, n: number, D: number): void {
  for (let r = 0; r < n; r++) {
    const d = rows[r]! * D;
    for (let c = 0; c < D; c++) dst[d + c] = dst[d + c]! + src[r * D + c]!;
  }
}

/** h[i] = silu(gate[i]) · up[i], in place in `gate`. */
export function swigluInPlace(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) gate[i] = silu(gate[i]!) * up[i]!;
}

/** In-place softmax over v[0..n), subtracting the max first. */
export function softmaxInPlace(v: Float32Array, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (v[i]! > max) max = v[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(v[i]! - max);
    v[i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) v[i] = v[i]! * inv;
}

/**
 * RoPE on adjacent pairs (2m, 2m+1) of every head, in place. x: [T, nHeads, d];
 * cos/sin: [T, d/2] for the rows' absolute positions.
 */
export function ropeInterleaved(x: Float32Array, cos: Float32Array, sin: Float32Array, T: number, nHeads: number, d: number): void {
  const half = d / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHeads; h++) {
      const o = (t * nHeads + h) * d;
      for (let m = 0; m < half; m++) {
        const c = cos[t * half + m]!;
        const s = sin[t * half + m]!;
        const a = x[o + 2 * m]!;
        const b = x[o + 2 * m + 1]!;
        x[o + 2 * m] = a * c - b * s;
        x[o + 2 * m + 1] = a * s + b * c;
      }
    }
  }
}

export function argmax(v: Float32Array, offset = 0, n = v.length - offset): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = v[offset + i]!;
    if (x > bestV) {
      bestV = x;
      best = i;
    }
  }
  return best;
}
