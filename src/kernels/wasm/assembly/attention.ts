// Attention of a block of query tokens against a KV cache read in place: one row kernel per
// KV element type (f32, f16, ggml Q8_0). A "row" is one (token, head) unit: u = t·H + h.
// For each unit: scores[j] = scale · q·K[lo+j] over the token's visible rows, softmax (the
// same routine as `softmax`), out = Σ_j p[j]·V[lo+j]. Threads split [0, T·H) into chunks; each
// chunk works in its own slot of the scores region.
//
// Parameter block (i32 words at `params`):
//   0 H, 1 Hkv, 2 d, 3 p0 (absolute position of token 0), 4 start (absolute position of
//   cache row 0), 5 chunk (0: global), 6 rowBytes (one cached row, all KV heads), 7 scale
//   (f32 bits), 8 scores region, 9 bytes per chunk slot, 10 units per chunk, 11 bytes of
//   scores per head (a slot holds H/Hkv heads' scores, then one widened row of d floats),
//   12 units in the call.
// Chunk [r0, r1) covers units [R − r1, R − r0): threads claim chunks in order, so the last
// tokens (the longest rows of a causal prefill) go first and the short ones fill the tail.
// q and out: f32 [T, H, d]. k, v: cache row 0 of keys / values.
import { halfAt, halfToF32, halvesToF32, sum4f } from "./common";
import { axpyF32, dotF32, expF32, expShiftInPlace, softmax } from "./ops";

const KV_F32: i32 = 0;
const KV_F16: i32 = 1;
const KV_Q8_0: i32 = 2;

/** Four f16 (sign-extended to i32 lanes) → f32x4, infinities and NaN included. */
@inline function widenHalves(lanes: v128): v128 {
  return halvesToF32(i32x4.shl(lanes, 13), true);
}


/**
 * f32 cache, d a multiple of 16: scores of four keys at a time (one vector of four dot
 * products, no horizontal sum per key), then the values accumulated 16 floats at a time in
 * registers (out written once, not read and written per key). Same order of additions per
 * output element as attn_accumulate, so only the scores round differently from attn_scores.
 */
@inline function scoresF32x4(slot: usize, headScores: usize, qp: usize, dBytes: usize, kr: usize, rowBytes: usize, n: i32, heads: i32, scale: f32): void {
  const sv = f32x4.splat(scale);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const k0 = kr + <usize>j * rowBytes, k1 = k0 + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
    for (let g = 0; g < heads; g++) {
      const qg = qp + <usize>g * dBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let i: usize = 0; i < dBytes; i += 16) {
        const qv = v128.load(qg + i);
        a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + i)));
        a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + i)));
        a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + i)));
        a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + i)));
      }
      v128.store(slot + <usize>g * headScores + (<usize>j << 2), f32x4.mul(sum4f(a0, a1, a2, a3), sv));
    }
  }
  for (; j < n; j++) {
    const kj = kr + <usize>j * rowBytes;
    for (let g = 0; g < heads; g++) {
      const qg = qp + <usize>g * dBytes;
      let a0 = f32x4.splat(0);
      for (let i: usize = 0; i < dBytes; i += 16) a0 = f32x4.add(a0, f32x4.mul(v128.load(qg + i), v128.load(kj + i)));
      store<f32>(slot + <usize>g * headScores + (<usize>j << 2), f32x4.extract_lane(f32x4.mul(sum4f(a0, a0, a0, a0), sv), 0));
    }
  }
}

@inline function valuesF32x16(slot: usize, headScores: usize, op: usize, dBytes: usize, vr: usize, rowBytes: usize, n: i32, heads: i32): void {
  for (let g = 0; g < heads; g++) {
    const o = op + <usize>g * dBytes;
    const pr = slot + <usize>g * headScores;
    for (let c: usize = 0; c < dBytes; c += 64) {
      let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0), o3 = f32x4.splat(0);
      let vrow = vr + c;
      for (let j = 0; j < n; j++) {
        const p = f32x4.splat(load<f32>(pr + (<usize>j << 2)));
        o0 = f32x4.add(o0, f32x4.mul(p, v128.load(vrow)));
        o1 = f32x4.add(o1, f32x4.mul(p, v128.load(vrow, 16)));
        o2 = f32x4.add(o2, f32x4.mul(p, v128.load(vrow, 32)));
        o3 = f32x4.add(o3, f32x4.mul(p, v128.load(vrow, 48)));
        vrow += rowBytes;
      }
      v128.store(o + c, o0);
      v128.store(o + c, o1, 16);
      v128.store(o + c, o2, 32);
      v128.store(o + c, o3, 48);
    }
  }
}

