// y[t, o] = Σ_i x[t, i] · W[o, i] for o in [r0, r1), W stored as f32, f16 or bf16 and widened
// in-register. y: f32 [T, O]; W: [O, I] row-major; x: f32 [T, I], for f16/bf16 in
// "pair-split" order (see pair_split): 8 packed halves split into their even and odd
// elements in two instructions, so x is stored to match instead of shuffling weights.
// Four activation rows share each weight load (prefill); each output is computed by the
// same sequence of operations whether it falls in a 4-row tile or the 1-row tail, so the
// result does not depend on T, on the row range or on the thread that computes it.
import { evenHalvesToF32, halfToF32, hsum, oddHalvesToF32, pin } from "./common";

const F32: i32 = 0;
const F16: i32 = 1;
const BF16: i32 = 2;

/**
 * x rows of I values → the order the f16/bf16 kernels read: each full group of 8 values
 * v0..v7 becomes v0 v2 v4 v6 v1 v3 v5 v7; the last I mod 8 values stay in place.
 */
export function pair_split(src: usize, dst: usize, T: i32, I: i32): void {
  const I8 = I & ~7;
  for (let t = 0; t < T; t++) {
    const s = src + ((<usize>t * I) << 2);
    const d = dst + ((<usize>t * I) << 2);
    let i = 0;
    for (; i < I8; i += 8) {
      const o = <usize>i << 2;
      const a = v128.load(s + o);
      const b = v128.load(s + o, 16);
      v128.store(d + o, i32x4.shuffle(a, b, 0, 2, 4, 6));
      v128.store(d + o, i32x4.shuffle(a, b, 1, 3, 5, 7), 16);
    }
    for (; i < I; i++) store<f32>(d + (<usize>i << 2), load<f32>(s + (<usize>i << 2)));
  }
}

/** Weights i..i+3 (f32), or the even halves of raw (the 8 halves at i), as f32x4. */
@inline function weightsA(kind: i32, exact: bool, wr: usize, i: i32, raw: v128): v128 {
  if (kind == F32) return v128.load(wr + (<usize>i << 2));
  return kind == BF16 ? i32x4.shl(raw, 16) : evenHalvesToF32(raw, exact);
}
/** Weights i+4..i+7 (f32), or the odd halves of raw. */
@inline function weightsB(kind: i32, exact: bool, wr: usize, i: i32, raw: v128): v128 {
  if (kind == F32) return v128.load(wr + (<usize>i << 2), 16);
  return kind == BF16 ? v128.and(raw, i32x4.splat(0xffff0000)) : oddHalvesToF32(raw, exact);
}
@inline function weightAt(kind: i32, wr: usize, i: i32): f32 {
  if (kind == F32) return load<f32>(wr + (<usize>i << 2));
  const h = <u32>load<u16>(wr + (<usize>i << 1));
  return kind == BF16 ? reinterpret<f32>(h << 16) : halfToF32(h);
}

@inline function mulAdd(acc: v128, w: v128, x: usize): v128 {
  return f32x4.add(acc, f32x4.mul(w, v128.load(x)));
}

/**
 * One weight row against N = 4 or 1 activation rows (x0, x0 + xRow, …), outputs stored at
 * yo, yo + yRow, …. For f16 rows converted without `exact`, returns whether the row holds
 * a half with exponent 31 (infinity or NaN), in which case the caller recomputes it exactly.
 */
@inline function rowTile(kind: i32, exact: bool, N: i32, wr: usize, x0: usize, xRow: usize, I: i32, yo: usize, yRow: usize, slot: usize): bool {
  const I8 = I & ~7;
  const x1 = x0 + xRow, x2 = x1 + xRow, x3 = x2 + xRow;
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  let top = i16x8.splat(0); // the largest |half| seen, for the exponent-31 check
  let i = 0;
  for (; i < I8; i += 8) {
    let raw = i16x8.splat(0);
    if (kind != F32) raw = v128.load(wr + (<usize>i << 1));
    if (kind == F16 && !exact) top = i16x8.max_u(top, v128.and(raw, i16x8.splat(0x7fff)));
    const wa = weightsA(kind, exact, wr, i, raw);
    const wb = weightsB(kind, exact, wr, i, raw);
    const xo = <usize>i << 2;
    a0 = mulAdd(a0, wa, x0 + xo);
    b0 = mulAdd(b0, wb, x0 + xo + 16);
    if (N == 4) {
      pin(slot, b0); // keeps the next row's loads after this row's arithmetic (common.ts)
      a1 = mulAdd(a1, wa, x1 + xo); b1 = mulAdd(b1, wb, x1 + xo + 16);
      pin(slot, b1);
      a2 = mulAdd(a2, wa, x2 + xo); b2 = mulAdd(b2, wb, x2 + xo + 16);
      pin(slot, b2);
      a3 = mulAdd(a3, wa, x3 + xo); b3 = mulAdd(b3, wb, x3 + xo + 16);
    }
  }
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (; i < I; i++) {
    const wv = weightAt(kind, wr, i); // exact for every kind
    const xo = <usize>i << 2;
    s0 += wv * load<f32>(x0 + xo);
    if (N == 4) {
      s1 += wv * load<f32>(x1 + xo);
      s2 += wv * load<f32>(x2 + xo);
      s3 += wv * load<f32>(x3 + xo);
    }
  }
  store<f32>(yo, hsum(f32x4.add(a0, b0)) + s0);
  if (N == 4) {
    store<f32>(yo + yRow, hsum(f32x4.add(a1, b1)) + s1);
    store<f32>(yo + 2 * yRow, hsum(f32x4.add(a2, b2)) + s2);
    store<f32>(yo + 3 * yRow, hsum(f32x4.add(a3, b3)) + s3);
  }
  return kind == F16 && !exact && v128.any_true(i16x8.ge_u(top, i16x8.splat(0x7c00)));
}

