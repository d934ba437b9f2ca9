// Attention of query tokens against a KV cache read in place (f32, f16 or ggml Q8_0 rows).
//
// Head sizes that are a multiple of 4 use one arithmetic in every call: a token's visible rows
// [max(chunkStart(p), start), p] are cut into chunks of rowsPerChunk(n) rows; per chunk and
// head, the maximum score m, l = Σ exp(s − m) and o = Σ exp(s − m)·V (chunkPartials), then
// per head out = Σ_c w_c·o_c / Σ_c w_c·l_c with w_c = exp(m_c − max m) over the chunks in
// order (mergeHead). A prefill token and the same token decoded alone therefore give the same
// bits, whichever kernel, tiling or thread ran each chunk (a different rounding here could
// move the next layer's stored f16/q8_0 K and V by a whole step).
//   attn_rows_*: units u = t·H + h (token, query head), taken in runs of one GQA group or of
//   a token's heads; a run computes its chunks in turn in its slot. Chunk [r0, r1) of units covers [R − r1,
//   R − r0): threads claim chunks in order, so the last tokens (the longest rows of a causal
//   prefill) go first and the short ones fill the tail.
//   attn_decode_*: one token; the pool splits its visible rows by chunk, each chunk reads its
//   rows once for all heads in address order (the cache streams like weights do), and
//   attn_merge combines the partials.
// Other head sizes: per unit, scores, the same softmax as `softmax`, Σ p·V (dotF32/axpyF32).
//
// attn_rows_* parameter block (i32 words): 0 H, 1 Hkv, 2 d, 3 p0 (absolute position of token
// 0), 4 start (absolute position of cache row 0), 5 chunk (0: global), 6 rowBytes (one cached
// row, all KV heads), 7 scale (f32 bits), 8 slots region, 9 bytes per slot, 10 units per
// chunk, 11 bytes of scores per head (other head sizes), 12 units in the call; slot layout
// for chunked heads: 13 bytes per chunk partial (m [group] | l [group] | o [group, d]), 14 l
// and 15 o offset in it, 16 scores [group, min(rows per chunk, rows)] and 17 widened rows
// (4 × d f32 per KV head of a run) offsets in the slot, after the partials of the longest
// token's chunks; 18 heads per run (a multiple of the GQA group that divides H: the group,
// or H to read each cached row once per token).
// q and out: f32 [T, H, d]. k, v: cache row 0 of keys / values.
import { halfAt, halfToF32, halvesToF32, sum4f } from "./common";
import { axpyF32, dotF32, expF32, expShiftInPlace, softmax } from "./ops";

/** Rows per chunk for a token with n visible rows: max(64, ⌈n/128⌉·4), so at most 32 chunks (fast-attention.ts mirrors it). */
@inline function rowsPerChunk(n: i32): i32 {
  return max(64, ((n + 127) >> 7) << 2);
}

const KV_F32: i32 = 0;
const KV_F16: i32 = 1;
const KV_Q8_0: i32 = 2;