/**
 * One head of one cached row as f32: the row itself when stored as f32, else widened into
 * `buf` (d floats): f16 exactly (infinities and NaN included), q8_0 as q·d per block.
 */
@inline function rowF32(src: usize, buf: usize, d: i32, type: i32): usize {
  if (type == KV_F32) return src;
  if (type == KV_F16) {
    let i = 0;
    for (; i + 8 <= d; i += 8) {
      const raw = v128.load(src + (<usize>i << 1));
      const o = buf + (<usize>i << 2);
      v128.store(o, widenHalves(i32x4.extend_low_i16x8_s(raw)));
      v128.store(o, widenHalves(i32x4.extend_high_i16x8_s(raw)), 16);
    }
    for (; i < d; i++) store<f32>(buf + (<usize>i << 2), halfToF32(load<u16>(src + (<usize>i << 1))));
    return buf;
  }
  // q8_0: d is a multiple of 32.
  const blocks = d >> 5;
  for (let b = 0; b < blocks; b++) {
    const blk = src + <usize>b * 34;
    const o = buf + (<usize>b << 7);
    const s = f32x4.splat(halfAt(blk));
    const x = v128.load(blk, 2);
    const y = v128.load(blk, 18);
    const x0 = i16x8.extend_low_i8x16_s(x), x1 = i16x8.extend_high_i8x16_s(x);
    const y0 = i16x8.extend_low_i8x16_s(y), y1 = i16x8.extend_high_i8x16_s(y);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(x0))));
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(x0))), 16);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(x1))), 32);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(x1))), 48);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(y0))), 64);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(y0))), 80);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(y1))), 96);
    v128.store(o, f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(y1))), 112);
  }
  return buf;
}

/**
 * Units [r0, r1) are taken in runs that share a token and a KV head (the query heads of one
 * GQA group, clipped to the range): each cached row is widened once per run and used by
 * every head of it. Per head the arithmetic is that of attn_scores / softmax /
 * attn_accumulate, so an f32 cache gives the per-head kernels' results bit for bit.
 */
@inline function attnRows(params: usize, q: usize, out: usize, k: usize, v: usize, c0: i32, c1: i32, type: i32): void {
  const H = load<i32>(params);
  const Hkv = load<i32>(params, 4);
  const d = load<i32>(params, 8);
  const p0 = load<i32>(params, 12);
  const start = load<i32>(params, 16);
  const chunk = load<i32>(params, 20);
  const rowBytes = <usize>load<u32>(params, 24);
  const scale = load<f32>(params, 28);
  const chunkUnits = load<i32>(params, 40);
  const headScores = <usize>load<u32>(params, 44);
  // This chunk's slot: group × headScores bytes of scores, then one widened row (d floats).
  const slot = <usize>load<u32>(params, 32) + <usize>(c0 / chunkUnits) * <usize>load<u32>(params, 36);
  const units = load<i32>(params, 48);
  const r0 = units - c1, r1 = units - c0;
  const group = H / Hkv;
  const buf = slot + <usize>group * headScores;
  const headBytes: usize = type == KV_F32 ? <usize>d << 2 : type == KV_F16 ? <usize>d << 1 : <usize>(d >> 5) * 34;
  let u = r0;
  while (u < r1) {
    const t = u / H;
    const h = u - t * H;
    const kvh = h / group;
    let heads = (kvh + 1) * group - h;
    if (heads > r1 - u) heads = r1 - u;
    const p = p0 + t;
    let first = chunk > 0 ? p - p % chunk : 0;
    if (first < start) first = start;
    const n = p - first + 1;
    const off = <usize>(first - start) * rowBytes + <usize>kvh * headBytes;
    const kr = k + off;
    const vr = v + off;
    const qp = q + ((<usize>u * d) << 2);
    const op = out + ((<usize>u * d) << 2);
    const dBytes = <usize>d << 2;
    if (type == KV_F32 && (d & 15) == 0) {
      scoresF32x4(slot, headScores, qp, dBytes, kr, rowBytes, n, heads, scale);
      for (let g = 0; g < heads; g++) softmax(slot + <usize>g * headScores, n);
      valuesF32x16(slot, headScores, op, dBytes, vr, rowBytes, n, heads);
      u += heads;
      continue;
    }
    for (let j = 0; j < n; j++) {
      const row = rowF32(kr + <usize>j * rowBytes, buf, d, type);
      for (let g = 0; g < heads; g++) {
        store<f32>(slot + <usize>g * headScores + (<usize>j << 2), dotF32(qp + <usize>g * dBytes, row, d) * scale);
      }
    }
    for (let g = 0; g < heads; g++) {
      softmax(slot + <usize>g * headScores, n);
      const o = op + <usize>g * dBytes;
      for (let i = 0; i < d; i++) store<f32>(o + (<usize>i << 2), 0);
    }
    for (let j = 0; j < n; j++) {
      const row = rowF32(vr + <usize>j * rowBytes, buf, d, type);
      for (let g = 0; g < heads; g++) {
        axpyF32(op + <usize>g * dBytes, load<f32>(slot + <usize>g * headScores + (<usize>j << 2)), row, d);
      }
    }
    u += heads;
  }
}

