// The Llama 4 text decoder (spec §2): embedding → L × [x + attn(norm(x)); x + ffn(norm(x))]
// → final norm → untied lm_head. One call processes a block of T tokens at the cache's
// current position: a whole prompt (prefill), one token (decode), or anything between.
import type { Llama4TextConfig, LayerKind } from "./config.js";
import { layerKinds } from "./config.js";
import type { Llama4TextWeights } from "./weights.js";
import type { KVCache } from "./kv.js";
import { attention } from "./attention.js";
import { moe, swiglu } from "./ffn.js";
import { ropeInverseFrequencies, ropeTables } from "./rope.js";
import { embeddingRow, matmul, rmsNorm } from "../kernels/ref/ops.js";

export interface ForwardOptions {
  /** Which rows get logits: every position, only the last, or none (prefill of a longer prompt). */
  readonly logits?: "all" | "last" | "none";
  /** Input embeddings [T, D] to use instead of looking tokens up (image rows merged in). */
  readonly embeddings?: Float32Array;
  /** Debug hook: the residual stream after each layer, and router logits of MoE layers. */
  readonly onLayer?: (layer: number, hidden: Float32Array, routerLogits: Float32Array | undefined) => void;
}

export class Llama4TextModel {
  readonly kinds: readonly LayerKind[];
  private readonly invFreq: Float64Array;

  constructor(readonly config: Llama4TextConfig, readonly weights: Llama4TextWeights) {
    this.kinds = layerKinds(config);
    this.invFreq = ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  /** Row `id` of the embedding table [D]; throws for ids outside the vocabulary. */
  embed(tokens: ArrayLike<number>): Float32Array {
    const D = this.config.hiddenSize;
    const x = new Float32Array(tokens.length * D);
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) {
        throw new RangeError(`token ${t} has id ${id}, outside the vocabulary 0..${this.config.vocabSize - 1}`);
      }
      embeddingRow(x.subarray(t * D, (t + 1) * D), this.weights.embed, id);
    }
    return x;
  }

  /**
   * Runs T tokens through the decoder at positions cache.position.., appends their keys and
   * values to `cache`, and returns logits [R, V] for the requested rows (R = T, 1 or 0).
   */
  forward(tokens: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Float32Array {
    const c = this.config;
    const D = c.hiddenSize;
    const T = tokens.length;
    if (T === 0) return new Float32Array(0);
    const p0 = cache.position;
    const h = opts.embeddings ?? this.embed(tokens); // residual stream [T, D]
    if (h.length !== T * D) throw new Error(`embeddings must be [${T}, ${D}], got ${h.length} values`);

    const rope = ropeTables(this.invFreq, p0, T);
    const xn = new Float32Array(T * D);
    const y = new Float32Array(T * D);
    for (let i = 0; i < c.numLayers; i++) {
      const lw = this.weights.layers[i]!;
      const kind = this.kinds[i]!;

      rmsNorm(xn, h, lw.attnNorm, c.rmsNormEps, T, D);
      attention(y, xn, T, p0, lw.attn, kind, c, rope, cache.layer(i));
      for (let j = 0; j < T * D; j++) h[j] = h[j]! + y[j]!;

      rmsNorm(xn, h, lw.ffnNorm, c.rmsNormEps, T, D);
      let routerLogits: Float32Array | undefined;
      if (lw.ffn.kind === "moe") {
        routerLogits = opts.onLayer ? new Float32Array(T * c.numExperts) : undefined;
        moe(y, xn, T, D, lw.ffn, c.topK, routerLogits);
      } else {
        swiglu(y, xn, T, lw.ffn);
      }
      for (let j = 0; j < T * D; j++) h[j] = h[j]! + y[j]!;
      opts.onLayer?.(i, h, routerLogits);
    }
    cache.advance(T);

    const which = opts.logits ?? "last";
    if (which === "none") return new Float32Array(0);
    const first = which === "all" ? 0 : T - 1;
    const R = T - first;
    const hn = new Float32Array(R * D);
    rmsNorm(hn, h.subarray(first * D), this.weights.norm, c.rmsNormEps, R, D);
    const logits = new Float32Array(R * c.vocabSize);
    matmul(logits, hn, this.weights.lmHead, R);
    return logits;
  }
}