/** Four f16 (sign-extended to i32 lanes) → f32x4, infinities and NaN included. */
@inline function widenHalves(lanes: v128): v128 {
  return halvesToF32(i32x4.shl(lanes, 13), true);
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

/** Bytes of one KV head of one cached row. */
@inline function headBytesOf(type: i32, d: i32): usize {
  return type == KV_F32 ? <usize>d << 2 : type == KV_F16 ? <usize>d << 1 : <usize>(d >> 5) * 34;
}

/** Scores of heads [h0, h1) against four rows k0..k3 (Hkv·d f32 each) into e[h − h0][jj..jj+3] (rows es apart). */
@inline function scores4(q: usize, k0: usize, k1: usize, k2: usize, k3: usize, e: usize, jj: i32, spread: i32, es: i32, h0: i32, h1: i32, group: i32, d: i32, scale: f32): void {
  const dBytes = <usize>d << 2;
  const sv = f32x4.splat(scale);
  for (let h = h0; h < h1; h++) {
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
    const sc = f32x4.mul(sum4f(a0, a1, a2, a3), sv);
    const at = e + ((<usize>(h - h0) * es + jj) << 2), sp = <usize>spread << 2;
    store<f32>(at, f32x4.extract_lane(sc, 0));
    store<f32>(at + sp, f32x4.extract_lane(sc, 1));
    store<f32>(at + 2 * sp, f32x4.extract_lane(sc, 2));
    store<f32>(at + 3 * sp, f32x4.extract_lane(sc, 3));
  }
}

/** o[h − h0] += Σ_r e[h − h0][jj+r]·V_r for heads [h0, h1) over four rows v0..v3 (Hkv·d f32 each). */
@inline function values4(o: usize, v0: usize, v1: usize, v2: usize, v3: usize, e: usize, jj: i32, spread: i32, es: i32, h0: i32, h1: i32, group: i32, d: i32): void {
  const dBytes = <usize>d << 2;
  for (let h = h0; h < h1; h++) {
    const vOff = <usize>(h / group) * dBytes;
    const oh = o + <usize>(h - h0) * dBytes;
    const ep = e + ((<usize>(h - h0) * es + jj) << 2);
    const sp = <usize>spread << 2;
    const p0 = f32x4.splat(load<f32>(ep)), p1 = f32x4.splat(load<f32>(ep + sp));
    const p2 = f32x4.splat(load<f32>(ep + 2 * sp)), p3 = f32x4.splat(load<f32>(ep + 3 * sp));
    for (let i: usize = 0; i < dBytes; i += 16) {
      const a = f32x4.add(f32x4.mul(p0, v128.load(v0 + vOff + i)), f32x4.mul(p1, v128.load(v1 + vOff + i)));
      const b = f32x4.add(f32x4.mul(p2, v128.load(v2 + vOff + i)), f32x4.mul(p3, v128.load(v3 + vOff + i)));
      v128.store(oh + i, f32x4.add(v128.load(oh + i), f32x4.add(a, b)));
    }
  }
}

/**
 * Rows 0..n−1 (n ≤ 4) of `src` (K or V) as f32: the cache itself for f32 (returns src), else
 * KV heads [kv0, kv1] of each row widened into buf, `wide` bytes a row (returns the address
 * where KV head g of row r is at + r·wide + g·d·4, below buf when kv0 > 0).
 */
@inline function rowsF32(type: i32, src: usize, rowBytes: usize, n: i32, kv0: i32, kv1: i32, d: i32, buf: usize, wide: usize): usize {
  if (type == KV_F32) return src;
  const hb = headBytesOf(type, d);
  const at = buf - ((<usize>kv0 * d) << 2);
  for (let r = 0; r < n; r++) {
    for (let g = kv0; g <= kv1; g++) rowF32(src + <usize>r * rowBytes + <usize>g * hb, at + <usize>r * wide + ((<usize>g * d) << 2), d, type);
  }
  return at;
}

/**
 * One chunk of `cnt` rows (k, v: its first K and V row) of one token (q: its [H, d] queries)
 * for query heads [h0, h1): per head (index h − h0) the maximum score m (at mP), l = Σ exp(s −
 * m) (at lP) and o = Σ exp(s − m)·V (d floats at oP). e: scores [h1 − h0][es] (es ≥ cnt, a
 * multiple of 4); buf: four rows of the heads' KV heads widened to f32.
 */
@inline function chunkPartials(type: i32, q: usize, k: usize, v: usize, rowBytes: usize, cnt: i32, h0: i32, h1: i32, group: i32, d: i32, scale: f32, e: usize, es: i32, mP: usize, lP: usize, oP: usize, buf: usize): void {
  const dBytes = <usize>d << 2;
  const kv0 = h0 / group, kv1 = (h1 - 1) / group;
  const wide = <usize>(kv1 - kv0 + 1) * dBytes;
  // Rows r, r + Q, r + 2Q, r + 3Q (Q = ⌊cnt/4⌋) four at a time: four streams through the
  // cache (one stream from memory per core is latency-bound); the last cnt − 4Q one by one.
  const Q = cnt >> 2;
  const qBytes = <usize>Q * rowBytes;
  const stride: usize = type == KV_F32 ? qBytes : wide;
  for (let jj = 0; jj < Q; jj++) {
    const base = rowsF32(type, k + <usize>jj * rowBytes, qBytes, 4, kv0, kv1, d, buf, wide);
    scores4(q, base, base + stride, base + 2 * stride, base + 3 * stride, e, jj, Q, es, h0, h1, group, d, scale);
  }
  for (let j = 4 * Q; j < cnt; j++) {
    const kr = rowsF32(type, k + <usize>j * rowBytes, rowBytes, 1, kv0, kv1, d, buf, wide);
    for (let h = h0; h < h1; h++) {
      store<f32>(e + ((<usize>(h - h0) * es + j) << 2), dotF32(q + <usize>h * dBytes, kr + <usize>(h / group) * dBytes, d) * scale);
    }
  }
  for (let h = h0; h < h1; h++) {
    const eh = e + ((<usize>(h - h0) * es) << 2);
    let mx = load<f32>(eh);
    for (let j = 1; j < cnt; j++) mx = max(mx, load<f32>(eh + (<usize>j << 2)));
    store<f32>(mP + (<usize>(h - h0) << 2), mx);
    store<f32>(lP + (<usize>(h - h0) << 2), <f32>expShiftInPlace(eh, cnt, mx));
  }
  memory.fill(oP, 0, <usize>(h1 - h0) * dBytes);
  for (let jj = 0; jj < Q; jj++) {
    const base = rowsF32(type, v + <usize>jj * rowBytes, qBytes, 4, kv0, kv1, d, buf, wide);
    values4(oP, base, base + stride, base + 2 * stride, base + 3 * stride, e, jj, Q, es, h0, h1, group, d);
  }
  for (let j = 4 * Q; j < cnt; j++) {
    const vr = rowsF32(type, v + <usize>j * rowBytes, rowBytes, 1, kv0, kv1, d, buf, wide);
    for (let h = h0; h < h1; h++) {
      axpyF32(oP + <usize>(h - h0) * dBytes, load<f32>(e + ((<usize>(h - h0) * es + j) << 2)), vr + <usize>(h / group) * dBytes, d);
    }
  }
}

/**
 * One head's output (d floats at out) from `chunks` partials, m/l/o of chunk c at m0/l0/o0 +
 * c·stride: out = Σ_c w_c·o_c / Σ_c w_c·l_c, w_c = exp(m_c − max m), chunks in order (each
 * m_c is overwritten by w_c).
 */
@inline function mergeHead(m0: usize, l0: usize, o0: usize, stride: usize, chunks: i32, d: i32, out: usize): void {
  let mx = load<f32>(m0);
  for (let c = 1; c < chunks; c++) mx = max(mx, load<f32>(m0 + <usize>c * stride));
  let L: f64 = 0;
  for (let c = 0; c < chunks; c++) {
    const w = expF32(load<f32>(m0 + <usize>c * stride) - mx);
    store<f32>(m0 + <usize>c * stride, w);
    L += <f64>(w * load<f32>(l0 + <usize>c * stride));
  }
  const inv = f32x4.splat(<f32>(1 / L));
  const dBytes = <usize>d << 2;
  for (let i: usize = 0; i < dBytes; i += 16) {
    let acc = f32x4.splat(0);
    for (let c = 0; c < chunks; c++) {
      const at = <usize>c * stride;
      acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(m0 + at)), v128.load(o0 + at + i)));
    }
    v128.store(out + i, f32x4.mul(acc, inv));
  }
}

