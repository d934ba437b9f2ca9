// The 32-weight block formats, following ggml's reference quantizers (quantize_row_*_ref)
// step for step in f32 arithmetic, so the bytes match what llama.cpp writes.
//   Q8_0 (34 bytes): f16 d, int8 q[32];            x = q·d,        d = amax/127
//   Q4_0 (18 bytes): f16 d, u8 qs[16];             x = (q − 8)·d,  d = max/−8 (max: signed value of largest |x|)
//   Q5_0 (22 bytes): f16 d, u32 qh, u8 qs[16];     x = (q − 16)·d, d = max/−16
// In Q4_0/Q5_0 byte j holds weight j in its low nibble and weight j+16 in its high nibble;
// Q5_0's fifth bits are bit j (weight j) and bit j+16 (weight j+16) of qh.
import { readF16, roundAwayFromZero, writeF16 } from "./scalars.js";

const f = Math.fround;

const QK = 32;

/** x: n values (n % 32 == 0) → y: n/32 blocks of 34 bytes. */
export function quantizeRowQ8_0(x: Float32Array, y: Uint8Array): void {
  for (let b = 0, xo = 0, yo = 0; xo < x.length; b++, xo += QK, yo += 34) {
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[xo + j]!);
      if (a > amax) amax = a;
    }
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    writeF16(y, yo, d);
    for (let j = 0; j < QK; j++) y[yo + 2 + j] = roundAwayFromZero(f(x[xo + j]! * id)) & 0xff;
  }
}

export function dequantizeRowQ8_0(src: Uint8Array, o: number, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i += QK, o += 34) {
    const d = readF16(src, o);
    for (let j = 0; j < QK; j++) out[i + j] = ((src[o + 2 + j]! << 24) >> 24) * d;
  }
}

/** Signed value of the first element with the largest magnitude (ggml's `max`). */
function signedAbsMax(x: Float32Array, xo: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[xo + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** x: n values (n % 32 == 0) → y: n/32 blocks of 18 bytes. */
export function quantizeRowQ4_0(x: Float32Array, y: Uint8Array): void {
  for (let xo = 0, yo = 0; xo < x.length; xo += QK, yo += 18) {
    const d = f(signedAbsMax(x, xo) / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    writeF16(y, yo, d);
    for (let j = 0; j < 16; j++) {
      // (int8_t) cast truncates toward zero; the sums lie in [0, 16.5].
      const q0 = Math.min(15, Math.trunc(f(f(x[xo + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(x[xo + 16 + j]! * id) + 8.5)));
      y[yo + 2 + j] = q0 | (q1 << 4);
    }
  }
}

export function dequantizeRowQ4_0(src: Uint8Array, o: number, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i += QK, o += 18) {
    const d = readF16(src, o);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]!;
      out[i + j] = ((q & 0x0f) - 8) * d;
      out[i + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

/** x: n values (n % 32 == 0) → y: n/32 blocks of 22 bytes. */
export function quantizeRowQ5_0(x: Float32Array, y: Uint8Array): void {
  for (let xo = 0, yo = 0; xo < x.length; xo += QK, yo += 22) {
    const d = f(signedAbsMax(x, xo) / -16);
    const id = d !== 0 ? f(1 / d) : 0;
    writeF16(y, yo, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, Math.trunc(f(f(x[xo + j]! * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(f(f(x[xo + 16 + j]! * id) + 16.5)));
      y[yo + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) & 1) << j;
      qh |= ((q1 >> 4) & 1) << (j + 16);
    }
    y[yo + 2] = qh & 0xff;
    y[yo + 3] = (qh >>> 8) & 0xff;
    y[yo + 4] = (qh >>> 16) & 0xff;
    y[yo + 5] = qh >>> 24;
  }
}

export function dequantizeRowQ5_0(src: Uint8Array, o: number, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i += QK, o += 22) {
    const d = readF16(src, o);
    const qh = (src[o + 2]! | (src[o + 3]! << 8) | (src[o + 4]! << 16) | (src[o + 5]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j]!;
      out[i + j] = (((q & 0x0f) | (((qh >>> j) & 1) << 4)) - 16) * d;
      out[i + j + 16] = (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
    }
  }
}
