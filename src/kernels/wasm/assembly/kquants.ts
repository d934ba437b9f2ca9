// K-quant weights (ggml Q4_K, Q5_K, Q6_K; 256-value super-blocks) times activations
// quantized to q8_k (see quantize.ts), following llama.cpp's vec_dot_q{4,5,6}_K_q8_K:
// integer dot products per sub-block times the sub-block's integer scale, summed in int32
// per super-block, then scaled by d_w·d_x in f32; Q4_K/Q5_K subtract dmin·d_x·Σ_j m_j·Σ q_x
// over sub-block j, from the per-16 activation sums. Q6_K multiplies its unsigned 6-bit
// values and takes off 32·Σ_g sc_g·Σ q_x over each 16-group g (the same integer as Σ (q−32)·…).
//   y: f32 [T, O]; xq: int16 [T, I], each 16 values evens first; xd: f32 [T, I/256] (full
//   4-token tiles [block][token]); xsum: int16 [T, I/16].
// Weights are decoded straight into int16 lanes holding the even and the odd elements of
// 16 (the activations' order), already multiplied by their sub-block scale (|q·sc| ≤ 4096),
// so each is one i32x4.dot_i16x8_s per token and a 4-token tile decodes once.
// The relaxed-SIMD build (kernels-relaxed.wasm) keeps the weights as bytes instead: its
// activations are int8 in order, and i16x8.relaxed_dot_i8x16_i7x16_s multiplies 16 of them
// by 16 unsigned weight values (< 64: within the 7 bits where the instruction is exact on
// every engine; pmaddubsw on x64) into pair sums, which one i32x4.dot_i16x8_s by the
// sub-block scale widens. The same exact integers, about half the instructions.
// Every output accumulates, super-block by super-block in f32, f32(exact integer sum)·(d·d_x)
// and separately the mins term, and ends as their difference, in every tiling: results do
// not depend on tiling or threads.
import { halfAt, hsumI32, pin, storeTokens, sum4 } from "./common";
import { Q8K_VALUE_SHIFT } from "./quantize";

const Q4_K: i32 = 0;
const Q5_K: i32 = 1;
const Q6_K: i32 = 2;

@inline function blockBytes(kind: i32): usize {
  return kind == Q4_K ? 144 : kind == Q5_K ? 176 : 210;
}

/**
 * Nibbles of 16 bytes `b` as int16 lanes: part 0 = low nibbles of the even bytes, 1 = low of
 * the odd, 2 = high of the even, 3 = high of the odd.
 */
@inline function nibbles(b: v128, part: i32): v128 {
  const m = i16x8.splat(0x000f);
  if (part == 0) return v128.and(b, m);
  if (part == 1) return v128.and(i16x8.shr_u(b, 8), m);
  if (part == 2) return v128.and(i16x8.shr_u(b, 4), m);
  return i16x8.shr_u(b, 12);
}

/** Q5_K's fifth bit `bit` of the even (odd = false) or odd bytes of h, as 16 per int16 lane. */
@inline function fifth(h: v128, bit: i32, odd: bool): v128 {
  const shift = (odd ? 8 : 0) + bit - 4;
  const v = shift >= 0 ? i16x8.shr_u(h, <u32>shift) : i16x8.shl(h, <u32>-shift);
  return v128.and(v, i16x8.splat(0x0010));
}

/** Unsigned bytes of `v` as int16 lanes: the even bytes, or the odd ones. */
@inline function evenBytes(v: v128): v128 {
  return v128.and(v, i16x8.splat(0x00ff));
}
@inline function oddBytes(v: v128): v128 {
  return i16x8.shr_u(v, 8);
}

/** Σ_j m_j · (Σ q_x over sub-block j) from 8 six-bit mins and the 16 per-16 sums at s. */
@inline function minsDot(mins: v128, s: usize): v128 {
  const lo = i8x16.shuffle(mins, mins, 0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7);
  const hi = i8x16.shuffle(mins, mins, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15);
  return i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(s)), i32x4.dot_i16x8_s(hi, v128.load(s, 16)));
}

/** u − 32·Σ_g sc_g·(Σ q_x over 16-group g): Q6_K's offset, with its 16 int8 scales at sc. */
@inline function q6Offset(u: v128, sc: usize, s: usize): v128 {
  const scales = v128.load(sc);
  const dot = i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(scales), v128.load(s)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(scales), v128.load(s, 16)),
  );
  return i32x4.sub(u, i32x4.shl(dot, 5));
}

/** Group g (0..3) of a Q6_K half: 16 unsigned values 0..63 from low bits a/bq and high bits hb. */
@inline function q6Values(g: i32, a: v128, bq: v128, hb: v128): v128 {
  const low4 = i8x16.splat(0x0f);
  const m30 = i8x16.splat(0x30);
  let v: v128;
  if (g == 0) v = v128.or(v128.and(a, low4), v128.and(i16x8.shl(hb, 4), m30));
  else if (g == 1) v = v128.or(v128.and(bq, low4), v128.and(i16x8.shl(hb, 2), m30));
  else if (g == 2) v = v128.or(v128.and(i16x8.shr_u(a, 4), low4), v128.and(hb, m30));
  else v = v128.or(v128.and(i16x8.shr_u(bq, 4), low4), v128.and(i16x8.shr_u(hb, 2), m30));
  return v;
}

/**
 * The 8 six-bit scales (low 32 bits: sub-blocks 0..3, one per byte; high: 4..7) or mins of
 * a Q4_K/Q5_K super-block, from its 12 packed bytes at p (ggml get_scale_min_k4, 4 at a time).
 */
