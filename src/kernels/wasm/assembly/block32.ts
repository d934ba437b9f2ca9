// Quantized weights in 32-value blocks (ggml Q8_0, Q4_0, Q5_0) times activations quantized
// to q8_32 (see quantize.ts): per block an exact integer dot product Σ q_w·q_x, scaled by
// d_w·d_x and accumulated in f32 — llama.cpp's vec_dot_q{8,4,5}_0_q8_0.
//   y: f32 [T, O]; xq: int16 [T, I]; xd: f32 [T, I/32]; W: [O] rows of I/32 blocks.
// Four activation rows share each decoded weight block; the 1-row tail runs the same
// per-output sequence of operations, so results do not depend on tiling or threads.
import { dot32, halfAt, hsum, scaleAdd } from "./common";

const Q8_0: i32 = 0;
const Q4_0: i32 = 1;
const Q5_0: i32 = 2;

@inline function blockBytes(kind: i32): usize {
  return kind == Q8_0 ? 34 : kind == Q4_0 ? 18 : 22;
}

/** Bit j of each byte lane's selected qh byte, for Q5_0's fifth bits. */
@inline function fifthBits(qhv: v128, select: v128): v128 {
  const bit = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const bytes = i8x16.swizzle(qhv, select);
  return v128.and(i8x16.eq(v128.and(bytes, bit), bit), i8x16.splat(0x10));
}

/**
 * The block at `wb` as int8 values: elements 0..15 here, 16..31 from blockHi (two
 * functions because AssemblyScript returns one value; both inline).
 */
@inline function blockLo(kind: i32, wb: usize): v128 {
  if (kind == Q8_0) return v128.load(wb, 2);
  if (kind == Q4_0) return i8x16.sub(v128.and(v128.load(wb, 2), i8x16.splat(0x0f)), i8x16.splat(8));
  const qh = i32x4.splat(load<u32>(wb, 2));
  const sel = i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return i8x16.sub(v128.or(v128.and(v128.load(wb, 6), i8x16.splat(0x0f)), fifthBits(qh, sel)), i8x16.splat(16));
}
@inline function blockHi(kind: i32, wb: usize): v128 {
  if (kind == Q8_0) return v128.load(wb, 18);
  if (kind == Q4_0) return i8x16.sub(v128.and(i16x8.shr_u(v128.load(wb, 2), 4), i8x16.splat(0x0f)), i8x16.splat(8));
  const qh = i32x4.splat(load<u32>(wb, 2));
  const sel = i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  return i8x16.sub(v128.or(v128.and(i16x8.shr_u(v128.load(wb, 6), 4), i8x16.splat(0x0f)), fifthBits(qh, sel)), i8x16.splat(16));
}

@inline function rowsBlock32(kind: i32, y: usize, xq: usize, xd: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  const nb = <usize>(I >> 5);
  const BB = blockBytes(kind);
  const rowBytes = nb * BB;
  const qRow = <usize>I << 1; // int16 activations
  const dRow = nb << 2;
  const yRow = <usize>O << 2;
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const q0 = xq + <usize>t * qRow;
    const d0 = xd + <usize>t * dRow;
    for (let o = r0; o < r1; o++) {
      let wb = w + <usize>o * rowBytes;
      const end = wb + rowBytes;
      let qp = q0, dp = d0;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      while (wb < end) {
        const dw = halfAt(wb);
        const lo = blockLo(kind, wb);
        const hi = blockHi(kind, wb);
        const w0 = i16x8.extend_low_i8x16_s(lo), w1 = i16x8.extend_high_i8x16_s(lo);
        const w2 = i16x8.extend_low_i8x16_s(hi), w3 = i16x8.extend_high_i8x16_s(hi);
        a0 = scaleAdd(a0, dot32(w0, w1, w2, w3, qp), dw * load<f32>(dp));
        a1 = scaleAdd(a1, dot32(w0, w1, w2, w3, qp + qRow), dw * load<f32>(dp + dRow));
        a2 = scaleAdd(a2, dot32(w0, w1, w2, w3, qp + 2 * qRow), dw * load<f32>(dp + 2 * dRow));
        a3 = scaleAdd(a3, dot32(w0, w1, w2, w3, qp + 3 * qRow), dw * load<f32>(dp + 3 * dRow));
        wb += BB;
        qp += 64;
        dp += 4;
      }
      const yo = y + ((<usize>t * O + o) << 2);
      store<f32>(yo, hsum(a0));
      store<f32>(yo + yRow, hsum(a1));
      store<f32>(yo + 2 * yRow, hsum(a2));
      store<f32>(yo + 3 * yRow, hsum(a3));
    }
  }
  for (; t < T; t++) {
    const q0 = xq + <usize>t * qRow;
    const d0 = xd + <usize>t * dRow;
    for (let o = r0; o < r1; o++) {
      let wb = w + <usize>o * rowBytes;
      const end = wb + rowBytes;
      let qp = q0, dp = d0;
      let a0 = f32x4.splat(0);
      while (wb < end) {
        const dw = halfAt(wb);
        const lo = blockLo(kind, wb);
        const hi = blockHi(kind, wb);
        const w0 = i16x8.extend_low_i8x16_s(lo), w1 = i16x8.extend_high_i8x16_s(lo);
        const w2 = i16x8.extend_low_i8x16_s(hi), w3 = i16x8.extend_high_i8x16_s(hi);
        a0 = scaleAdd(a0, dot32(w0, w1, w2, w3, qp), dw * load<f32>(dp));
        wb += BB;
        qp += 64;
        dp += 4;
      }
      store<f32>(y + ((<usize>t * O + o) << 2), hsum(a0));
    }
  }
}

export function matmul_q8_0(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  rowsBlock32(Q8_0, y, xq, xd, w, T, I, O, r0, r1);
}
export function matmul_q4_0(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  rowsBlock32(Q4_0, y, xq, xd, w, T, I, O, r0, r1);
}
export function matmul_q5_0(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32): void {
  rowsBlock32(Q5_0, y, xq, xd, w, T, I, O, r0, r1);
}