export function attn_rows_f32(params: usize, q: usize, out: usize, k: usize, v: usize, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  attnRows(params, q, out, k, v, r0, r1, KV_F32);
}

export function attn_rows_f16(params: usize, q: usize, out: usize, k: usize, v: usize, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  attnRows(params, q, out, k, v, r0, r1, KV_F16);
}

export function attn_rows_q8_0(params: usize, q: usize, out: usize, k: usize, v: usize, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  attnRows(params, q, out, k, v, r0, r1, KV_Q8_0);
}

// Decode with an f32 cache: one query token against `n` visible cached rows (k, v: the first
// of them), split into chunks of rows, flash-decoding style. A chunk reads each of its rows
// once for all heads, in address order (the cache streams from memory like weights do,
// where a per-head pass reads a few lines of every row), and leaves per head its maximum
// score m, l = Σ exp(s − m) and o = Σ exp(s − m)·V; attn_merge combines the chunks in chunk
// order. Chunk sizes depend on n only, so results do not depend on threads. (f16 and q8_0
// caches keep the per-head path: there a different rounding of one layer's output can move
// the next layer's stored K/V by a whole f16 or q8_0 step, so prefill and decode share it.)
// Parameter block (i32 words): 0 H, 1 Hkv, 2 d (a multiple of 4), 3 rowBytes, 4 scale (f32
// bits), 5 rows per chunk (a multiple of 4), 6 partials region, 7 bytes per partial, then
// offsets within a partial: 8 l, 9 o, 10 e (scores, then weights: [H][rows per chunk]); m is
// at offset 0.

/** Scores of the query heads against four rows k0..k3 (Hkv·d f32 each) into e[h][jj..jj+3]. */
@inline function decodeScores4(q: usize, k0: usize, k1: usize, k2: usize, k3: usize, e: usize, jj: i32, rpc: i32, H: i32, group: i32, d: i32, scale: f32): void {
  const dBytes = <usize>d << 2;
  const sv = f32x4.splat(scale);
  for (let h = 0; h < H; h++) {
    const kOff = <usize>(h / group) * dBytes;
    const qh = q + <usize>h * dBytes;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let i: usize = 0; i < dBytes; i += 16) {
      const qv = v128.load(qh + i);
      a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + kOff + i)));
      a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + kOff + i)));
      a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + kOff + i)));
      a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + kOff + i)));
    }
    v128.store(e + ((<usize>h * rpc + jj) << 2), f32x4.mul(sum4f(a0, a1, a2, a3), sv));
  }
}

/** o[h] += Σ_r e[h][jj+r]·V_r over four rows v0..v3 (Hkv·d f32 each). */
@inline function decodeValues4(o: usize, v0: usize, v1: usize, v2: usize, v3: usize, e: usize, jj: i32, rpc: i32, H: i32, group: i32, d: i32): void {
  const dBytes = <usize>d << 2;
  for (let h = 0; h < H; h++) {
    const vOff = <usize>(h / group) * dBytes;
    const oh = o + <usize>h * dBytes;
    const ep = e + ((<usize>h * rpc + jj) << 2);
    const p0 = f32x4.splat(load<f32>(ep)), p1 = f32x4.splat(load<f32>(ep, 4));
    const p2 = f32x4.splat(load<f32>(ep, 8)), p3 = f32x4.splat(load<f32>(ep, 12));
    for (let i: usize = 0; i < dBytes; i += 16) {
      const a = f32x4.add(f32x4.mul(p0, v128.load(v0 + vOff + i)), f32x4.mul(p1, v128.load(v1 + vOff + i)));
      const b = f32x4.add(f32x4.mul(p2, v128.load(v2 + vOff + i)), f32x4.mul(p3, v128.load(v3 + vOff + i)));
      v128.store(oh + i, f32x4.add(v128.load(oh + i), f32x4.add(a, b)));
    }
  }
}

