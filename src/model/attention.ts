// Llama 4 attention for a block of T tokens at absolute positions p0..p0+T−1 (spec §2.5):
// GQA, RoPE (adjacent pairs) on RoPE layers, weightless QK RMS-norm after RoPE, query
// temperature tuning on NoPE layers, and the iRoPE masks: chunk-local causal on RoPE
// layers, global causal on NoPE layers.
import type { Llama4TextConfig, LayerKind } from "./config.js";
import type { AttentionWeights } from "./weights.js";
import type { LayerKVCache } from "./kv.js";
import { matmul, rmsNorm, ropeInterleaved, softmaxInPlace } from "../kernels/ref/ops.js";

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

/** out[T, D] = attention of x[T, D] (already normed), appending this block's K/V to `cache`. */
export function attention(
  out: Float32Array,
  x: Float32Array,
  T: number,
  p0: number,
  w: AttentionWeights,
  kind: LayerKind,
  c: Llama4TextConfig,
  rope: RopeRows,
  cache: LayerKVCache,
): void {
  const { numHeads: H, numKvHeads: Hkv, headDim: d } = c;
  const group = H / Hkv;
  const chunk = kind.chunked ? c.attentionChunkSize : null;

  const q = new Float32Array(T * H * d); // [T, H, d]
  const k = new Float32Array(T * Hkv * d); // [T, Hkv, d]
  const v = new Float32Array(T * Hkv * d);
  matmul(q, x, w.q, T);
  matmul(k, x, w.k, T);
  matmul(v, x, w.v, T);

  if (kind.rope) {
    ropeInterleaved(q, rope.cos, rope.sin, T, H, d);
    ropeInterleaved(k, rope.cos, rope.sin, T, Hkv, d);
  }
  if (kind.qkNorm) {
    rmsNorm(q, q, null, c.rmsNormEps, T * H, d);
    rmsNorm(k, k, null, c.rmsNormEps, T * Hkv, d);
  }
  if (kind.temperatureTuning) {
    for (let t = 0; t < T; t++) {
      const s = attentionTemperature(p0 + t, c.floorScale, c.attnScale);
      for (let i = t * H * d; i < (t + 1) * H * d; i++) q[i] = q[i]! * s;
    }
  }

  // Keys before the block's first chunk are invisible to every query in it.
  if (chunk !== null) cache.dropBefore(firstVisibleKey(p0, chunk));
  cache.append(k, v, T);
  const keys = cache.keys();
  const values = cache.values();
  const start = cache.start;

  const kvDim = Hkv * d;
  const scale = 1 / Math.sqrt(d);
  const scores = new Float32Array(cache.length);
  const o = new Float32Array(T * H * d);
  for (let t = 0; t < T; t++) {
    const p = p0 + t;
    const lo = Math.max(firstVisibleKey(p, chunk), start) - start; // first visible cache row
    const hi = p - start; // last visible cache row (the token itself)
    const n = hi - lo + 1;
    for (let h = 0; h < H; h++) {
      const qo = (t * H + h) * d;
      const ko = Math.floor(h / group) * d; // GQA: query head h reads KV head ⌊h/group⌋
      for (let j = 0; j < n; j++) {
        const kr = (lo + j) * kvDim + ko;
        let s = 0;
        for (let i = 0; i < d; i++) s += q[qo + i]! * keys[kr + i]!;
        scores[j] = s * scale;
      }
      softmaxInPlace(scores, n);
      for (let j = 0; j < n; j++) {
        const pj = scores[j]!;
        const vr = (lo + j) * kvDim + ko;
        for (let i = 0; i < d; i++) o[qo + i] = o[qo + i]! + pj * values[vr + i]!;
      }
    }
  }
  matmul(out, o, w.o, T);
}