/**
 * Units [r0, r1) (after the reversal above) in runs that share a token and a KV head (the
 * query heads of one GQA group, clipped to the range): each run reads its KV head of each
 * visible row once for all its heads.
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
  // This chunk of units' slot in scratch.
  const slot = <usize>load<u32>(params, 32) + <usize>(c0 / chunkUnits) * <usize>load<u32>(params, 36);
  const units = load<i32>(params, 48);
  const r0 = units - c1, r1 = units - c0;
  const group = H / Hkv;
  const headBytes = headBytesOf(type, d);
  const dBytes = <usize>d << 2;
  const chunked = (d & 3) == 0;
  const partBytes = <usize>load<u32>(params, 52);
  const lOff = <usize>load<u32>(params, 56);
  const oOff = <usize>load<u32>(params, 60);
  const eAt = slot + <usize>load<u32>(params, 64);
  const rowBuf = slot + <usize>load<u32>(params, 68);
  const runHeads = load<i32>(params, 72);
  const buf = slot + <usize>group * headScores; // other head sizes: one widened row
  let u = r0;
  while (u < r1) {
    const t = u / H;
    const h = u - t * H;
    const kvh = h / group;
    let heads = runHeads - h % runHeads; // to the end of this run (a GQA group, or the token)
    if (heads > r1 - u) heads = r1 - u;
    const p = p0 + t;
    let first = chunk > 0 ? p - p % chunk : 0;
    if (first < start) first = start;
    const n = p - first + 1;
    const qt = q + ((<usize>t * H * d) << 2);
    const ot = out + ((<usize>t * H * d) << 2);
    if (chunked) {
      const kr = k + <usize>(first - start) * rowBytes;
      const vr = v + <usize>(first - start) * rowBytes;
      const rpc = rowsPerChunk(n);
      const chunks = (n + rpc - 1) / rpc;
      const es = min(rpc, (n + 3) & ~3); // scores stride: the slot holds rows of the longest token
      for (let c = 0; c < chunks; c++) {
        const j0 = c * rpc;
        const part = slot + <usize>c * partBytes;
        chunkPartials(type, qt, kr + <usize>j0 * rowBytes, vr + <usize>j0 * rowBytes, rowBytes, min(rpc, n - j0), h, h + heads, group, d, scale, eAt, es, part, part + lOff, part + oOff, rowBuf);
      }
      for (let g = 0; g < heads; g++) {
        const gm = <usize>g << 2;
        mergeHead(slot + gm, slot + lOff + gm, slot + oOff + <usize>g * dBytes, partBytes, chunks, d, ot + <usize>(h + g) * dBytes);
      }
      u += heads;
      continue;
    }
    const off = <usize>(first - start) * rowBytes + <usize>kvh * headBytes;
    const kr = k + off;
    const vr = v + off;
    const qp = qt + <usize>h * dBytes;
    const op = ot + <usize>h * dBytes;
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

// attn_decode_* parameter block (i32 words): 0 H, 1 Hkv, 2 d (a multiple of 4), 3 rowBytes, 4
// scale (f32 bits), 5 rows per chunk, 6 partials region, 7 bytes per partial, then offsets
// within a partial: 8 l, 9 o, 10 scores [H, rows per chunk], 11 widened rows (m at 0).

/** Chunk [r0, r1) of one token's visible rows (k, v: the first of them), all heads. */
@inline function attnDecode(params: usize, q: usize, k: usize, v: usize, r0: i32, r1: i32, type: i32): void {
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
  const buf = part + <usize>load<u32>(params, 44);
  chunkPartials(type, q, k + <usize>r0 * rowBytes, v + <usize>r0 * rowBytes, rowBytes, r1 - r0, 0, H, H / Hkv, d, scale, eP, rpc, part, lP, oP, buf);
}

