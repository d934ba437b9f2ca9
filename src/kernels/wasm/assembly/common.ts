// Scalar and vector helpers shared by every kernel. All pointers are byte addresses in the
// imported (shared) memory. The module has no data segment and no globals, so any number of
// instances may run on one memory at once; the only thing it keeps in memory is a table of
// all 65536 halves as f32 at F16_TABLE (filled once per memory by init_f16_table), which
// turns a block scale into one load.

/** Byte address of the f16 → f32 table: the 256 KiB after the first (never used) 64 KiB. */
export const F16_TABLE: usize = 65536;
/**
 * Per-thread scratch words, 64 bytes (one cache line) per thread from this address, in the
 * otherwise unused first 64 KiB: row kernels get their thread's as `slot` (see `pin`).
 */
export const THREAD_SLOTS: usize = 1024;
/** Bytes at the start of every memory that belong to the kernels (address 0 stays unused). */
export const RESERVED_BYTES: usize = F16_TABLE + 65536 * 4;

/** 2^112: moves a half's exponent (bias 15) to a single's (bias 127). */
const TWO_POW_112: f32 = reinterpret<f32>(0x77800000);

/** IEEE half bits → f32, subnormals, infinities and NaN included. */
@inline export function halfToF32(h: u32): f32 {
  // Magnitude bits land in the f32 field unbiased; the multiply rebiases (exact for
  // subnormal halves too, which arrive as f32 subnormals).
  let bits = reinterpret<u32>(reinterpret<f32>((h & 0x7fff) << 13) * TWO_POW_112);
  if ((h & 0x7c00) == 0x7c00) bits |= 0x7f800000;
  return reinterpret<f32>(bits | ((h & 0x8000) << 16));
}

/** A block scale: the f32 value of the half at `p`, by table. */
@inline export function halfAt(p: usize): f32 {
  return load<f32>(F16_TABLE + (<usize>load<u16>(p) << 2));
}

/** Fills the f16 → f32 table of this memory. */
export function init_f16_table(): void {
  for (let h: u32 = 0; h < 65536; h++) store<f32>(F16_TABLE + (<usize>h << 2), halfToF32(h));
}

/** 1 in the relaxed-SIMD build (kernels-relaxed.wasm: 8-bit dot products, int8 q8_k activations), else 0. */
export function relaxed_simd(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** Bytes reserved for the kernels at the start of every memory. */
export function reserved_bytes(): usize {
  return RESERVED_BYTES;
}

/** f32 → IEEE half bits, round to nearest even; overflow gives infinity. */
export function f32ToHalfBits(v: f32): u32 {
  const x = reinterpret<u32>(v);
  const sign = (x >>> 16) & 0x8000;
  const exp = <i32>((x >>> 23) & 0xff);
  let mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 : 0);
  let e = exp - 112; // exponent rebiased from 127 to 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    const half = <u32>1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((<u32>1 << shift) - 1);
    if (rem > half || (rem == half && (r & 1) != 0)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1) != 0)) {
    r++;
    if (r == 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (<u32>e << 10) | r;
}

/** Horizontal sum of an f32x4 in a fixed order (so every caller rounds alike). */
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Horizontal sum of an i32x4. */
@inline export function hsumI32(v: v128): i32 {
  return (i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1)) + (i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3));
}

/**
 * Four halves → f32x4. `t` holds each half's bits arithmetically shifted into f32 position:
 * sign at bit 31 (and copies in 30..28, which the mask clears), exponent and mantissa at
 * 27..13 (the mask also clears bits below 13). The multiply rebiases the exponent; subnormal
 * halves arrive as f32 subnormals and come out exact. Exponent 31 (infinity, NaN) comes out
 * finite unless `exact`: the f16 matmul checks rows for such halves instead and recomputes
 * only those rows exactly, which keeps 4 instructions per 4 weights out of the hot loop.
 */