@inline function scalesK4(p: usize): u64 {
  const u0 = load<u32>(p), u2 = load<u32>(p, 8);
  return <u64>(u0 & 0x3f3f3f3f) | (<u64>((u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4)) << 32);
}
@inline function minsK4(p: usize): u64 {
  const u1 = load<u32>(p, 4), u2 = load<u32>(p, 8);
  return <u64>(u1 & 0x3f3f3f3f) | (<u64>(((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4)) << 32);
}

/** u + scale·Σ x_i·v_i over the 16 int8 activations at x and 16 weight values v < 128 (relaxed build). */
@inline function dot8x16(u: v128, v: v128, x: usize, scale: v128): v128 {
  return i32x4.add(u, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x), v), scale));
}

/** As dot8x16 over 32 values (v0, then v1) sharing one scale: the pair sums (|·| ≤ 2·2·31·127) fit int16. */
@inline function dot8x32(u: v128, v0: v128, v1: v128, x: usize, scale: v128): v128 {
  const p = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x), v0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 16), v1));
  return i32x4.add(u, i32x4.dot_i16x8_s(p, scale));
}

/**
 * Token t of an N-token tile (relaxed build): its accumulator after dot8x16 / dot8x32 against
 * its activations at x + t·qRow, pinned (see common.ts); unchanged when t ≥ N (folded away).
 */
@inline function token16(N: i32, t: i32, u: v128, v: v128, x: usize, qRow: usize, scale: v128, slot: usize): v128 {
  if (t >= N) return u;
  const r = dot8x16(u, v, x + <usize>t * qRow, scale);
  pin(slot, r);
  return r;
}
@inline function token32(N: i32, t: i32, u: v128, v0: v128, v1: v128, x: usize, qRow: usize, scale: v128, slot: usize): v128 {
  if (t >= N) return u;
  const r = dot8x32(u, v0, v1, x + <usize>t * qRow, scale);
  pin(slot, r);
  return r;
}

/** Q5_K's fifth bit `bit` of the 16 bytes h, as 16 at bit 4 of each byte. */
@inline function fifth8(h: v128, bit: i32): v128 {
  const v = bit >= 4 ? i8x16.shr_u(h, <u32>(bit - 4)) : i8x16.shl(h, <u32>(4 - bit));
  return v128.and(v, i8x16.splat(0x10));
}

/** s + dot(we, x evens) + dot(wo, x odds) for the 16 activations at x. */
@inline function dot16(s: v128, we: v128, wo: v128, x: usize): v128 {
  return i32x4.add(s, i32x4.add(i32x4.dot_i16x8_s(we, v128.load(x)), i32x4.dot_i16x8_s(wo, v128.load(x, 16))));
}

/**
 * One token's exact integer sums over the K-quant super-block at wb: Σ of
 * sub-block scale · Σ q_w·q_x, before Q6_K's offset (rowsK's arithmetic for a lone token).
 */
