// Llama 4 attention for a block of tokens at absolute positions (spec §2.5):
// GQA, RoPE (adjacent pairs) on RoPE layers, weightless QK RMS-norm after RoPE, query
// temperature tuning on NoPE layers, and the iRoPE masks: chunk-local causal on RoPE
// layers, global causal on NoPE layers.
import type { Llama4TextConfig, LayerKind } from "./config.js";
import type { AttentionWeights } from "./weights.js";
import type { LayerKVCache } from "./kv.js";
import { rmsNorm, ropeInterleaved } from "../kernels/ref/ops.js";
import { floats, type AttentionKernels, type Kernels, type KVRows } from "../kernels/kernels.js";

export interface RopeRows {
  readonly cos: Float32Array; // [T, d/2]
  readonly sin: Float32Array;
}

/** Attention temperature s(p) = 1 + attn_scale · ln(1 + floor((p+1)/floor_scale)), in f32. */
export function attentionTemperature(p: number, floorScale: number, attnScale: number): number {
  return Math.fround(Math.log(Math.floor((p + 1) / floorScale) + 1) * attnScale + 1);
}

/** First absolute key position a query at `p` may see: its chunk's start, or 0 when global. */
export function firstVisibleKey(p: number, chunkSize: number | null): number {
  return chunkSize === null ? 0 : Math.floor(p / chunkSize) * chunkSize;
}

/**
 * One sequence's rows within a batched block: rows [row, row+length) of the block are that
 * sequence's tokens at absolute positions p0.., and `cache` is its KV cache for this layer.
 */
export interface AttentionSegment {
  readonly row: number;
  readonly length: number;
  readonly p0: number;
  readonly cache: LayerKVCache;
}

/**
 * out[N, D] = attention of x[N, D] (already normed) for N rows that may belong to several
 * sequences (`segments`): projections run once over all rows (one read of the weights),
 * attention runs per sequence against its own cache. `rope` holds each row's cos/sin.
 */
export function attention(
  out: Float32Array,
  x: Float32Array,
  N: number,
  segments: readonly AttentionSegment[],
  w: AttentionWeights,
  kind: LayerKind,
  c: Llama4TextConfig,
  rope: RopeRows,
  kernels: Kernels,
): void {
  const { numHeads: H, numKvHeads: Hkv, headDim: d } = c;
  const { matmul } = kernels;
  const q = floats(kernels, N * H * d); // [N, H, d]
  const k = floats(kernels, N * Hkv * d); // [N, Hkv, d]
  const v = floats(kernels, N * Hkv * d);
  matmul(q, x, w.q, N);
  matmul(k, x, w.k, N);
  matmul(v, x, w.v, N);

  if (kind.rope) {
    const ropeRows = kernels.ropeInterleaved ?? ropeInterleaved;
    ropeRows(q, rope.cos, rope.sin, N, H, d);
    ropeRows(k, rope.cos, rope.sin, N, Hkv, d);
  }
  if (kind.qkNorm) {
    const norm = kernels.rmsNorm ?? rmsNorm;
    norm(q, q, null, c.rmsNormEps, N * H, d);
    norm(k, k, null, c.rmsNormEps, N * Hkv, d);
  }
  const o = floats(kernels, N * H * d);
  for (const seg of segments) {
    if (kind.temperatureTuning) {
      for (let t = 0; t < seg.length; t++) {
        const s = attentionTemperature(seg.p0 + t, c.floorScale, c.attnScale);
        const r = seg.row + t;
        for (let i = r * H * d; i < (r + 1) * H * d; i++) q[i] = q[i]! * s;
      }
    }
    const chunk = kind.chunked ? c.attentionChunkSize : null;
    appendToCache(seg, k, v, chunk, Hkv * d);
    if (kernels.attention) attendSegmentWith(kernels.attention, o, q, seg, chunk, H, Hkv, d);
    else attendSegment(o, q, seg, chunk, H, Hkv, d);
  }
  matmul(out, o, w.o, N);
}

/**
 * attendSegment on attention kernels: one kernel call for every token and head of the
 * segment, reading the cache's stored rows (f32/f16/q8_0) in place when they are in kernel
 * memory. Same math as attendSegment.
 */
