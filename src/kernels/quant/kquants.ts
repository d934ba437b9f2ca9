// K-quants: 256-weight super-blocks with per-sub-block scales, following ggml's reference
// quantizers (quantize_row_q{4,5,6}_K_ref, no importance matrix) in f32 arithmetic.
//
//   Q4_K (144 bytes): f16 d, f16 dmin, scales[12], qs[128]
//   Q5_K (176 bytes): f16 d, f16 dmin, scales[12], qh[32], qs[128]
//       8 sub-blocks of 32; sub-block j has a 6-bit scale sc_j and 6-bit min m_j packed in
//       `scales`; x = d·sc_j·q − dmin·m_j with q in 0..15 (Q4_K) or 0..31 (Q5_K).
//       Each 64 weights share 32 qs bytes: low nibble = first 32, high nibble = next 32.
//       Q5_K's fifth bit of weight 64·k + i (i < 32) is bit 2k of qh[i], of weight 64·k+32+i bit 2k+1.
//   Q6_K (210 bytes): ql[128], qh[64], int8 scales[16], f16 d
//       16 sub-blocks of 16; x = d·scale_j·(q − 32), q in 0..63. Per 128 weights: 64 ql
//       bytes (low nibbles of weights l and l+64 in byte l, of l+32 and l+96 in byte l+32)
//       and 32 qh bytes (two high bits each of weights l, l+32, l+64, l+96 in byte l).
import { QK_K } from "./formats.js";
import { readF16, writeF16 } from "./scalars.js";

const f = Math.fround; // local on purpose: see scalars.ts

/** ggml's nearest_int: round half to even of an f32 (|x| < 2^22), via the 1.5·2^23 trick. */
function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

const GROUP_MAX_EPS = f(1e-15);
const TENTH = f(0.1);

/** Scratch for one super-block, reused across blocks (the quantizers are not re-entrant). */
const L = new Uint8Array(QK_K);
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const scales = new Float32Array(QK_K / 16);
const mins = new Float32Array(QK_K / 32);
const minOut = new Float32Array(1);

/**
 * ggml's make_qkx2_quants: an asymmetric n-value quantization to 0..nmax minimising the
 * weighted error over a small search of scales. Writes L[lo..lo+n), the (positive) min to
 * minOut[0] and returns the scale.
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, lo: number,
  rmin: number, rdelta: number, nstep: number,
): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = w[0]!;
  let sumX = f(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w[i]!;
    sumW = f(sumW + wi);
    sumX = f(sumX + f(wi * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    minOut[0] = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[xo + i]! - min)))));
    L[lo + i] = l;
    const diff = f(f(f(scale * l) + min) - x[xo + i]!);
    bestError = f(bestError + f(w[i]! * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    // `min` moves to the best candidate's, and the next scales are relative to it.
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[xo + i]! - min)))));
      Laux[i] = l;
      const wl = f(w[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        curError = f(curError + f(w[i]! * f(diff * diff)));
      }
      if (curError < bestError) {
        L.set(Laux.subarray(0, n), lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  minOut[0] = -min;
  return scale;
}

/**
 * ggml's make_qx_quants with rmse_type 1 and no importance weights: a symmetric quantization
 * to −nmax..nmax−1 (stored offset by nmax in L[lo..lo+n)), searching 19 scales for the
 * smallest x²-weighted error. Returns the scale.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const quantizeAt = (iscale: number, store: boolean): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
      if (store) L[lo + i] = l + nmax;
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = quantizeAt(f(-nmax / max), true);
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = f(-f(nmax + f(TENTH * is)) / max);
    [sumlx, suml2] = quantizeAt(iscale, false);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      quantizeAt(iscale, true);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** Sub-block j's 6-bit scale from the 12 packed bytes at `o` (ggml get_scale_min_k4). */
function scaleK4(j: number, q: Uint8Array, o: number): number {
  return j < 4 ? q[o + j]! & 63 : (q[o + j + 4]! & 0x0f) | ((q[o + j - 4]! >> 6) << 4);
}

/** Sub-block j's 6-bit min from the same 12 bytes. */
function minK4(j: number, q: Uint8Array, o: number): number {
  return j < 4 ? q[o + j + 4]! & 63 : (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4);
}

/**
 * Shared by Q4_K and Q5_K: per-sub-block asymmetric quantization, then 6-bit scales and mins
 * relative to the block's d and dmin (written at y[yo], y[yo+2], y[yo+4..16)), then the
 * final levels in L requantized against the rounded scales.
 */
function quantizeScalesAndMins(x: Float32Array, xo: number, y: Uint8Array, yo: number, nmax: number, rmin: number, nstep: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < QK_K / 32; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l]! * x[xo + 32 * j + l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]!));
    scales[j] = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, 32 * j, rmin, TENTH, nstep);
    mins[j] = minOut[0]!;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const s = yo + 4;
  for (let j = 0; j < QK_K / 32; j++) {
    // nearest_int → uint8_t wraps like C before MIN(63, ·).
    const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      y[s + j] = ls;
      y[s + j + 4] = lm;
    } else {
      y[s + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
      y[s + j - 4] |= (ls >> 4) << 6;
      y[s + j] |= (lm >> 4) << 6;
    }
  }
  const d = writeF16(y, yo, f(maxScale / 63));
  const dmin = writeF16(y, yo + 2, f(maxMin / 63));
  for (let j = 0; j < QK_K / 32; j++) {
    const dj = f(d * scaleK4(j, y, s));
    if (dj === 0) continue; // keeps make_qkx2_quants' levels, as the reference does
    const dm = f(dmin * minK4(j, y, s));
    for (let i = 0; i < 32; i++) {
      L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(f(f(x[xo + 32 * j + i]! + dm) / dj))));
    }
  }
}