/**
 * One activation row (x0) against four weight rows w0 + k·step (k < 4), outputs at
 * y0 + k·yStep: decode keeps four weight streams in flight per thread this way (one stream
 * from DRAM per core is latency-bound). Each output is computed as rowTile(N = 1) computes
 * it; returns whether any f16 row holds an exponent-31 half (the caller then recomputes all
 * four exactly).
 */
@inline function rowQuad(kind: i32, exact: bool, w0: usize, step: usize, x0: usize, I: i32, y0: usize, yStep: usize): bool {
  const I8 = I & ~7;
  const w1 = w0 + step, w2 = w1 + step, w3 = w2 + step;
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  let top = i16x8.splat(0);
  const mag = i16x8.splat(0x7fff);
  let i = 0;
  for (; i < I8; i += 8) {
    const xo = <usize>i << 2;
    let r0 = i16x8.splat(0), r1 = i16x8.splat(0), r2 = i16x8.splat(0), r3 = i16x8.splat(0);
    if (kind != F32) {
      const wo = <usize>i << 1;
      r0 = v128.load(w0 + wo); r1 = v128.load(w1 + wo); r2 = v128.load(w2 + wo); r3 = v128.load(w3 + wo);
    }
    if (kind == F16 && !exact) {
      top = i16x8.max_u(top, i16x8.max_u(i16x8.max_u(v128.and(r0, mag), v128.and(r1, mag)), i16x8.max_u(v128.and(r2, mag), v128.and(r3, mag))));
    }
    a0 = mulAdd(a0, weightsA(kind, exact, w0, i, r0), x0 + xo);
    b0 = mulAdd(b0, weightsB(kind, exact, w0, i, r0), x0 + xo + 16);
    a1 = mulAdd(a1, weightsA(kind, exact, w1, i, r1), x0 + xo);
    b1 = mulAdd(b1, weightsB(kind, exact, w1, i, r1), x0 + xo + 16);
    a2 = mulAdd(a2, weightsA(kind, exact, w2, i, r2), x0 + xo);
    b2 = mulAdd(b2, weightsB(kind, exact, w2, i, r2), x0 + xo + 16);
    a3 = mulAdd(a3, weightsA(kind, exact, w3, i, r3), x0 + xo);
    b3 = mulAdd(b3, weightsB(kind, exact, w3, i, r3), x0 + xo + 16);
  }
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (; i < I; i++) {
    const xv = load<f32>(x0 + (<usize>i << 2));
    s0 += weightAt(kind, w0, i) * xv;
    s1 += weightAt(kind, w1, i) * xv;
    s2 += weightAt(kind, w2, i) * xv;
    s3 += weightAt(kind, w3, i) * xv;
  }
  store<f32>(y0, hsum(f32x4.add(a0, b0)) + s0);
  store<f32>(y0 + yStep, hsum(f32x4.add(a1, b1)) + s1);
  store<f32>(y0 + 2 * yStep, hsum(f32x4.add(a2, b2)) + s2);
  store<f32>(y0 + 3 * yStep, hsum(f32x4.add(a3, b3)) + s3);
  return kind == F16 && !exact && v128.any_true(i16x8.ge_u(top, i16x8.splat(0x7c00)));
}

@inline function rowsFloat(kind: i32, y: usize, x: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  const rowBytes = <usize>I << (kind == F32 ? 2 : 1);
  const xRow = <usize>I << 2;
  const yRow = <usize>O << 2;
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = x + <usize>t * xRow;
    for (let o = r0; o < r1; o++) {
      const wr = w + <usize>o * rowBytes;
      const yo = y + ((<usize>t * O + o) << 2);
      if (rowTile(kind, false, 4, wr, x0, xRow, I, yo, yRow, slot)) rowTile(kind, true, 4, wr, x0, xRow, I, yo, yRow, slot);
    }
  }
  for (; t < T; t++) {
    const x0 = x + <usize>t * xRow;
    const yt = y + ((<usize>t * O) << 2);
    // Rows o + k·part (k < 4) together (rowQuad), the rows left over one by one.
    const part = (r1 - r0) >> 2;
    const step = <usize>part * rowBytes, yStep = <usize>part << 2;
    for (let o = r0; o < r0 + part; o++) {
      const w0 = w + <usize>o * rowBytes, y0 = yt + (<usize>o << 2);
      if (rowQuad(kind, false, w0, step, x0, I, y0, yStep)) rowQuad(kind, true, w0, step, x0, I, y0, yStep);
    }
    for (let o = r0 + 4 * part; o < r1; o++) {
      const wr = w + <usize>o * rowBytes;
      const yo = yt + (<usize>o << 2);
      if (rowTile(kind, false, 1, wr, x0, xRow, I, yo, yRow, slot)) rowTile(kind, true, 1, wr, x0, xRow, I, yo, yRow, slot);
    }
  }
}

export function matmul_f32(y: usize, x: usize, xs: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  rowsFloat(F32, y, x, w, T, I, O, r0, r1, slot);
}
/** x in pair-split order. */
export function matmul_f16(y: usize, x: usize, xs: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  rowsFloat(F16, y, x, w, T, I, O, r0, r1, slot);
}
/** x in pair-split order. */
export function matmul_bf16(y: usize, x: usize, xs: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  rowsFloat(BF16, y, x, w, T, I, O, r0, r1, slot);
}