function attendSegmentWith(
  ak: AttentionKernels, o: Float32Array, q: Float32Array,
  seg: AttentionSegment, chunk: number | null, H: number, Hkv: number, d: number,
): void {
  const { cache, p0, row, length: T } = seg;
  ak.attend({ q, out: o, row, T, p0, H, Hkv, d, chunk, scale: 1 / Math.sqrt(d), kv: storedRows(cache) });
}

/** The cache's rows as stored; a cache without `rows()` stores f32 keys()/values(). */
function storedRows(cache: LayerKVCache): KVRows {
  if (cache.rows) return cache.rows();
  const k = cache.keys(), v = cache.values();
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return { type: "f32", rowBytes: cache.length > 0 ? k.byteLength / cache.length : 0, k: bytes(k), v: bytes(v), start: cache.start, length: cache.length };
}

/** Appends a segment's rows of k, v [N, Hkv·d] to its cache, first forgetting keys no query of it can see. */
function appendToCache(seg: AttentionSegment, k: Float32Array, v: Float32Array, chunk: number | null, kvDim: number): void {
  const { cache, p0, row, length: T } = seg;
  // Keys before the block's first chunk are invisible to every query in it.
  if (chunk !== null) cache.dropBefore(firstVisibleKey(p0, chunk));
  cache.append(k.subarray(row * kvDim, (row + T) * kvDim), v.subarray(row * kvDim, (row + T) * kvDim), T);
}

/** Writes a segment's rows of o[N, H, d] from its (already appended) cache. */
function attendSegment(
  o: Float32Array, q: Float32Array,
  seg: AttentionSegment, chunk: number | null, H: number, Hkv: number, d: number,
): void {
  const kvDim = Hkv * d;
  const group = H / Hkv;
  const { cache, p0, row, length: T } = seg;
  const keys = cache.keys();
  const values = cache.values();
  const start = cache.start;
  const scale = 1 / Math.sqrt(d);
  const scores = new Float64Array(cache.length);
  const d4 = d - (d % 4);
  for (let t = 0; t < T; t++) {
    const p = p0 + t;
    const lo = Math.max(firstVisibleKey(p, chunk), start) - start; // first visible cache row
    const n = p - start - lo + 1; // visible rows, ending with the token itself
    for (let h = 0; h < H; h++) {
      const qo = ((row + t) * H + h) * d;
      const ko = Math.floor(h / group) * d; // GQA: query head h reads KV head ⌊h/group⌋
      // Scores and their max in one pass (unrolled by 4: this loop is the decode hot spot
      // outside the matmuls), then the softmax weights, then the weighted sum of values.
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const kr = (lo + j) * kvDim + ko;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let i = 0;
        for (; i < d4; i += 4) {
          s0 += q[qo + i]! * keys[kr + i]!;
          s1 += q[qo + i + 1]! * keys[kr + i + 1]!;
          s2 += q[qo + i + 2]! * keys[kr + i + 2]!;
          s3 += q[qo + i + 3]! * keys[kr + i + 3]!;
        }
        for (; i < d; i++) s0 += q[qo + i]! * keys[kr + i]!;
        const sc = (s0 + s1 + s2 + s3) * scale;
        scores[j] = sc;
        if (sc > max) max = sc;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp(scores[j]! - max);
        scores[j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < n; j++) {
        const pj = scores[j]! * inv;
        const vr = (lo + j) * kvDim + ko;
        let i = 0;
        for (; i < d4; i += 4) {
          o[qo + i] = o[qo + i]! + pj * values[vr + i]!;
          o[qo + i + 1] = o[qo + i + 1]! + pj * values[vr + i + 1]!;
          o[qo + i + 2] = o[qo + i + 2]! + pj * values[vr + i + 2]!;
          o[qo + i + 3] = o[qo + i + 3]! + pj * values[vr + i + 3]!;
        }
        for (; i < d; i++) o[qo + i] = o[qo + i]! + pj * values[vr + i]!;
      }
    }
  }
}