@inline function superBlockSums1(kind: i32, wb: usize, qp: usize, slot: usize): v128 {
  let u0 = i32x4.splat(0);
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (kind == Q6_K) {
      // The 16 scales as int16, one half's 8 at a time; each group's is broadcast by a shuffle.
      const scv = v128.load(wb + 192);
      const scLo = i16x8.extend_low_i8x16_s(scv), scHi = i16x8.extend_high_i8x16_s(scv);
      for (let h: usize = 0; h < 2; h++) {
        const ql = wb + (h << 6);
        const qh = wb + 128 + (h << 5);
        const xh = qp + (h << 7);
        const sch = h == 0 ? scLo : scHi;
        // Elements 0..15 of each 32: the four 16-value groups at 0, 32, 64, 96 of this half.
        {
          const a = v128.load(ql, 0), bq = v128.load(ql, 32), hb = v128.load(qh, 0);
          {
            const v = q6Values(0, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
            const xo = xh + 0;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
          {
            const v = q6Values(1, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
            const xo = xh + 32;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
          {
            const v = q6Values(2, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9);
            const xo = xh + 64;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
          {
            const v = q6Values(3, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13);
            const xo = xh + 96;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
        }
        // Elements 16..31 of each 32: the four 16-value groups at 16, 48, 80, 112 of this half.
        {
          const a = v128.load(ql, 16), bq = v128.load(ql, 48), hb = v128.load(qh, 16);
          {
            const v = q6Values(0, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
            const xo = xh + 16;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
          {
            const v = q6Values(1, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7);
            const xo = xh + 48;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
          {
            const v = q6Values(2, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11);
            const xo = xh + 80;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
          {
            const v = q6Values(3, a, bq, hb);
            const scale = i8x16.shuffle(sch, sch, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
            const xo = xh + 112;
            u0 = token16(1, 0, u0, v, xo, 0, scale, slot);
          }
        }
      }
    } else {
      const scales = scalesK4(wb + 4);
      const qs = wb + (kind == Q5_K ? 48 : 16);
      let h0 = i8x16.splat(0), h1 = i8x16.splat(0);
      if (kind == Q5_K) {
        h0 = v128.load(wb, 16);
        h1 = v128.load(wb, 32);
      }
      // The 8 sub-block scales as int16 lanes; each sub-block's is broadcast by a shuffle.
      const sc16 = i16x8.extend_low_i8x16_u(i64x2.splat(scales));
      const low4 = i8x16.splat(0x0f);
      // Sub-block j from the low (j even) or high nibbles of the 32 bytes at qs + 16·(j & ~1).
      {
        const qa = v128.load(qs, 0), qb = v128.load(qs, 16);
        let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 0));
          v1 = v128.or(v1, fifth8(h1, 0));
        }
        const scale = i8x16.shuffle(sc16, sc16, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
        const xo = qp + 0;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 0), qb = v128.load(qs, 16);
        let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 1));
          v1 = v128.or(v1, fifth8(h1, 1));
        }
        const scale = i8x16.shuffle(sc16, sc16, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
        const xo = qp + 32;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 32), qb = v128.load(qs, 48);
        let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 2));
          v1 = v128.or(v1, fifth8(h1, 2));
        }
        const scale = i8x16.shuffle(sc16, sc16, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
        const xo = qp + 64;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 32), qb = v128.load(qs, 48);
        let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 3));
          v1 = v128.or(v1, fifth8(h1, 3));
        }
        const scale = i8x16.shuffle(sc16, sc16, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7);
        const xo = qp + 96;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 64), qb = v128.load(qs, 80);
        let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 4));
          v1 = v128.or(v1, fifth8(h1, 4));
        }
        const scale = i8x16.shuffle(sc16, sc16, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9);
        const xo = qp + 128;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 64), qb = v128.load(qs, 80);
        let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 5));
          v1 = v128.or(v1, fifth8(h1, 5));
        }
        const scale = i8x16.shuffle(sc16, sc16, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11);
        const xo = qp + 160;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 96), qb = v128.load(qs, 112);
        let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 6));
          v1 = v128.or(v1, fifth8(h1, 6));
        }
        const scale = i8x16.shuffle(sc16, sc16, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13);
        const xo = qp + 192;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
      {
        const qa = v128.load(qs, 96), qb = v128.load(qs, 112);
        let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
        if (kind == Q5_K) {
          v0 = v128.or(v0, fifth8(h0, 7));
          v1 = v128.or(v1, fifth8(h1, 7));
        }
        const scale = i8x16.shuffle(sc16, sc16, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
        const xo = qp + 224;
        u0 = token32(1, 0, u0, v0, v1, xo, 0, scale, slot);
      }
    }
  } else {
    if (kind == Q6_K) {
      for (let h: usize = 0; h < 2; h++) {
        const ql = wb + (h << 6);
        const qh = wb + 128 + (h << 5);
        const sc = wb + 192 + (h << 3);
        const xh = qp + (h << 8);
        for (let c: usize = 0; c < 32; c += 16) {
          const is = c >> 4;
          const a = v128.load(ql + c);
          const bq = v128.load(ql + 32 + c);
          const hb = v128.load(qh + c);
          const xg = xh + (c << 1);
          // The four 16-value groups at elements c, 32+c, 64+c, 96+c of this half.
          {
            const v = q6Values(0, a, bq, hb);
            const scale = i16x8.splat(<i16>load<i8>(sc + is + 0));
            const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
            const xo = xg + 0;
            u0 = dot16(u0, we, wo, xo);
          }
          {
            const v = q6Values(1, a, bq, hb);
            const scale = i16x8.splat(<i16>load<i8>(sc + is + 2));
            const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
            const xo = xg + 64;
            u0 = dot16(u0, we, wo, xo);
          }
          {
            const v = q6Values(2, a, bq, hb);
            const scale = i16x8.splat(<i16>load<i8>(sc + is + 4));
            const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
            const xo = xg + 128;
            u0 = dot16(u0, we, wo, xo);
          }
          {
            const v = q6Values(3, a, bq, hb);
            const scale = i16x8.splat(<i16>load<i8>(sc + is + 6));
            const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
            const xo = xg + 192;
            u0 = dot16(u0, we, wo, xo);
          }
        }
      }
    } else {
      const scales = scalesK4(wb + 4);
      const qs = wb + (kind == Q5_K ? 48 : 16);
      // Q5_K's fifth bits (loads trap, so the unused ones are not left to the optimizer).
      let h0 = i8x16.splat(0), h1 = i8x16.splat(0);
      if (kind == Q5_K) {
        h0 = v128.load(wb, 16);
        h1 = v128.load(wb, 32);
      }
      for (let k = 0; k < 4; k++) {
        const qa = v128.load(qs + (<usize>k << 5));
        const qb = v128.load(qs + (<usize>k << 5), 16);
        const xj = qp + (<usize>k << 7);
        const pair = <u32>(scales >> (<u64>k << 4)); // scales of sub-blocks 2k (low byte) and 2k+1
        // Sub-block 2k from the low nibbles, then 2k+1 from the high ones.
        {
          const scale = i16x8.splat(<i16>(pair & 0xff));
          let e0 = nibbles(qa, 0), o0 = nibbles(qa, 1);
          let e1 = nibbles(qb, 0), o1 = nibbles(qb, 1);
          if (kind == Q5_K) {
            const bit = 2 * k + 0;
            e0 = v128.or(e0, fifth(h0, bit, false));
            o0 = v128.or(o0, fifth(h0, bit, true));
            e1 = v128.or(e1, fifth(h1, bit, false));
            o1 = v128.or(o1, fifth(h1, bit, true));
          }
          e0 = i16x8.mul(e0, scale); o0 = i16x8.mul(o0, scale);
          e1 = i16x8.mul(e1, scale); o1 = i16x8.mul(o1, scale);
          const xo = xj + 0;
          u0 = dot16(dot16(u0, e0, o0, xo), e1, o1, xo + 32);
        }
        {
          const scale = i16x8.splat(<i16>((pair >> 8) & 0xff));
          let e0 = nibbles(qa, 2), o0 = nibbles(qa, 3);
          let e1 = nibbles(qb, 2), o1 = nibbles(qb, 3);
          if (kind == Q5_K) {
            const bit = 2 * k + 1;
            e0 = v128.or(e0, fifth(h0, bit, false));
            o0 = v128.or(o0, fifth(h0, bit, true));
            e1 = v128.or(e1, fifth(h1, bit, false));
            o1 = v128.or(o1, fifth(h1, bit, true));
          }
          e0 = i16x8.mul(e0, scale); o0 = i16x8.mul(o0, scale);
          e1 = i16x8.mul(e1, scale); o1 = i16x8.mul(o1, scale);
          const xo = xj + 64;
          u0 = dot16(dot16(u0, e0, o0, xo), e1, o1, xo + 32);
        }
      }
    }
  }
  return u0;
}

