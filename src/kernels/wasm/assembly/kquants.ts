// K-quant weights (ggml Q4_K, Q5_K, Q6_K; 256-value super-blocks) times activations
// quantized to q8_k (see quantize.ts), following llama.cpp's vec_dot_q{4,5,6}_K_q8_K:
// integer dot products per sub-block, times the sub-block's integer scale, summed in int32
// per super-block, then scaled by d_w·d_x in f32; Q4_K/Q5_K subtract dmin·d_x·Σ_j m_j·Σ q_x
// over sub-block j, from the per-32 activation sums.
//   y: f32 [T, O]; xq: int16 [T, I]; xd: f32 [T, I/256]; xsum: int16 [T, I/32].
// `rowsK` is written once for a tile of N = 4 or N = 1 activation rows (constant after
// inlining); every output runs the same operations in either, so tiling and threads do
// not change results.
import { dot16, dot32, halfAt, hsum, scaleAdd } from "./common";

const Q4_K: i32 = 0;
const Q5_K: i32 = 1;
const Q6_K: i32 = 2;

@inline function blockBytes(kind: i32): usize {
  return kind == Q4_K ? 144 : kind == Q5_K ? 176 : 210;
}

/** sumi + (Σ of 32 products) · scale. */
@inline function sub32(sumi: v128, w0: v128, w1: v128, w2: v128, w3: v128, x: usize, scale: v128): v128 {
  return i32x4.add(sumi, i32x4.mul(dot32(w0, w1, w2, w3, x), scale));
}
/** sumi + (Σ of 16 products) · scale. */
@inline function sub16(sumi: v128, w0: v128, w1: v128, x: usize, scale: v128): v128 {
  return i32x4.add(sumi, i32x4.mul(dot16(w0, w1, x), scale));
}

/** Q5_K's fifth bit (mask m in qh) as 0x10 per byte. */
@inline function fifth(qh: v128, m: v128): v128 {
  return v128.and(i8x16.eq(v128.and(qh, m), m), i8x16.splat(0x10));
}