@inline export function halvesToF32(t: v128, exact: bool): v128 {
  const bits = v128.and(t, i32x4.splat(0x8fffe000));
  const scaled = f32x4.mul(bits, f32x4.splat(TWO_POW_112));
  if (!exact) return scaled;
  const expField = v128.and(bits, i32x4.splat(0x0f800000));
  const infNan = v128.and(i32x4.eq(expField, i32x4.splat(0x0f800000)), i32x4.splat(0x7f800000));
  return v128.or(scaled, infNan);
}

/** The even halves (0, 2, 4, 6) of 8 packed halves, as f32x4. */
@inline export function evenHalvesToF32(raw: v128, exact: bool): v128 {
  return halvesToF32(i32x4.shr_s(i32x4.shl(raw, 16), 3), exact);
}
/** The odd halves (1, 3, 5, 7) of 8 packed halves, as f32x4. */
@inline export function oddHalvesToF32(raw: v128, exact: bool): v128 {
  return halvesToF32(i32x4.shr_s(raw, 3), exact);
}

/** Σ over 32 products of int16 weights (four i16x8) and int16 activations at `x`: an i32x4 of partial sums. */
@inline export function dot32(w0: v128, w1: v128, w2: v128, w3: v128, x: usize): v128 {
  const a = i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(x)), i32x4.dot_i16x8_s(w1, v128.load(x, 16)));
  const b = i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(x, 32)), i32x4.dot_i16x8_s(w3, v128.load(x, 48)));
  return i32x4.add(a, b);
}

/** Σ over 16 products of int16 weights (two i16x8) and int16 activations at `x`. */
@inline export function dot16(w0: v128, w1: v128, x: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(x)), i32x4.dot_i16x8_s(w1, v128.load(x, 16)));
}

/** acc + f32(isum) · scale, lane-wise. */
@inline export function scaleAdd(acc: v128, isum: v128, scale: f32): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(scale)));
}

/**
 * Stores `v` at `slot`, this thread's private scratch line (a plain vector store: no ALU). TurboFan keeps loads
 * in program order but sinks arithmetic to its first use, so an unrolled tile would load
 * every operand up front and spill; a store that needs one step's result keeps that step's
 * arithmetic ahead of the next step's loads. (Private, because stores into shared output
 * lines from two cores would bounce those lines between them.)
 */
@inline export function pin(slot: usize, v: v128): void {
  v128.store(slot, v);
}

/** Lanes of a, b interleaved for a 4×4 transpose-and-add: [a0 b0 a1 b1] and [a2 b2 a3 b3]. */
@inline function lowPairs(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
}
@inline function highPairs(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
}
@inline function lowHalves(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
}
@inline function highHalves(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}

/** [Σ lanes of s0, Σ s1, Σ s2, Σ s3] of int32 lanes, exact: 6 shuffles and 3 adds. */
@inline export function sum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u01 = i32x4.add(lowPairs(s0, s1), highPairs(s0, s1)); // [s0 02, s1 02, s0 13, s1 13]
  const u23 = i32x4.add(lowPairs(s2, s3), highPairs(s2, s3));
  return i32x4.add(lowHalves(u01, u23), highHalves(u01, u23));
}

/** As sum4 for f32 lanes: lane k = (a_k[0] + a_k[2]) + (a_k[1] + a_k[3]). */
@inline export function sum4f(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const u01 = f32x4.add(lowPairs(a0, a1), highPairs(a0, a1));
  const u23 = f32x4.add(lowPairs(a2, a3), highPairs(a2, a3));
  return f32x4.add(lowHalves(u01, u23), highHalves(u01, u23));
}

/** Lane t of `v` to y at yo + t·yRow: one output of four consecutive tokens. */
@inline export function storeTokens(yo: usize, yRow: usize, v: v128): void {
  store<f32>(yo, f32x4.extract_lane(v, 0));
  store<f32>(yo + yRow, f32x4.extract_lane(v, 1));
  store<f32>(yo + 2 * yRow, f32x4.extract_lane(v, 2));
  store<f32>(yo + 3 * yRow, f32x4.extract_lane(v, 3));
}
