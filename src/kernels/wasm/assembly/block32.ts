// Quantized weights in 32-value blocks (ggml Q8_0, Q4_0, Q5_0) times activations quantized
// to q8_32 (see quantize.ts): per block an exact integer dot product Σ q_w·q_x, scaled by
// d_w·d_x and accumulated in f32 — llama.cpp's vec_dot_q{8,4,5}_0_q8_0.
//   y: f32 [T, O]; xq: int16 [T, I], each 16 values stored evens first (see quantize.ts);
//   xd: f32 [T, I/32]; W: [O] rows of I/32 blocks.
// Weight bytes are not sign-extended: a 16-byte vector read as eight int16 lanes holds the
// even weights ×256 after a left shift by 8 and the odd weights ×256 after masking the low
// bytes, one instruction each, so i32x4.dot_i16x8_s takes them against the even and odd
// activations directly; the 256 is folded into the activation scales, stored as d_x/256
// (exact: a power of two).
// Four activation rows share each decoded weight block (prefill, batched decode); one row
// takes two weight rows at a time (decode). Every output runs the same sequence of
// operations in each tiling, so results do not depend on tiling or threads.
import { halfAt, hsumI32, pin, storeTokens, sum4 } from "./common";

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

/** Even bytes of 16 as int16 lanes ×256. */
@inline function evens(b: v128): v128 {
  return i16x8.shl(b, 8);
}
/** Odd bytes of 16 as int16 lanes ×256. */
@inline function odds(b: v128): v128 {
  return v128.and(b, i16x8.splat(<i16>0xff00));
}

/** Σ of 32 products ×256: weights as evens/odds of two byte vectors, activations at x (evens first per 16). */
@inline function dotBlock(lo: v128, hi: v128, x: usize): v128 {
  const a = i32x4.add(i32x4.dot_i16x8_s(evens(lo), v128.load(x)), i32x4.dot_i16x8_s(odds(lo), v128.load(x, 16)));
  const b = i32x4.add(i32x4.dot_i16x8_s(evens(hi), v128.load(x, 32)), i32x4.dot_i16x8_s(odds(hi), v128.load(x, 48)));
  return i32x4.add(a, b);
}


// Every output accumulates, block by block and in f32, f32(exact integer block sum) ·
// (d_w·(d_x/256)); the tiles below only choose which four outputs share a vector.
//   4 tokens × 1 row (prefill, batched decode): the decoded weight block is shared.
//   1 token × 4 blocks of one row (decode).
// Activation scales of each full 4-token tile are stored [block][token] (quantize.ts).

