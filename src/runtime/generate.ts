// Driving the decoder over a sequence: prefill in bounded blocks, per-position logits for
// evaluation, and the decode loop.
import type { Llama4TextModel } from "../model/llama4.js";
import { SequenceKVCache } from "./kvcache.js";
import { argmax } from "../kernels/ref/ops.js";
import type { KVType } from "../model/kv.js";

/** Prompt tokens are fed in blocks of at most this many (bounds activations and chunk buffers). */
export const DEFAULT_BLOCK_SIZE = 512;

export interface EvalOptions {
  /** Feed tokens one at a time through the KV cache instead of in blocks. */
  readonly incremental?: boolean;
  readonly blockSize?: number;
  /** KV element type (default: the model's, f32 unless openModel was given one). */
  readonly kvType?: KVType;
}

/** Logits [T, V] for every position of `tokens`, starting from an empty cache. */
export function evalLogits(model: Llama4TextModel, tokens: readonly number[], opts: EvalOptions = {}): Float32Array {
  const V = model.config.vocabSize;
  const block = opts.incremental ? 1 : (opts.blockSize ?? DEFAULT_BLOCK_SIZE);
  const cache = SequenceKVCache.forModel(model, { maxBlock: block, ...(opts.kvType && { kvType: opts.kvType }) });
  try {
    const out = new Float32Array(tokens.length * V);
    for (let s = 0; s < tokens.length; s += block) {
      const part = tokens.slice(s, s + block);
      out.set(model.forward(part, cache, { logits: "all" }), s * V);
    }
    return out;
  } finally {
    cache.dispose();
  }
}

/**
 * Feeds `tokens` into `cache` in blocks and returns the logits of the last one [V].
 * `embeddings` [T, D], when given, replaces the token lookup (image rows merged in).
 */
export function prefill(
  model: Llama4TextModel, cache: SequenceKVCache, tokens: readonly number[], blockSize = DEFAULT_BLOCK_SIZE, embeddings?: Float32Array,
): Float32Array {
  if (tokens.length === 0) throw new Error("prefill needs at least one token");
  const D = model.config.hiddenSize;
  if (embeddings && embeddings.length !== tokens.length * D) {
    throw new Error(`prompt embeddings must be [${tokens.length}, ${D}], got ${embeddings.length} values`);
  }
  let logits: Float32Array = new Float32Array(0);
  for (let s = 0; s < tokens.length; s += blockSize) {
    const part = tokens.slice(s, s + blockSize);
    const last = s + blockSize >= tokens.length;
    logits = model.forward(part, cache, {
      logits: last ? "last" : "none",
      ...(embeddings && { embeddings: embeddings.subarray(s * D, (s + part.length) * D) }),
    });
  }
  return logits;
}

export interface GreedyOptions {
  readonly maxTokens: number;
  readonly stopTokens?: readonly number[];
  readonly blockSize?: number;
  /** KV element type (default: the model's). */
  readonly kvType?: KVType;
}

/** Greedy continuation of `prompt`: prefill once, then one decode step per new token. */
export function generateGreedy(model: Llama4TextModel, prompt: readonly number[], opts: GreedyOptions): number[] {
  const block = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const stop = new Set(opts.stopTokens ?? []);
  const out: number[] = [];
  if (opts.maxTokens <= 0) return out;
  const cache = SequenceKVCache.forModel(model, { maxBlock: block, ...(opts.kvType && { kvType: opts.kvType }) });
  try {
    let logits = prefill(model, cache, prompt, block);
    for (;;) {
      const next = argmax(logits);
      out.push(next);
      if (stop.has(next) || out.length >= opts.maxTokens) return out;
      logits = model.forward([next], cache, { logits: "last" });
    }
  } finally {
    cache.dispose();
  }
}