@inline function rowsK(N: i32, kind: i32, y: usize, xq: usize, xd: usize, xsum: usize, w: usize, t: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  const nb = <usize>(I >> 8);
  const BB = blockBytes(kind);
  const rowBytes = nb * BB;
  const qRow = <usize>I << Q8K_VALUE_SHIFT;
  const sRow = <usize>(I >> 4) << 1;
  const yRow = <usize>O << 2;
  const dTile = nb << 4; // bytes of one 4-token tile's scales
  const q0 = xq + <usize>t * qRow;
  const d0 = xd + <usize>t * (nb << 2);
  const s0 = xsum + <usize>t * sRow;
  for (let o = r0; o < r1; o++) {
    let wb = w + <usize>o * rowBytes;
    const end = wb + rowBytes;
    let qp = q0, dp = d0, sp = s0;
    const yo = y + ((<usize>t * O + o) << 2);
    // N = 4 or 8: lanes are the tiles' tokens (acc, then accB); N = 1 or 2: scalar accumulators.
    let acc = f32x4.splat(0), macc = f32x4.splat(0), accB = f32x4.splat(0), maccB = f32x4.splat(0);
    let acc1: f32 = 0, macc1: f32 = 0, acc2: f32 = 0, macc2: f32 = 0;
    while (wb < end) {
      let u0 = i32x4.splat(0), u1 = i32x4.splat(0), u2 = i32x4.splat(0), u3 = i32x4.splat(0);
      let u4 = i32x4.splat(0), u5 = i32x4.splat(0), u6 = i32x4.splat(0), u7 = i32x4.splat(0);
      if (ASC_FEATURE_RELAXED_SIMD) {
        if (kind == Q6_K) {
          // The 16 scales as int16, one half's 8 at a time; each group's is broadcast by a shuffle.
          const scv = v128.load(wb + 192);
          const scLo = i16x8.extend_low_i8x16_s(scv), scHi = i16x8.extend_high_i8x16_s(scv);
          for (let h: usize = 0; h < 2; h++) {
            const ql = wb + (h << 6);
            const qh = wb + 128 + (h << 5);
            const xh = qp + (h << 7);
            const sch = h == 0 ? scLo : scHi;
            // Elements 0..15 of each 32: the four 16-value groups at 0, 32, 64, 96 of this half.
            {
              const a = v128.load(ql, 0), bq = v128.load(ql, 32), hb = v128.load(qh, 0);
              {
                const v = q6Values(0, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
                const xo = xh + 0;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
              {
                const v = q6Values(1, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
                const xo = xh + 32;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
              {
                const v = q6Values(2, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9);
                const xo = xh + 64;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
              {
                const v = q6Values(3, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13);
                const xo = xh + 96;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
            }
            // Elements 16..31 of each 32: the four 16-value groups at 16, 48, 80, 112 of this half.
            {
              const a = v128.load(ql, 16), bq = v128.load(ql, 48), hb = v128.load(qh, 16);
              {
                const v = q6Values(0, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
                const xo = xh + 16;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
              {
                const v = q6Values(1, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7);
                const xo = xh + 48;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
              {
                const v = q6Values(2, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11);
                const xo = xh + 80;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
              {
                const v = q6Values(3, a, bq, hb);
                const scale = i8x16.shuffle(sch, sch, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
                const xo = xh + 112;
                u0 = token16(N, 0, u0, v, xo, qRow, scale, slot);
                u1 = token16(N, 1, u1, v, xo, qRow, scale, slot);
                u2 = token16(N, 2, u2, v, xo, qRow, scale, slot);
                u3 = token16(N, 3, u3, v, xo, qRow, scale, slot);
                u4 = token16(N, 4, u4, v, xo, qRow, scale, slot);
                u5 = token16(N, 5, u5, v, xo, qRow, scale, slot);
                u6 = token16(N, 6, u6, v, xo, qRow, scale, slot);
                u7 = token16(N, 7, u7, v, xo, qRow, scale, slot);
              }
            }
          }
        } else {
          const scales = scalesK4(wb + 4);
          const qs = wb + (kind == Q5_K ? 48 : 16);
          let h0 = i8x16.splat(0), h1 = i8x16.splat(0);
          if (kind == Q5_K) {
            h0 = v128.load(wb, 16);
            h1 = v128.load(wb, 32);
          }
          // The 8 sub-block scales as int16 lanes; each sub-block's is broadcast by a shuffle.
          const sc16 = i16x8.extend_low_i8x16_u(i64x2.splat(scales));
          const low4 = i8x16.splat(0x0f);
          // Sub-block j from the low (j even) or high nibbles of the 32 bytes at qs + 16·(j & ~1).
          {
            const qa = v128.load(qs, 0), qb = v128.load(qs, 16);
            let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 0));
              v1 = v128.or(v1, fifth8(h1, 0));
            }
            const scale = i8x16.shuffle(sc16, sc16, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
            const xo = qp + 0;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 0), qb = v128.load(qs, 16);
            let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 1));
              v1 = v128.or(v1, fifth8(h1, 1));
            }
            const scale = i8x16.shuffle(sc16, sc16, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
            const xo = qp + 32;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 32), qb = v128.load(qs, 48);
            let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 2));
              v1 = v128.or(v1, fifth8(h1, 2));
            }
            const scale = i8x16.shuffle(sc16, sc16, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
            const xo = qp + 64;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 32), qb = v128.load(qs, 48);
            let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 3));
              v1 = v128.or(v1, fifth8(h1, 3));
            }
            const scale = i8x16.shuffle(sc16, sc16, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7);
            const xo = qp + 96;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 64), qb = v128.load(qs, 80);
            let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 4));
              v1 = v128.or(v1, fifth8(h1, 4));
            }
            const scale = i8x16.shuffle(sc16, sc16, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9);
            const xo = qp + 128;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 64), qb = v128.load(qs, 80);
            let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 5));
              v1 = v128.or(v1, fifth8(h1, 5));
            }
            const scale = i8x16.shuffle(sc16, sc16, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11);
            const xo = qp + 160;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 96), qb = v128.load(qs, 112);
            let v0 = v128.and(qa, low4), v1 = v128.and(qb, low4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 6));
              v1 = v128.or(v1, fifth8(h1, 6));
            }
            const scale = i8x16.shuffle(sc16, sc16, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13);
            const xo = qp + 192;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
          {
            const qa = v128.load(qs, 96), qb = v128.load(qs, 112);
            let v0 = i8x16.shr_u(qa, 4), v1 = i8x16.shr_u(qb, 4);
            if (kind == Q5_K) {
              v0 = v128.or(v0, fifth8(h0, 7));
              v1 = v128.or(v1, fifth8(h1, 7));
            }
            const scale = i8x16.shuffle(sc16, sc16, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
            const xo = qp + 224;
            u0 = token32(N, 0, u0, v0, v1, xo, qRow, scale, slot);
            u1 = token32(N, 1, u1, v0, v1, xo, qRow, scale, slot);
            u2 = token32(N, 2, u2, v0, v1, xo, qRow, scale, slot);
            u3 = token32(N, 3, u3, v0, v1, xo, qRow, scale, slot);
            u4 = token32(N, 4, u4, v0, v1, xo, qRow, scale, slot);
            u5 = token32(N, 5, u5, v0, v1, xo, qRow, scale, slot);
            u6 = token32(N, 6, u6, v0, v1, xo, qRow, scale, slot);
            u7 = token32(N, 7, u7, v0, v1, xo, qRow, scale, slot);
          }
        }
      } else if (kind == Q6_K) {
        for (let h: usize = 0; h < 2; h++) {
          const ql = wb + (h << 6);
          const qh = wb + 128 + (h << 5);
          const sc = wb + 192 + (h << 3);
          const xh = qp + (h << 8);
          for (let c: usize = 0; c < 32; c += 16) {
            const is = c >> 4;
            const a = v128.load(ql + c);
            const bq = v128.load(ql + 32 + c);
            const hb = v128.load(qh + c);
            const xg = xh + (c << 1);
            // The four 16-value groups at elements c, 32+c, 64+c, 96+c of this half.
            {
              const v = q6Values(0, a, bq, hb);
              const scale = i16x8.splat(<i16>load<i8>(sc + is + 0));
              const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
              const xo = xg + 0;
              u0 = dot16(u0, we, wo, xo);
              if (N >= 4) {
                pin(slot, u0);
                u1 = dot16(u1, we, wo, xo + qRow);
                pin(slot, u1);
                u2 = dot16(u2, we, wo, xo + 2 * qRow);
                pin(slot, u2);
                u3 = dot16(u3, we, wo, xo + 3 * qRow);
                pin(slot, u3);
              }
              if (N == 8) {
                u4 = dot16(u4, we, wo, xo + 4 * qRow);
                pin(slot, u4);
                u5 = dot16(u5, we, wo, xo + 5 * qRow);
                pin(slot, u5);
                u6 = dot16(u6, we, wo, xo + 6 * qRow);
                pin(slot, u6);
                u7 = dot16(u7, we, wo, xo + 7 * qRow);
                pin(slot, u7);
              }
            }
            {
              const v = q6Values(1, a, bq, hb);
              const scale = i16x8.splat(<i16>load<i8>(sc + is + 2));
              const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
              const xo = xg + 64;
              u0 = dot16(u0, we, wo, xo);
              if (N >= 4) {
                pin(slot, u0);
                u1 = dot16(u1, we, wo, xo + qRow);
                pin(slot, u1);
                u2 = dot16(u2, we, wo, xo + 2 * qRow);
                pin(slot, u2);
                u3 = dot16(u3, we, wo, xo + 3 * qRow);
                pin(slot, u3);
              }
              if (N == 8) {
                u4 = dot16(u4, we, wo, xo + 4 * qRow);
                pin(slot, u4);
                u5 = dot16(u5, we, wo, xo + 5 * qRow);
                pin(slot, u5);
                u6 = dot16(u6, we, wo, xo + 6 * qRow);
                pin(slot, u6);
                u7 = dot16(u7, we, wo, xo + 7 * qRow);
                pin(slot, u7);
              }
            }
            {
              const v = q6Values(2, a, bq, hb);
              const scale = i16x8.splat(<i16>load<i8>(sc + is + 4));
              const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
              const xo = xg + 128;
              u0 = dot16(u0, we, wo, xo);
              if (N >= 4) {
                pin(slot, u0);
                u1 = dot16(u1, we, wo, xo + qRow);
                pin(slot, u1);
                u2 = dot16(u2, we, wo, xo + 2 * qRow);
                pin(slot, u2);
                u3 = dot16(u3, we, wo, xo + 3 * qRow);
                pin(slot, u3);
              }
              if (N == 8) {
                u4 = dot16(u4, we, wo, xo + 4 * qRow);
                pin(slot, u4);
                u5 = dot16(u5, we, wo, xo + 5 * qRow);
                pin(slot, u5);
                u6 = dot16(u6, we, wo, xo + 6 * qRow);
                pin(slot, u6);
                u7 = dot16(u7, we, wo, xo + 7 * qRow);
                pin(slot, u7);
              }
            }
            {
              const v = q6Values(3, a, bq, hb);
              const scale = i16x8.splat(<i16>load<i8>(sc + is + 6));
              const we = i16x8.mul(evenBytes(v), scale), wo = i16x8.mul(oddBytes(v), scale);
              const xo = xg + 192;
              u0 = dot16(u0, we, wo, xo);
              if (N >= 4) {
                pin(slot, u0);
                u1 = dot16(u1, we, wo, xo + qRow);
                pin(slot, u1);
                u2 = dot16(u2, we, wo, xo + 2 * qRow);
                pin(slot, u2);
                u3 = dot16(u3, we, wo, xo + 3 * qRow);
                pin(slot, u3);
              }
              if (N == 8) {
                u4 = dot16(u4, we, wo, xo + 4 * qRow);
                pin(slot, u4);
                u5 = dot16(u5, we, wo, xo + 5 * qRow);
                pin(slot, u5);
                u6 = dot16(u6, we, wo, xo + 6 * qRow);
                pin(slot, u6);
                u7 = dot16(u7, we, wo, xo + 7 * qRow);
                pin(slot, u7);
              }
            }
          }
        }
      } else {
        const scales = scalesK4(wb + 4);
        const qs = wb + (kind == Q5_K ? 48 : 16);
        // Q5_K's fifth bits (loads trap, so the unused ones are not left to the optimizer).
        let h0 = i8x16.splat(0), h1 = i8x16.splat(0);
        if (kind == Q5_K) {
          h0 = v128.load(wb, 16);
          h1 = v128.load(wb, 32);
        }
        for (let k = 0; k < 4; k++) {
          const qa = v128.load(qs + (<usize>k << 5));
          const qb = v128.load(qs + (<usize>k << 5), 16);
          const xj = qp + (<usize>k << 7);
          const pair = <u32>(scales >> (<u64>k << 4)); // scales of sub-blocks 2k (low byte) and 2k+1
          // Sub-block 2k from the low nibbles, then 2k+1 from the high ones.
          {
            const scale = i16x8.splat(<i16>(pair & 0xff));
            let e0 = nibbles(qa, 0), o0 = nibbles(qa, 1);
            let e1 = nibbles(qb, 0), o1 = nibbles(qb, 1);
            if (kind == Q5_K) {
              const bit = 2 * k + 0;
              e0 = v128.or(e0, fifth(h0, bit, false));
              o0 = v128.or(o0, fifth(h0, bit, true));
              e1 = v128.or(e1, fifth(h1, bit, false));
              o1 = v128.or(o1, fifth(h1, bit, true));
            }
            e0 = i16x8.mul(e0, scale); o0 = i16x8.mul(o0, scale);
            e1 = i16x8.mul(e1, scale); o1 = i16x8.mul(o1, scale);
            const xo = xj + 0;
            u0 = dot16(dot16(u0, e0, o0, xo), e1, o1, xo + 32);
            if (N >= 4) {
              pin(slot, u0);
              u1 = dot16(dot16(u1, e0, o0, xo + qRow), e1, o1, xo + qRow + 32);
              pin(slot, u1);
              u2 = dot16(dot16(u2, e0, o0, xo + 2 * qRow), e1, o1, xo + 2 * qRow + 32);
              pin(slot, u2);
              u3 = dot16(dot16(u3, e0, o0, xo + 3 * qRow), e1, o1, xo + 3 * qRow + 32);
              pin(slot, u3);
            }
            if (N == 8) {
              u4 = dot16(dot16(u4, e0, o0, xo + 4 * qRow), e1, o1, xo + 4 * qRow + 32);
              pin(slot, u4);
              u5 = dot16(dot16(u5, e0, o0, xo + 5 * qRow), e1, o1, xo + 5 * qRow + 32);
              pin(slot, u5);
              u6 = dot16(dot16(u6, e0, o0, xo + 6 * qRow), e1, o1, xo + 6 * qRow + 32);
              pin(slot, u6);
              u7 = dot16(dot16(u7, e0, o0, xo + 7 * qRow), e1, o1, xo + 7 * qRow + 32);
              pin(slot, u7);
            }
          }
          {
            const scale = i16x8.splat(<i16>((pair >> 8) & 0xff));
            let e0 = nibbles(qa, 2), o0 = nibbles(qa, 3);
            let e1 = nibbles(qb, 2), o1 = nibbles(qb, 3);
            if (kind == Q5_K) {
              const bit = 2 * k + 1;
              e0 = v128.or(e0, fifth(h0, bit, false));
              o0 = v128.or(o0, fifth(h0, bit, true));
              e1 = v128.or(e1, fifth(h1, bit, false));
              o1 = v128.or(o1, fifth(h1, bit, true));
            }
            e0 = i16x8.mul(e0, scale); o0 = i16x8.mul(o0, scale);
            e1 = i16x8.mul(e1, scale); o1 = i16x8.mul(o1, scale);
            const xo = xj + 64;
            u0 = dot16(dot16(u0, e0, o0, xo), e1, o1, xo + 32);
            if (N >= 4) {
              pin(slot, u0);
              u1 = dot16(dot16(u1, e0, o0, xo + qRow), e1, o1, xo + qRow + 32);
              pin(slot, u1);
              u2 = dot16(dot16(u2, e0, o0, xo + 2 * qRow), e1, o1, xo + 2 * qRow + 32);
              pin(slot, u2);
              u3 = dot16(dot16(u3, e0, o0, xo + 3 * qRow), e1, o1, xo + 3 * qRow + 32);
              pin(slot, u3);
            }
            if (N == 8) {
              u4 = dot16(dot16(u4, e0, o0, xo + 4 * qRow), e1, o1, xo + 4 * qRow + 32);
              pin(slot, u4);
              u5 = dot16(dot16(u5, e0, o0, xo + 5 * qRow), e1, o1, xo + 5 * qRow + 32);
              pin(slot, u5);
              u6 = dot16(dot16(u6, e0, o0, xo + 6 * qRow), e1, o1, xo + 6 * qRow + 32);
              pin(slot, u6);
              u7 = dot16(dot16(u7, e0, o0, xo + 7 * qRow), e1, o1, xo + 7 * qRow + 32);
              pin(slot, u7);
            }
          }
        }
      }
      if (kind == Q6_K) {
        u0 = q6Offset(u0, wb + 192, sp);
        if (N == 2) u1 = q6Offset(u1, wb + 192, sp + sRow);
        if (N >= 4) {
          u1 = q6Offset(u1, wb + 192, sp + sRow);
          u2 = q6Offset(u2, wb + 192, sp + 2 * sRow);
          u3 = q6Offset(u3, wb + 192, sp + 3 * sRow);
        }
        if (N == 8) {
          u4 = q6Offset(u4, wb + 192, sp + 4 * sRow);
          u5 = q6Offset(u5, wb + 192, sp + 5 * sRow);
          u6 = q6Offset(u6, wb + 192, sp + 6 * sRow);
          u7 = q6Offset(u7, wb + 192, sp + 7 * sRow);
        }
      }
      const d = halfAt(wb + (kind == Q6_K ? 208 : 0));
      if (N >= 4) {
        const dd = f32x4.splat(d);
        const dx = v128.load(dp);
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sum4(u0, u1, u2, u3)), f32x4.mul(dd, dx)));
        // The second 4-token tile (N = 8) keeps its scales [block][token] one tile further on.
        const dx2 = N == 8 ? v128.load(dp + dTile) : dx;
        if (N == 8) accB = f32x4.add(accB, f32x4.mul(f32x4.convert_i32x4_s(sum4(u4, u5, u6, u7)), f32x4.mul(dd, dx2)));
        if (kind != Q6_K) {
          const mins = i16x8.extend_low_i8x16_u(i64x2.splat(minsK4(wb + 4)));
          const dm = f32x4.splat(halfAt(wb + 2));
          const m0 = minsDot(mins, sp);
          const m1 = minsDot(mins, sp + sRow);
          const m2 = minsDot(mins, sp + 2 * sRow);
          const m3 = minsDot(mins, sp + 3 * sRow);
          macc = f32x4.add(macc, f32x4.mul(f32x4.convert_i32x4_s(sum4(m0, m1, m2, m3)), f32x4.mul(dm, dx)));
          if (N == 8) {
            const m4 = minsDot(mins, sp + 4 * sRow);
            const m5 = minsDot(mins, sp + 5 * sRow);
            const m6 = minsDot(mins, sp + 6 * sRow);
            const m7 = minsDot(mins, sp + 7 * sRow);
            maccB = f32x4.add(maccB, f32x4.mul(f32x4.convert_i32x4_s(sum4(m4, m5, m6, m7)), f32x4.mul(dm, dx2)));
          }
        }
      } else {
        // N = 2 (relaxed build): a second tail token, whose scales follow a row of blocks on.
        const dx = load<f32>(dp);
        const dx2 = N == 2 ? load<f32>(dp + (nb << 2)) : dx;
        acc1 += <f32>hsumI32(u0) * (d * dx);
        if (N == 2) acc2 += <f32>hsumI32(u1) * (d * dx2);
        if (kind != Q6_K) {
          const mins = i16x8.extend_low_i8x16_u(i64x2.splat(minsK4(wb + 4)));
          macc1 += <f32>hsumI32(minsDot(mins, sp)) * (halfAt(wb + 2) * dx);
          if (N == 2) macc2 += <f32>hsumI32(minsDot(mins, sp + sRow)) * (halfAt(wb + 2) * dx2);
        }
      }
      wb += BB;
      qp += 256 << Q8K_VALUE_SHIFT;
      dp += N >= 4 ? 16 : 4;
      sp += 32;
    }
    if (N >= 4) {
      storeTokens(yo, yRow, f32x4.sub(acc, macc));
      if (N == 8) storeTokens(yo + 4 * yRow, yRow, f32x4.sub(accB, maccB));
    } else {
      store<f32>(yo, acc1 - macc1);
      if (N == 2) store<f32>(yo + yRow, acc2 - macc2);
    }
  }
}