/** x: n values (n % 256 == 0) → y: n/256 blocks of 144 bytes. */
export function quantizeRowQ4_K(x: Float32Array, y: Uint8Array): void {
  for (let xo = 0, yo = 0; xo < x.length; xo += QK_K, yo += 144) {
    quantizeScalesAndMins(x, xo, y, yo, 15, f(-1), 20);
    for (let j = 0, q = yo + 16; j < QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) y[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
  }
}

/** x: n values (n % 256 == 0) → y: n/256 blocks of 176 bytes. */
export function quantizeRowQ5_K(x: Float32Array, y: Uint8Array): void {
  for (let xo = 0, yo = 0; xo < x.length; xo += QK_K, yo += 176) {
    quantizeScalesAndMins(x, xo, y, yo, 31, f(-0.5), 15);
    const qh = yo + 16;
    y.fill(0, qh, qh + 32);
    let m1 = 1;
    let m2 = 2;
    for (let n = 0, ql = yo + 48; n < QK_K; n += 64, ql += 32) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j]!;
        if (l1 > 15) {
          l1 -= 16;
          y[qh + j] |= m1;
        }
        let l2 = L[n + j + 32]!;
        if (l2 > 15) {
          l2 -= 16;
          y[qh + j] |= m2;
        }
        y[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
}

/** x: n values (n % 256 == 0) → y: n/256 blocks of 210 bytes. */
export function quantizeRowQ6_K(x: Float32Array, y: Uint8Array): void {
  for (let xo = 0, yo = 0; xo < x.length; xo += QK_K, yo += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < QK_K / 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xo + 16 * ib, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      y.fill(0, yo, yo + 210);
      continue;
    }
    const iscale = f(-128 / maxScale);
    const d = writeF16(y, yo + 208, f(1 / iscale));
    for (let ib = 0; ib < QK_K / 16; ib++) {
      y[yo + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]!))) & 0xff;
    }
    for (let j = 0; j < QK_K / 16; j++) {
      const dj = f(d * ((y[yo + 192 + j]! << 24) >> 24));
      if (dj === 0) continue;
      for (let i = 0; i < 16; i++) {
        L[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * j + i]! / dj)))) + 32;
      }
    }
    for (let j = 0, ql = yo, qh = yo + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b = L[j + l + 32]!;
        const c = L[j + l + 64]!;
        const e = L[j + l + 96]!;
        y[ql + l] = (a & 0x0f) | ((c & 0x0f) << 4);
        y[ql + l + 32] = (b & 0x0f) | ((e & 0x0f) << 4);
        y[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
}

/** Dequantizes Q4_K (nmaxBits 4) or Q5_K (with high bits) blocks starting at src[o]. */
function dequantizeScaleMin(src: Uint8Array, o: number, out: Float32Array, n: number, fiveBit: boolean): void {
  const blockBytes = fiveBit ? 176 : 144;
  const qsStart = fiveBit ? 48 : 16;
  for (let i = 0; i < n; i += QK_K, o += blockBytes) {
    const d = readF16(src, o);
    const dmin = readF16(src, o + 2);
    for (let k = 0; k < 4; k++) {
      const d1 = f(d * scaleK4(2 * k, src, o + 4));
      const min1 = f(dmin * minK4(2 * k, src, o + 4));
      const d2 = f(d * scaleK4(2 * k + 1, src, o + 4));
      const min2 = f(dmin * minK4(2 * k + 1, src, o + 4));
      const q = o + qsStart + 32 * k;
      const base = i + 64 * k;
      for (let l = 0; l < 32; l++) {
        const byte = src[q + l]!;
        let lo = byte & 0x0f;
        let hi = byte >> 4;
        if (fiveBit) {
          const h = src[o + 16 + l]!;
          lo += ((h >> (2 * k)) & 1) << 4;
          hi += ((h >> (2 * k + 1)) & 1) << 4;
        }
        out[base + l] = f(d1 * lo) - min1;
        out[base + 32 + l] = f(d2 * hi) - min2;
      }
    }
  }
}

export function dequantizeRowQ4_K(src: Uint8Array, o: number, out: Float32Array, n: number): void {
  dequantizeScaleMin(src, o, out, n, false);
}

export function dequantizeRowQ5_K(src: Uint8Array, o: number, out: Float32Array, n: number): void {
  dequantizeScaleMin(src, o, out, n, true);
}

export function dequantizeRowQ6_K(src: Uint8Array, o: number, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i += QK_K, o += 210) {
    const d = readF16(src, o + 208);
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half;
      const qh = o + 128 + 32 * half;
      const sc = o + 192 + 8 * half;
      const base = i + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[base + l] = f(d * ((src[sc + is]! << 24) >> 24)) * q1;
        out[base + l + 32] = f(d * ((src[sc + is + 2]! << 24) >> 24)) * q2;
        out[base + l + 64] = f(d * ((src[sc + is + 4]! << 24) >> 24)) * q3;
        out[base + l + 96] = f(d * ((src[sc + is + 6]! << 24) >> 24)) * q4;
      }
    }
  }
}
