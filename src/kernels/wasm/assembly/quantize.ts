// Activations quantized on the fly to 8-bit integers, as llama.cpp does before an integer
// dot product with quantized weights. Values are stored widened to int16 so the matmul
// kernels feed them straight into i32x4.dot_i16x8_s.
//   q8_32 (for q8_0/q4_0/q5_0 weights): ggml's Q8_0 — per 32 values d = amax/127 stored as
//         f16, q = roundf(x / d) (half away from zero); each 16 values stored evens first
//         (x0 x2 … x14 x1 x3 … x15), the order the block32 kernels consume; d stored /256
//         (the kernels' weights come ×256); the scales of
//         each full 4-token tile stored [block][token] (the tail tokens' [token][block]).
//   q8_k  (for K-quant weights): ggml's Q8_K — per 256 values the signed value `max` of
//         largest magnitude gives iscale = −127/max, q = min(127, nearest_even(iscale·x)),
//         d = 1/iscale kept in f32; plus the sum of every 32 q's (for the K-quant mins).
// Layout for T rows of I values: q int16 [T, I], each 16 values evens first; d f32 [T, I/32]
// or [T, I/256], except that each full tile of 4 tokens stores its scales [block][token];
// sums int16 [T, I/16] (|sum| ≤ 16·127), as ggml's Q8_K bsums.
// The relaxed-SIMD build (kernels-relaxed.wasm) stores q8_k's q as int8 [T, I] in order
// instead: its K-quant kernels multiply bytes by bytes (i16x8.relaxed_dot_i8x16_i7x16_s).
import { f32ToHalfBits, halfToF32 } from "./common";

/** max |x[i]| over 8 vectors (32 values); NaN if any is NaN, as f32x4.max would give. */
@inline export function absMax8(x: usize): f32 {
  // pmax is one instruction (max is a NaN-propagating sequence): NaN is tracked apart.
  let v = v128.load(x);
  let m = f32x4.abs(v);
  let nan = f32x4.ne(v, v);
  for (let k: usize = 16; k < 128; k += 16) {
    v = v128.load(x + k);
    m = f32x4.pmax(m, f32x4.abs(v));
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  if (v128.any_true(nan)) return NaN;
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/**
 * Lanes holding integers of magnitude < 2^22, as int32: v + 1.5·2^23 is exact and keeps the
 * integer in its low mantissa bits (cheaper than i32x4.trunc_sat_f32x4_s's saturation code).
 * For any other value, v + 1.5·2^23 rounds v to the nearest integer, ties to even.
 */
@inline function roundToInt32(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, f32x4.splat(12582912.0)), i32x4.splat(0x4b400000));
}

/** C roundf (half away from zero) of each lane (|v| ≤ 127 here), as int32. */
@inline export function roundAway(v: v128): v128 {
  const t = f32x4.trunc(v);
  const away = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const step = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1)); // ±1 with v's sign
  return roundToInt32(f32x4.add(t, v128.and(away, step)));
}

/** 8 values at x·scale rounded by roundf, as int16. */
@inline function round8(x: usize, scale: v128): v128 {
  const lo = roundAway(f32x4.mul(v128.load(x), scale));
  const hi = roundAway(f32x4.mul(v128.load(x, 16), scale));
  return i16x8.narrow_i32x4_s(lo, hi);
}

/**
 * 16 values at x·scale rounded by roundf, stored as int16 at q with the 8 even-indexed
 * values first, then the 8 odd ones: the order the block32 kernels read (see block32.ts).
 */