/**
 * One row's f32 accumulators (lane 0: Σ d·d_x·sums, lane 1: the mins term) after the
 * super-block at wb, for one token: rowsK(1)'s float steps, in its order.
 */
@inline function superBlockStep1(kind: i32, wb: usize, qp: usize, dp: usize, sp: usize, slot: usize, am: v128): v128 {
  let u = superBlockSums1(kind, wb, qp, slot);
  const dx = load<f32>(dp);
  let acc = f32x4.extract_lane(am, 0), macc = f32x4.extract_lane(am, 1);
  if (kind == Q6_K) {
    u = q6Offset(u, wb + 192, sp);
    acc += <f32>hsumI32(u) * (halfAt(wb + 208) * dx);
  } else {
    acc += <f32>hsumI32(u) * (halfAt(wb) * dx);
    const mins = i16x8.extend_low_i8x16_u(i64x2.splat(minsK4(wb + 4)));
    macc += <f32>hsumI32(minsDot(mins, sp)) * (halfAt(wb + 2) * dx);
  }
  return f32x4.replace_lane(f32x4.splat(acc), 1, macc);
}

/**
 * One token, four rows a quarter of the range apart at a time: each thread keeps four weight
 * streams in flight (one stream from DRAM per core is latency-bound). Each row's sums and
 * their order are as for the row alone, so are its bits; the rows left over go one by one.
 */