/** Group g (0..3) of a Q6_K half: 16 values in −32..31 from low bits a/bq and high bits hb. */
@inline function q6Values(g: i32, a: v128, bq: v128, hb: v128): v128 {
  const low4 = i8x16.splat(0x0f);
  const m30 = i8x16.splat(0x30);
  let v: v128;
  if (g == 0) v = v128.or(v128.and(a, low4), v128.and(i16x8.shl(hb, 4), m30));
  else if (g == 1) v = v128.or(v128.and(bq, low4), v128.and(i16x8.shl(hb, 2), m30));
  else if (g == 2) v = v128.or(v128.and(i16x8.shr_u(a, 4), low4), v128.and(hb, m30));
  else v = v128.or(v128.and(i16x8.shr_u(bq, 4), low4), v128.and(i16x8.shr_u(hb, 2), m30));
  return i8x16.sub(v, i8x16.splat(32));
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

/** One Q6_K group: decode, then the tile's rows. */
@inline function q6Group(N: i32, u: v128, wl: v128, wh: v128, x: usize, qRow: usize, scale: v128, t: i32): v128 {
  return sub16(u, wl, wh, x + <usize>t * qRow, scale);
}

@inline function rowsK(N: i32, kind: i32, y: usize, xq: usize, xd: usize, xsum: usize, w: usize, t: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  const nb = <usize>(I >> 8);
  const BB = blockBytes(kind);
  const rowBytes = nb * BB;
  const qRow = <usize>I << 1;
  const dRow = nb << 2;
  const sRow = <usize>(I >> 5) << 1;
  const yRow = <usize>O << 2;
  const q0 = xq + <usize>t * qRow;
  const d0 = xd + <usize>t * dRow;
  const s0 = xsum + <usize>t * sRow;
  const low4 = i8x16.splat(0x0f);
  for (let o = r0; o < r1; o++) {
    let wb = w + <usize>o * rowBytes;
    const end = wb + rowBytes;
    let qp = q0, dp = d0, sp = s0;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let m0 = f32x4.splat(0), m1 = f32x4.splat(0), m2 = f32x4.splat(0), m3 = f32x4.splat(0);
    while (wb < end) {
      let u0 = i32x4.splat(0), u1 = i32x4.splat(0), u2 = i32x4.splat(0), u3 = i32x4.splat(0);
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
            // The four 16-value groups c.., 32+c.., 64+c.., 96+c.. of this half, unrolled so
            // the group number is a constant.
            const xg = xh + (c << 1);
            let v = q6Values(0, a, bq, hb);
            let wl = i16x8.extend_low_i8x16_s(v), wh = i16x8.extend_high_i8x16_s(v);
            let scale = i32x4.splat(<i32>load<i8>(sc + is));
            u0 = q6Group(N, u0, wl, wh, xg, qRow, scale, 0);
            if (N == 4) { u1 = q6Group(N, u1, wl, wh, xg, qRow, scale, 1); u2 = q6Group(N, u2, wl, wh, xg, qRow, scale, 2); u3 = q6Group(N, u3, wl, wh, xg, qRow, scale, 3); }
            v = q6Values(1, a, bq, hb);
            wl = i16x8.extend_low_i8x16_s(v); wh = i16x8.extend_high_i8x16_s(v);
            scale = i32x4.splat(<i32>load<i8>(sc + is + 2));
            u0 = q6Group(N, u0, wl, wh, xg + 64, qRow, scale, 0);
            if (N == 4) { u1 = q6Group(N, u1, wl, wh, xg + 64, qRow, scale, 1); u2 = q6Group(N, u2, wl, wh, xg + 64, qRow, scale, 2); u3 = q6Group(N, u3, wl, wh, xg + 64, qRow, scale, 3); }
            v = q6Values(2, a, bq, hb);
            wl = i16x8.extend_low_i8x16_s(v); wh = i16x8.extend_high_i8x16_s(v);
            scale = i32x4.splat(<i32>load<i8>(sc + is + 4));
            u0 = q6Group(N, u0, wl, wh, xg + 128, qRow, scale, 0);
            if (N == 4) { u1 = q6Group(N, u1, wl, wh, xg + 128, qRow, scale, 1); u2 = q6Group(N, u2, wl, wh, xg + 128, qRow, scale, 2); u3 = q6Group(N, u3, wl, wh, xg + 128, qRow, scale, 3); }
            v = q6Values(3, a, bq, hb);
            wl = i16x8.extend_low_i8x16_s(v); wh = i16x8.extend_high_i8x16_s(v);
            scale = i32x4.splat(<i32>load<i8>(sc + is + 6));
            u0 = q6Group(N, u0, wl, wh, xg + 192, qRow, scale, 0);
            if (N == 4) { u1 = q6Group(N, u1, wl, wh, xg + 192, qRow, scale, 1); u2 = q6Group(N, u2, wl, wh, xg + 192, qRow, scale, 2); u3 = q6Group(N, u3, wl, wh, xg + 192, qRow, scale, 3); }
          }
        }
        const d = halfAt(wb + 208);
        a0 = scaleAdd(a0, u0, d * load<f32>(dp));
        if (N == 4) {
          a1 = scaleAdd(a1, u1, d * load<f32>(dp + dRow));
          a2 = scaleAdd(a2, u2, d * load<f32>(dp + 2 * dRow));
          a3 = scaleAdd(a3, u3, d * load<f32>(dp + 3 * dRow));
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
          // Sub-block 2k: the low nibbles.
          let la = v128.and(qa, low4), lb = v128.and(qb, low4);
          if (kind == Q5_K) {
            const bit: i32 = 1 << (2 * k);
            const m = i8x16.splat(<i8>bit);
            la = v128.or(la, fifth(h0, m));
            lb = v128.or(lb, fifth(h1, m));
          }
          let w0 = i16x8.extend_low_i8x16_u(la), w1 = i16x8.extend_high_i8x16_u(la);
          let w2 = i16x8.extend_low_i8x16_u(lb), w3 = i16x8.extend_high_i8x16_u(lb);
          let scale = i32x4.splat(pair & 0xff);
          u0 = sub32(u0, w0, w1, w2, w3, xj, scale);
          if (N == 4) { u1 = sub32(u1, w0, w1, w2, w3, xj + qRow, scale); u2 = sub32(u2, w0, w1, w2, w3, xj + 2 * qRow, scale); u3 = sub32(u3, w0, w1, w2, w3, xj + 3 * qRow, scale); }
          // Sub-block 2k + 1: the high nibbles.
          la = v128.and(i16x8.shr_u(qa, 4), low4);
          lb = v128.and(i16x8.shr_u(qb, 4), low4);
          if (kind == Q5_K) {
            const bit: i32 = 2 << (2 * k);
            const m = i8x16.splat(<i8>bit);
            la = v128.or(la, fifth(h0, m));
            lb = v128.or(lb, fifth(h1, m));
          }
          w0 = i16x8.extend_low_i8x16_u(la); w1 = i16x8.extend_high_i8x16_u(la);
          w2 = i16x8.extend_low_i8x16_u(lb); w3 = i16x8.extend_high_i8x16_u(lb);
          scale = i32x4.splat((pair >> 8) & 0xff);
          u0 = sub32(u0, w0, w1, w2, w3, xj + 64, scale);
          if (N == 4) { u1 = sub32(u1, w0, w1, w2, w3, xj + qRow + 64, scale); u2 = sub32(u2, w0, w1, w2, w3, xj + 2 * qRow + 64, scale); u3 = sub32(u3, w0, w1, w2, w3, xj + 3 * qRow + 64, scale); }
        }
        // Σ_j m_j · (Σ of sub-block j's activations): 8 int16 mins against 8 int16 sums.
        const mins = i16x8.extend_low_i8x16_u(i64x2.splat(minsK4(wb + 4)));
        const d = halfAt(wb);
        const dmin = halfAt(wb + 2);
        const x0 = load<f32>(dp);
        a0 = scaleAdd(a0, u0, d * x0);
        m0 = scaleAdd(m0, i32x4.dot_i16x8_s(mins, v128.load(sp)), dmin * x0);
        if (N == 4) {
          const x1 = load<f32>(dp + dRow), x2 = load<f32>(dp + 2 * dRow), x3 = load<f32>(dp + 3 * dRow);
          a1 = scaleAdd(a1, u1, d * x1);
          a2 = scaleAdd(a2, u2, d * x2);
          a3 = scaleAdd(a3, u3, d * x3);
          m1 = scaleAdd(m1, i32x4.dot_i16x8_s(mins, v128.load(sp + sRow)), dmin * x1);
          m2 = scaleAdd(m2, i32x4.dot_i16x8_s(mins, v128.load(sp + 2 * sRow)), dmin * x2);
          m3 = scaleAdd(m3, i32x4.dot_i16x8_s(mins, v128.load(sp + 3 * sRow)), dmin * x3);
        }
      }
      wb += BB;
      qp += 512;
      dp += 4;
      sp += 16;
    }
    const yo = y + ((<usize>t * O + o) << 2);
    store<f32>(yo, hsum(a0) - hsum(m0));
    if (N == 4) {
      store<f32>(yo + yRow, hsum(a1) - hsum(m1));
      store<f32>(yo + 2 * yRow, hsum(a2) - hsum(m2));
      store<f32>(yo + 3 * yRow, hsum(a3) - hsum(m3));
    }
  }
}

@inline function matmulK(kind: i32, y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  let t = 0;
  for (; t + 4 <= T; t += 4) rowsK(4, kind, y, xq, xd, xsum, w, t, I, O, r0, r1);
  for (; t < T; t++) rowsK(1, kind, y, xq, xd, xsum, w, t, I, O, r0, r1);
}

export function matmul_q4_k(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  matmulK(Q4_K, y, xq, xd, xsum, w, T, I, O, r0, r1);
}
export function matmul_q5_k(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  matmulK(Q5_K, y, xq, xd, xsum, w, T, I, O, r0, r1);
}
export function matmul_q6_k(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  matmulK(Q6_K, y, xq, xd, xsum, w, T, I, O, r0, r1);
}
