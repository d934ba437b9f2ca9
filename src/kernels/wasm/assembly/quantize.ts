// Activations quantized on the fly to 8-bit integers, as llama.cpp does before an integer
// dot product with quantized weights. Values are stored widened to int16 so the matmul
// kernels feed them straight into i32x4.dot_i16x8_s.
//   q8_32 (for q8_0/q4_0/q5_0 weights): ggml's Q8_0 — per 32 values d = amax/127 stored as
//         f16, q = roundf(x / d) (half away from zero).
//   q8_k  (for K-quant weights): ggml's Q8_K — per 256 values the signed value `max` of
//         largest magnitude gives iscale = −127/max, q = min(127, nearest_even(iscale·x)),
//         d = 1/iscale kept in f32; plus the sum of every 32 q's (for the K-quant mins).
// Layout for T rows of I values: q int16 [T, I]; d f32 [T, I/32] or [T, I/256];
// sums int16 [T, I/32] (|sum| ≤ 32·127).
import { f32ToHalfBits, halfToF32 } from "./common";

@inline function absMax8(x: usize): f32 {
  let m = f32x4.abs(v128.load(x));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 16)));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 32)));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 48)));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 64)));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 80)));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 96)));
  m = f32x4.max(m, f32x4.abs(v128.load(x, 112)));
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/** C roundf (half away from zero) of each lane, as int32. */
@inline function roundAway(v: v128): v128 {
  const t = f32x4.trunc(v);
  const away = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const step = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1)); // ±1 with v's sign
  return i32x4.trunc_sat_f32x4_s(f32x4.add(t, v128.and(away, step)));
}

/** 8 values at x·scale rounded by roundf, stored as int16 at q. */
@inline function round8(x: usize, scale: v128, q: usize): void {
  const lo = roundAway(f32x4.mul(v128.load(x), scale));
  const hi = roundAway(f32x4.mul(v128.load(x, 16), scale));
  v128.store(q, i16x8.narrow_i32x4_s(lo, hi));
}

export function quantize_q8_32(x: usize, q: usize, d: usize, T: i32, I: i32): void {
  const nb = <usize>(T * (I >> 5));
  for (let b: usize = 0; b < nb; b++) {
    const xb = x + (b << 7);
    const qb = q + (b << 6);
    const amax = absMax8(xb);
    const dv: f32 = amax / 127;
    const id: f32 = dv != 0 ? <f32>1 / dv : 0;
    store<f32>(d + (b << 2), halfToF32(f32ToHalfBits(dv)));
    const s = f32x4.splat(id);
    round8(xb, s, qb);
    round8(xb + 32, s, qb + 16);
    round8(xb + 64, s, qb + 32);
    round8(xb + 96, s, qb + 48);
  }
}

/** 8 values at x·scale rounded to nearest even, capped at 127, stored as int16 at q. */
@inline function nearest8(x: usize, scale: v128, q: usize): v128 {
  const cap = i32x4.splat(127);
  const lo = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x), scale))), cap);
  const hi = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 16), scale))), cap);
  const v = i16x8.narrow_i32x4_s(lo, hi);
  v128.store(q, v);
  return v;
}

export function quantize_q8_k(x: usize, q: usize, d: usize, sums: usize, T: i32, I: i32): void {
  const nb = <usize>(T * (I >> 8));
  for (let b: usize = 0; b < nb; b++) {
    const xb = x + (b << 10);
    const qb = q + (b << 9);
    const sb = sums + (b << 4);
    let amax: f32 = 0;
    for (let j: usize = 0; j < 256; j += 32) amax = max(amax, absMax8(xb + (j << 2)));
    if (amax == 0) {
      store<f32>(d + (b << 2), 0);
      memory.fill(qb, 0, 512);
      memory.fill(sb, 0, 16);
      continue;
    }
    // ggml keeps the sign of the first element of largest magnitude.
    let mx: f32 = 0;
    for (let j: usize = 0; j < 256; j++) {
      const v = load<f32>(xb + (j << 2));
      if (abs(v) == amax) { mx = v; break; }
    }
    const iscale: f32 = <f32>-127 / mx;
    store<f32>(d + (b << 2), <f32>1 / iscale);
    const s = f32x4.splat(iscale);
    for (let j: usize = 0; j < 256; j += 32) {
      const xj = xb + (j << 2);
      const qj = qb + (j << 1);
      // |q| ≤ 127, so 32 of them sum within int16 before widening.
      let acc = nearest8(xj, s, qj);
      acc = i16x8.add(acc, nearest8(xj + 32, s, qj + 16));
      acc = i16x8.add(acc, nearest8(xj + 64, s, qj + 32));
      acc = i16x8.add(acc, nearest8(xj + 96, s, qj + 48));
      const wide = i32x4.extadd_pairwise_i16x8_s(acc);
      store<i16>(sb + (j >> 4), <i16>((i32x4.extract_lane(wide, 0) + i32x4.extract_lane(wide, 1)) + (i32x4.extract_lane(wide, 2) + i32x4.extract_lane(wide, 3))));
    }
  }
}