@inline function rowsBlock32(kind: i32, y: usize, xq: usize, xd: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  const nb = <usize>(I >> 5);
  const BB = blockBytes(kind);
  const rowBytes = nb * BB;
  const qRow = <usize>I << 1; // int16 activations
  const yRow = <usize>O << 2;
  let t = 0;
  // Eight tokens: two 4-token tiles sharing each decoded weight block (prefill).
  for (; t + 8 <= T; t += 8) {
    const q0 = xq + <usize>t * qRow;
    const d0 = xd + <usize>t * (nb << 2); // the two tiles' [block][token] scales
    const dTile = nb << 4;
    for (let o = r0; o < r1; o++) {
      let wb = w + <usize>o * rowBytes;
      const end = wb + rowBytes;
      let qp = q0, dp = d0;
      const yo = y + ((<usize>t * O + o) << 2);
      let acc = f32x4.splat(0), acc2 = f32x4.splat(0);
      while (wb < end) {
        const lo = blockLo(kind, wb);
        const hi = blockHi(kind, wb);
        const dw = f32x4.splat(halfAt(wb));
        let s0 = dotBlock(lo, hi, qp);
        pin(slot, s0);
        let s1 = dotBlock(lo, hi, qp + qRow);
        pin(slot, s1);
        let s2 = dotBlock(lo, hi, qp + 2 * qRow);
        pin(slot, s2);
        let s3 = dotBlock(lo, hi, qp + 3 * qRow);
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sum4(s0, s1, s2, s3)), f32x4.mul(dw, v128.load(dp))));
        pin(slot, acc);
        const q4 = qp + 4 * qRow;
        s0 = dotBlock(lo, hi, q4);
        pin(slot, s0);
        s1 = dotBlock(lo, hi, q4 + qRow);
        pin(slot, s1);
        s2 = dotBlock(lo, hi, q4 + 2 * qRow);
        pin(slot, s2);
        s3 = dotBlock(lo, hi, q4 + 3 * qRow);
        acc2 = f32x4.add(acc2, f32x4.mul(f32x4.convert_i32x4_s(sum4(s0, s1, s2, s3)), f32x4.mul(dw, v128.load(dp + dTile))));
        wb += BB;
        qp += 64;
        dp += 16;
      }
      storeTokens(yo, yRow, acc);
      storeTokens(yo + 4 * yRow, yRow, acc2);
    }
  }
  for (; t + 4 <= T; t += 4) {
    const q0 = xq + <usize>t * qRow;
    const d0 = xd + <usize>t * (nb << 2); // this tile's [block][token] scales
    for (let o = r0; o < r1; o++) {
      let wb = w + <usize>o * rowBytes;
      const end = wb + rowBytes;
      let qp = q0, dp = d0;
      const yo = y + ((<usize>t * O + o) << 2);
      let acc = f32x4.splat(0); // [token t, t+1, t+2, t+3]
      while (wb < end) {
        const lo = blockLo(kind, wb);
        const hi = blockHi(kind, wb);
        const s0 = dotBlock(lo, hi, qp);
        pin(slot, s0);
        const s1 = dotBlock(lo, hi, qp + qRow);
        pin(slot, s1);
        const s2 = dotBlock(lo, hi, qp + 2 * qRow);
        pin(slot, s2);
        const s3 = dotBlock(lo, hi, qp + 3 * qRow);
        const scale = f32x4.mul(f32x4.splat(halfAt(wb)), v128.load(dp));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sum4(s0, s1, s2, s3)), scale));
        wb += BB;
        qp += 64;
        dp += 16;
      }
      storeTokens(yo, yRow, acc);
    }
  }
  for (; t < T; t++) {
    const q0 = xq + <usize>t * qRow;
    const d0 = xd + <usize>t * (nb << 2);
    const yt = y + ((<usize>t * O) << 2);
    // Four rows a quarter of the range apart at a time: four weight streams per thread (one
    // stream from DRAM per core is latency-bound); each row's sum runs as it would alone.
    const part = (r1 - r0) >> 2;
    for (let o = r0; o < r0 + part; o++) {
      const w0 = w + <usize>o * rowBytes, step = <usize>part * rowBytes;
      let a0: f32 = 0; let a1: f32 = 0; let a2: f32 = 0; let a3: f32 = 0;
      const nb4 = nb & ~3;
      let i: usize = 0;
      for (; i < nb4; i += 4) {
        a0 = rowStep4(kind, w0 + 0 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a0, slot);
        a1 = rowStep4(kind, w0 + 1 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a1, slot);
        a2 = rowStep4(kind, w0 + 2 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a2, slot);
        a3 = rowStep4(kind, w0 + 3 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a3, slot);
      }
      for (; i < nb; i++) {
        a0 = rowStep1(kind, w0 + 0 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a0);
        a1 = rowStep1(kind, w0 + 1 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a1);
        a2 = rowStep1(kind, w0 + 2 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a2);
        a3 = rowStep1(kind, w0 + 3 * step + i * BB, q0 + (i << 6), d0 + (i << 2), a3);
      }
      store<f32>(yt + (<usize>(o + 0 * part) << 2), a0);
      store<f32>(yt + (<usize>(o + 1 * part) << 2), a1);
      store<f32>(yt + (<usize>(o + 2 * part) << 2), a2);
      store<f32>(yt + (<usize>(o + 3 * part) << 2), a3);
    }
    for (let o = r0 + 4 * part; o < r1; o++) {
      const wa = w + <usize>o * rowBytes;
      let acc: f32 = 0;
      const nb4 = nb & ~3;
      let i: usize = 0;
      for (; i < nb4; i += 4) acc = rowStep4(kind, wa + i * BB, q0 + (i << 6), d0 + (i << 2), acc, slot);
      for (; i < nb; i++) acc = rowStep1(kind, wa + i * BB, q0 + (i << 6), d0 + (i << 2), acc);
      store<f32>(yt + (<usize>o << 2), acc);
    }
  }
}

/** acc + four blocks of one row (at wb; activations at qp, scales at dp), as one token's decode adds them. */
@inline function rowStep4(kind: i32, wb: usize, qp: usize, dp: usize, acc: f32, slot: usize): f32 {
  const BB = blockBytes(kind);
  const w1 = wb + BB, w2 = wb + 2 * BB, w3 = wb + 3 * BB;
  const s0 = dotBlock(blockLo(kind, wb), blockHi(kind, wb), qp);
  pin(slot, s0);
  const s1 = dotBlock(blockLo(kind, w1), blockHi(kind, w1), qp + 64);
  pin(slot, s1);
  const s2 = dotBlock(blockLo(kind, w2), blockHi(kind, w2), qp + 128);
  pin(slot, s2);
  const s3 = dotBlock(blockLo(kind, w3), blockHi(kind, w3), qp + 192);
  let dw = f32x4.splat(halfAt(wb));
  dw = f32x4.replace_lane(dw, 1, halfAt(w1));
  dw = f32x4.replace_lane(dw, 2, halfAt(w2));
  dw = f32x4.replace_lane(dw, 3, halfAt(w3));
  const scale = f32x4.mul(dw, v128.load(dp));
  const p = f32x4.mul(f32x4.convert_i32x4_s(sum4(s0, s1, s2, s3)), scale);
  return (((acc + f32x4.extract_lane(p, 0)) + f32x4.extract_lane(p, 1)) + f32x4.extract_lane(p, 2)) + f32x4.extract_lane(p, 3);
}

/** acc + one block (the tail of a row whose length is not a multiple of four blocks). */
@inline function rowStep1(kind: i32, wb: usize, qp: usize, dp: usize, acc: f32): f32 {
  const s = hsumI32(dotBlock(blockLo(kind, wb), blockHi(kind, wb), qp));
  return acc + <f32>s * (halfAt(wb) * load<f32>(dp));
}

export function matmul_q8_0(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  rowsBlock32(Q8_0, y, xq, xd, w, T, I, O, r0, r1, slot);
}
export function matmul_q4_0(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  rowsBlock32(Q4_0, y, xq, xd, w, T, I, O, r0, r1, slot);
}
export function matmul_q5_0(y: usize, xq: usize, xd: usize, xsum: usize, w: usize, T: i32, I: i32, O: i32, r0: i32, r1: i32, slot: usize): void {
  rowsBlock32(Q5_0, y, xq, xd, w, T, I, O, r0, r1, slot);
}