@inline function round16(x: usize, scale: v128, q: usize): void {
  const a = round8(x, scale);
  const b = round8(x + 32, scale);
  v128.store(q, i8x16.shuffle(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29));
  v128.store(q, i8x16.shuffle(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 16);
}

export function quantize_q8_32(x: usize, q: usize, d: usize, T: i32, I: i32): void {
  rowsQ8_32(x, q, d, T, I, 0, T);
}

/** Tokens [t0, t1) of quantize_q8_32 (a row kernel: threads split the tokens). */
export function quantize_rows_q8_32(x: usize, q: usize, d: usize, a3: i32, a4: i32, T: i32, I: i32, a7: i32, t0: i32, t1: i32, slot: usize): void {
  rowsQ8_32(x, q, d, T, I, t0, t1);
}

@inline function rowsQ8_32(x: usize, q: usize, d: usize, T: i32, I: i32, t0: i32, t1: i32): void {
  const nb = <usize>(I >> 5);
  const tiled = <usize>(T & ~3); // tokens in full 4-token tiles
  for (let t: usize = <usize>t0; t < <usize>t1; t++) {
    for (let j: usize = 0; j < nb; j++) {
      const b = t * nb + j;
      const xb = x + (b << 7);
      const qb = q + (b << 6);
      const amax = absMax8(xb);
      const dv: f32 = amax / 127;
      const id: f32 = dv != 0 ? <f32>1 / dv : 0;
      // Scales of a full 4-token tile are stored [block][token] so a kernel loads the four
      // tokens' scales of a block as one vector; other tokens' are [token][block].
      const at = t < tiled ? ((t & ~3) * nb + (j << 2) + (t & 3)) : b;
      // d/256: the block32 kernels read weights ×256 (block32.ts); exact, a power of two.
      store<f32>(d + (at << 2), halfToF32(f32ToHalfBits(dv)) * <f32>0.00390625);
      const s = f32x4.splat(id);
      round16(xb, s, qb);
      round16(xb + 64, s, qb + 32);
    }
  }
}

/** 8 values at x·scale rounded to nearest even, capped at 127, as int16. */
@inline function nearest8(x: usize, scale: v128): v128 {
  const cap = i32x4.splat(127);
  const lo = i32x4.min_s(roundToInt32(f32x4.mul(v128.load(x), scale)), cap);
  const hi = i32x4.min_s(roundToInt32(f32x4.mul(v128.load(x, 16), scale)), cap);
  return i16x8.narrow_i32x4_s(lo, hi);
}

/** Bytes of one q8_k value: 1 (int8 in order) in the relaxed-SIMD build, else 2. */
export const Q8K_VALUE_SHIFT: usize = ASC_FEATURE_RELAXED_SIMD ? 0 : 1;

/** 16 values of q8_k stored at q (evens first as int16, or int8 in order); returns their sum. */
@inline function nearest16(x: usize, scale: v128, q: usize): i32 {
  const a = nearest8(x, scale);
  const b = nearest8(x + 32, scale);
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(q, i8x16.narrow_i16x8_s(a, b));
  } else {
    v128.store(q, i8x16.shuffle(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29));
    v128.store(q, i8x16.shuffle(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 16);
  }
  const wide = i32x4.extadd_pairwise_i16x8_s(i16x8.add(a, b));
  return (i32x4.extract_lane(wide, 0) + i32x4.extract_lane(wide, 1)) + (i32x4.extract_lane(wide, 2) + i32x4.extract_lane(wide, 3));
}

export function quantize_q8_k(x: usize, q: usize, d: usize, sums: usize, T: i32, I: i32): void {
  rowsQ8_K(x, q, d, sums, T, I, 0, T);
}

/** Tokens [t0, t1) of quantize_q8_k (a row kernel: threads split the tokens). */
export function quantize_rows_q8_k(x: usize, q: usize, d: usize, sums: usize, a4: i32, T: i32, I: i32, a7: i32, t0: i32, t1: i32, slot: usize): void {
  rowsQ8_K(x, q, d, sums, T, I, t0, t1);
}

@inline function rowsQ8_K(x: usize, q: usize, d: usize, sums: usize, T: i32, I: i32, t0: i32, t1: i32): void {
  const nb = <usize>(I >> 8);
  const tiled = <usize>(T & ~3); // tokens in full 4-token tiles
  for (let t: usize = <usize>t0; t < <usize>t1; t++) {
    for (let j0: usize = 0; j0 < nb; j0++) {
      const b = t * nb + j0;
      const xb = x + (b << 10);
      const qb = q + (b << (8 + Q8K_VALUE_SHIFT));
      const sb = sums + (b << 5);
      // Scales of a full 4-token tile are stored [block][token] (as quantize_q8_32).
      const dAt = d + ((t < tiled ? (t & ~3) * nb + (j0 << 2) + (t & 3) : b) << 2);
      let amax: f32 = 0;
      for (let j: usize = 0; j < 256; j += 32) amax = max(amax, absMax8(xb + (j << 2)));
      if (amax == 0) {
        store<f32>(dAt, 0);
        memory.fill(qb, 0, 256 << Q8K_VALUE_SHIFT);
        memory.fill(sb, 0, 32);
        continue;
      }
      // ggml keeps the sign of the first element of largest magnitude.
      let mx: f32 = 0;
      for (let j: usize = 0; j < 256; j++) {
        const v = load<f32>(xb + (j << 2));
        if (abs(v) == amax) { mx = v; break; }
      }
      const iscale: f32 = <f32>-127 / mx;
      store<f32>(dAt, <f32>1 / iscale);
      const s = f32x4.splat(iscale);
      for (let j: usize = 0; j < 256; j += 16) {
        store<i16>(sb + (j >> 3), <i16>nearest16(xb + (j << 2), s, qb + (j << Q8K_VALUE_SHIFT)));
      }
    }
  }
}

// KV-cache rows encoded on append (the same bits as src/model/kv.ts encodeKVRows).

/**
 * Four f32 lanes → IEEE half bits (round to nearest even, as f32ToHalfBits) in the low 16
 * bits of each lane, without branches: normal results by rounding the shifted-out 13 bits,
 * subnormal ones by letting an f32 add of 0.5 round |x| to a multiple of 2^-24, overflow to
 * infinity, NaN to the quiet NaN.
 */
@inline function halfBits4(x: v128): v128 {
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const sign = v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000));
  const odd = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.sub(a, i32x4.splat(0x38000000)), i32x4.add(odd, i32x4.splat(0xfff))), 13);
  const tiny = i32x4.sub(f32x4.add(a, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  const big = v128.bitselect(i32x4.splat(0x7e00), i32x4.splat(0x7c00), i32x4.gt_s(a, i32x4.splat(0x7f800000)));
  const h = v128.bitselect(tiny, normal, i32x4.lt_s(a, i32x4.splat(0x38800000))); // below 2^-14
  return v128.or(v128.bitselect(big, h, i32x4.ge_s(a, i32x4.splat(0x47800000))), sign); // from 2^16
}

/** n f32 values at src → IEEE halves at dst (round to nearest even). */
export function encode_kv_f16(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const x = src + (<usize>i << 2);
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(halfBits4(v128.load(x)), halfBits4(v128.load(x, 16))));
  }
  for (; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>f32ToHalfBits(load<f32>(src + (<usize>i << 2))));
}

/** n f32 values at src (n a multiple of 32) → ggml Q8_0 blocks at dst: d = fp16(amax/127), q = roundf(x·(1/d)). */
export function encode_kv_q8_0(src: usize, dst: usize, n: i32): void {
  for (let b = 0; b < n >> 5; b++) {
    const x = src + (<usize>b << 7);
    const y = dst + <usize>b * 34;
    const dv: f32 = absMax8(x) / 127;
    const id: f32 = dv != 0 ? <f32>1 / dv : 0;
    store<u16>(y, <u16>f32ToHalfBits(dv));
    const s = f32x4.splat(id);
    for (let j: usize = 0; j < 32; j += 16) {
      const a = i16x8.narrow_i32x4_s(roundAway(f32x4.mul(v128.load(x + (j << 2)), s)), roundAway(f32x4.mul(v128.load(x + (j << 2), 16), s)));
      const c = i16x8.narrow_i32x4_s(roundAway(f32x4.mul(v128.load(x + (j << 2), 32), s)), roundAway(f32x4.mul(v128.load(x + (j << 2), 48), s)));
      v128.store(y + 2 + j, i8x16.narrow_i16x8_s(a, c));
    }
  }
}
