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
import { addInPlace, embeddingRow, rmsNorm } from "../kernels/ref/ops.js";
import { floats, refKernels, type Kernels } from "../kernels/kernels.js";

export interface ForwardOptions {
  /** Which rows get logits: every position, only the last, or none (prefill of a longer prompt). */
  readonly logits?: "all" | "last" | "none";
  /** Input embeddings [T, D] to use instead of looking tokens up (image rows merged in). */
  readonly embeddings?: Float32Array;
  /** Debug hook: the residual stream after each layer (valid during the call), and router logits of MoE layers. */
  readonly onLayer?: (layer: number, hidden: Float32Array, routerLogits: Float32Array | undefined) => void;
}

export class Llama4TextModel {
  readonly kinds: readonly LayerKind[];
  private readonly invFreq: Float64Array;

  constructor(readonly config: Llama4TextConfig, readonly weights: Llama4TextWeights, readonly kernels: Kernels = refKernels) {
    this.kinds = layerKinds(config);
    this.invFreq = ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling, config.ropeFreqDivisors);
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
    return this.forwardBatch([{ tokens, cache, ...opts }], opts.onLayer)[0]!;
  }

  /**
   * Several sequences in one pass, each with its own cache and position: every weight
   * matrix is read once for all of their rows (continuous batching), attention stays per
   * sequence. Returns each sequence's requested logits.
   */
  forwardBatch(
    batch: readonly SequenceInput[],
    onLayer?: (layer: number, hidden: Float32Array, routerLogits: Float32Array | undefined) => void,
  ): Float32Array[] {
    const rows: { row: number; length: number; p0: number; cache: KVCache }[] = [];
    let N = 0;
    for (const s of batch) {
      rows.push({ row: N, length: s.tokens.length, p0: s.cache.position, cache: s.cache });
      N += s.tokens.length;
    }
    if (N === 0) return batch.map(() => new Float32Array(0));
    // Intermediates come from the kernels' workspace, given back at the end (logits do not).
    const ws = this.kernels.workspace;
    const base = ws?.mark();
    try {
      return this.decoder(batch, rows, N, onLayer);
    } finally {
      if (ws) ws.release(base!);
    }
  }

  /** forwardBatch's decoder over its N rows. */
  private decoder(
    batch: readonly SequenceInput[],
    rows: readonly { row: number; length: number; p0: number; cache: KVCache }[],
    N: number,
    onLayer?: (layer: number, hidden: Float32Array, routerLogits: Float32Array | undefined) => void,
  ): Float32Array[] {
    const c = this.config;
    const D = c.hiddenSize;
    const ws = this.kernels.workspace;
    const add = this.kernels.addInPlace ?? addInPlace;
    const h = floats(this.kernels, N * D); // residual stream [N, D]
    const positions = new Float64Array(N);
    batch.forEach((s, b) => {
      const r = rows[b]!;
      const e = s.embeddings ?? this.embed(s.tokens);
      if (e.length !== r.length * D) throw new Error(`embeddings must be [${r.length}, ${D}], got ${e.length} values`);
      h.set(e, r.row * D);
      for (let t = 0; t < r.length; t++) positions[r.row + t] = r.p0 + t;
    });

    const rope = ropeTables(this.invFreq, positions);
    const norm = this.kernels.rmsNorm ?? rmsNorm;
    const xn = floats(this.kernels, N * D);
    const y = floats(this.kernels, N * D);
    for (let i = 0; i < c.numLayers; i++) {
      const lw = this.weights.layers[i]!;
      const kind = this.kinds[i]!;
      const layerTop = ws?.mark();

      norm(xn, h, lw.attnNorm, c.rmsNormEps, N, D);
      const segments = rows.filter((r) => r.length > 0).map((r) => ({ ...r, cache: r.cache.layer(i) }));
      attention(y, xn, N, segments, lw.attn, kind, c, rope, this.kernels);
      add(h, y, N * D);

      norm(xn, h, lw.ffnNorm, c.rmsNormEps, N, D);
      let routerLogits: Float32Array | undefined;
      if (lw.ffn.kind === "moe") {
        routerLogits = onLayer ? new Float32Array(N * c.numExperts) : undefined;
        moe(y, xn, N, D, lw.ffn, c.topK, this.kernels, routerLogits);
      } else {
        swiglu(y, xn, N, lw.ffn, this.kernels);
      }
      add(h, y, N * D);
      onLayer?.(i, h, routerLogits);
      if (ws) ws.release(layerTop!);
    }
    for (const r of rows) r.cache.advance(r.length);

    // Final norm and lm_head only for the rows whose logits were asked for, in one matmul.
    const wanted: { b: number; first: number; count: number }[] = [];
    let R = 0;
    batch.forEach((s, b) => {
      const r = rows[b]!;
      const which = s.logits ?? "last";
      const count = r.length === 0 || which === "none" ? 0 : which === "all" ? r.length : 1;
      wanted.push({ b, first: r.row + r.length - count, count });
      R += count;
    });
    const hn = floats(this.kernels, R * D);
    let at = 0;
    for (const w of wanted) {
      norm(hn.subarray(at * D), h.subarray(w.first * D), this.weights.norm, c.rmsNormEps, w.count, D);
      at += w.count;
    }
    const V = c.vocabSize;
    const logits = new Float32Array(R * V);
    if (R > 0) this.kernels.matmul(logits, hn, this.weights.lmHead, R);
    at = 0;
    return wanted.map((w) => {
      const out = logits.subarray(at * V, (at + w.count) * V);
      at += w.count;
      return out;
    });
  }
}

/** One sequence's part of a batched forward pass. */
export interface SequenceInput {
  readonly tokens: ArrayLike<number>;
  readonly cache: KVCache;
  readonly logits?: "all" | "last" | "none";
  readonly embeddings?: Float32Array;
}