@inline function rowsOneToken(kind: i32, y: usize, xq: usize, xd: usize, xsum: usize, w: usize, t: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  const nb = <usize>(I >> 8);
  const BB = blockBytes(kind);
  const rowBytes = nb * BB;
  const q0 = xq + ((<usize>t * I) << Q8K_VALUE_SHIFT);
  const d0 = xd + <usize>t * (nb << 2);
  const s0 = xsum + <usize>t * ((<usize>(I >> 4)) << 1);
  const yt = y + ((<usize>t * O) << 2);
  const qStep: usize = 256 << Q8K_VALUE_SHIFT;
  const part = (r1 - r0) >> 2;
  const step = <usize>part * rowBytes;
  for (let o = r0; o < r0 + part; o++) {
    const w0 = w + <usize>o * rowBytes;
    let am0 = f32x4.splat(0), am1 = f32x4.splat(0), am2 = f32x4.splat(0), am3 = f32x4.splat(0);
    for (let i: usize = 0; i < nb; i++) {
      const wi = w0 + i * BB, qp = q0 + i * qStep, dp = d0 + (i << 2), sp = s0 + (i << 5);
      am0 = superBlockStep1(kind, wi, qp, dp, sp, slot, am0);
      am1 = superBlockStep1(kind, wi + step, qp, dp, sp, slot, am1);
      am2 = superBlockStep1(kind, wi + 2 * step, qp, dp, sp, slot, am2);
      am3 = superBlockStep1(kind, wi + 3 * step, qp, dp, sp, slot, am3);
    }
    store<f32>(yt + (<usize>o << 2), f32x4.extract_lane(am0, 0) - f32x4.extract_lane(am0, 1));
    store<f32>(yt + (<usize>(o + part) << 2), f32x4.extract_lane(am1, 0) - f32x4.extract_lane(am1, 1));
    store<f32>(yt + (<usize>(o + 2 * part) << 2), f32x4.extract_lane(am2, 0) - f32x4.extract_lane(am2, 1));
    store<f32>(yt + (<usize>(o + 3 * part) << 2), f32x4.extract_lane(am3, 0) - f32x4.extract_lane(am3, 1));
  }
  for (let o = r0 + 4 * part; o < r1; o++) {
    const w0 = w + <usize>o * rowBytes;
    let am = f32x4.splat(0);
    for (let i: usize = 0; i < nb; i++) am = superBlockStep1(kind, w0 + i * BB, q0 + i * qStep, d0 + (i << 2), s0 + (i << 5), slot, am);
    store<f32>(yt + (<usize>o << 2), f32x4.extract_lane(am, 0) - f32x4.extract_lane(am, 1));
  }
}

@inline function matmulK(kind: i32, y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  let t = 0;
  for (; t + 8 <= T; t += 8) rowsK(8, kind, y, xq, xd, xsum, w, t, I, O, r0, r1, slot);
  for (; t + 4 <= T; t += 4) rowsK(4, kind, y, xq, xd, xsum, w, t, I, O, r0, r1, slot);
  // Two tail tokens share each weight decode in the relaxed build (its tiles only).
  if (ASC_FEATURE_RELAXED_SIMD) for (; t + 2 <= T; t += 2) rowsK(2, kind, y, xq, xd, xsum, w, t, I, O, r0, r1, slot);
  for (; t < T; t++) rowsOneToken(kind, y, xq, xd, xsum, w, t, I, O, r0, r1, slot);
}

export function matmul_q4_k(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  matmulK(Q4_K, y, xq, xd, xsum, w, T, I, O, r0, r1, slot);
}
export function matmul_q5_k(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  matmulK(Q5_K, y, xq, xd, xsum, w, T, I, O, r0, r1, slot);
}
export function matmul_q6_k(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  matmulK(Q6_K, y, xq, xd, xsum, w, T, I, O, r0, r1, slot);
}