export function attn_decode_f32(params: usize, q: usize, k: usize, v: usize, a4: i32, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  attnDecode(params, q, k, v, r0, r1, KV_F32);
}

export function attn_decode_f16(params: usize, q: usize, k: usize, v: usize, a4: i32, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  attnDecode(params, q, k, v, r0, r1, KV_F16);
}

export function attn_decode_q8_0(params: usize, q: usize, k: usize, v: usize, a4: i32, a5: i32, a6: i32, a7: i32, r0: i32, r1: i32): void {
  attnDecode(params, q, k, v, r0, r1, KV_Q8_0);
}

/** Combines attnDecode's `chunks` partials into out [H, d] (mergeHead per head). */
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
    mergeHead(parts + hm, parts + lOff + hm, parts + oOff + <usize>h * dBytes, pBytes, chunks, d, out + <usize>h * dBytes);
  }
}

/** Rows [r0, r1) of an f16 or q8_0 cache (rows of `width` values) widened to f32 rows at dst (as rowF32). */
@inline function widenRows(type: i32, dst: usize, src: usize, width: i32, r0: i32, r1: i32): void {
  const rowBytes: usize = type == KV_F16 ? <usize>width << 1 : <usize>(width >> 5) * 34;
  for (let r = r0; r < r1; r++) rowF32(src + <usize>r * rowBytes, dst + ((<usize>r * width) << 2), width, type);
}

/** (dst, src, 0, 0, 0, 0, width, 0, r0, r1): f16 cache rows widened to f32. */
export function widen_rows_f16(dst: usize, src: usize, a2: i32, a3: i32, a4: i32, a5: i32, width: i32, a7: i32, r0: i32, r1: i32): void {
  widenRows(KV_F16, dst, src, width, r0, r1);
}

/** (dst, src, 0, 0, 0, 0, width, 0, r0, r1): q8_0 cache rows widened to f32. */
export function widen_rows_q8_0(dst: usize, src: usize, a2: i32, a3: i32, a4: i32, a5: i32, width: i32, a7: i32, r0: i32, r1: i32): void {
  widenRows(KV_Q8_0, dst, src, width, r0, r1);
}