/** Chunk [r0, r1) of the visible rows (see above): (params, q, k, v, 0, 0, 0, 0, r0, r1). */
export function attn_decode_f32(params: usize, q: usize, k: usize, v: usize, a4: i32, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  const H = load<i32>(params);
  const Hkv = load<i32>(params, 4);
  const d = load<i32>(params, 8);
  const rowBytes = <usize>load<u32>(params, 12);
  const scale = load<f32>(params, 16);
  const rpc = load<i32>(params, 20);
  const part = <usize>load<u32>(params, 24) + <usize>(r0 / rpc) * <usize>load<u32>(params, 28);
  const lP = part + <usize>load<u32>(params, 32);
  const oP = part + <usize>load<u32>(params, 36);
  const eP = part + <usize>load<u32>(params, 40);
  const group = H / Hkv;
  const dBytes = <usize>d << 2;
  const n = r1 - r0;
  const n4 = n & ~3;
  const k0 = k + <usize>r0 * rowBytes;
  const v0 = v + <usize>r0 * rowBytes;
  for (let jj = 0; jj < n4; jj += 4) {
    const kr = k0 + <usize>jj * rowBytes;
    decodeScores4(q, kr, kr + rowBytes, kr + 2 * rowBytes, kr + 3 * rowBytes, eP, jj, rpc, H, group, d, scale);
  }
  for (let j = n4; j < n; j++) {
    const kr = k0 + <usize>j * rowBytes;
    for (let h = 0; h < H; h++) {
      const s = dotF32(q + <usize>h * dBytes, kr + <usize>(h / group) * dBytes, d) * scale;
      store<f32>(eP + ((<usize>h * rpc + j) << 2), s);
    }
  }
  for (let h = 0; h < H; h++) {
    const eh = eP + ((<usize>h * rpc) << 2);
    let mx = load<f32>(eh);
    for (let j = 1; j < n; j++) mx = max(mx, load<f32>(eh + (<usize>j << 2)));
    store<f32>(part + (<usize>h << 2), mx);
    store<f32>(lP + (<usize>h << 2), <f32>expShiftInPlace(eh, n, mx));
  }
  memory.fill(oP, 0, <usize>H * dBytes);
  for (let jj = 0; jj < n4; jj += 4) {
    const vr = v0 + <usize>jj * rowBytes;
    decodeValues4(oP, vr, vr + rowBytes, vr + 2 * rowBytes, vr + 3 * rowBytes, eP, jj, rpc, H, group, d);
  }
  for (let j = n4; j < n; j++) {
    const vr = v0 + <usize>j * rowBytes;
    for (let h = 0; h < H; h++) {
      axpyF32(oP + <usize>h * dBytes, load<f32>(eP + ((<usize>h * rpc + j) << 2)), vr + <usize>(h / group) * dBytes, d);
    }
  }
}

/**
 * out[h] = Σ_c w_c·o_c[h] / Σ_c w_c·l_c[h], w_c = exp(m_c[h] − max_c m_c[h]), over the
 * `chunks` partials of attnDecode, in chunk order (each chunk's m is overwritten by w).
 */
export function attn_merge(params: usize, out: usize, chunks: i32): void {
  const H = load<i32>(params);
  const d = load<i32>(params, 8);
  const parts = <usize>load<u32>(params, 24);
  const pBytes = <usize>load<u32>(params, 28);
  const lOff = <usize>load<u32>(params, 32);
  const oOff = <usize>load<u32>(params, 36);
  const dBytes = <usize>d << 2;
  for (let h = 0; h < H; h++) {
    const hm = <usize>h << 2;
    let mx = load<f32>(parts + hm);
    for (let c = 1; c < chunks; c++) mx = max(mx, load<f32>(parts + <usize>c * pBytes + hm));
    let L: f64 = 0;
    for (let c = 0; c < chunks; c++) {
      const pc = parts + <usize>c * pBytes;
      const w = expF32(load<f32>(pc + hm) - mx);
      store<f32>(pc + hm, w);
      L += <f64>(w * load<f32>(pc + lOff + hm));
    }
    const inv = f32x4.splat(<f32>(1 / L));
    const oh = out + <usize>h * dBytes;
    for (let i: usize = 0; i < dBytes; i += 16) {
      let acc = f32x4.splat(0);
      for (let c = 0; c < chunks; c++) {
        const pc = parts + <usize>c * pBytes;
        acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(pc + hm)), v128.load(pc + oOff + <usize>h * dBytes + i)));
      }
      v128.store(oh + i, f32x4.mul(acc, inv));
    }
  }
}
