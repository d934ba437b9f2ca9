// `llama4 bench`: prompt processing and decode speed on a model, and the memory traffic
// behind decode (the roofline: decode reads the active weights and the KV cache per token).
import type { Llama4TextModel } from "../model/llama4.js";
import type { Matrix } from "../kernels/matrix.js";
import { SequenceKVCache } from "./kvcache.js";
import { DEFAULT_BLOCK_SIZE } from "./generate.js";
import { argmax } from "../kernels/ref/ops.js";
import { kvRowBytes, type KVType } from "../model/kv.js";

export interface BenchResult {
  kv_type: KVType;
  prompt_tokens: number;
  gen_tokens: number;
  prompt_s: number;
  prompt_tok_s: number;
  decode_s: number;
  decode_tok_s: number;
  /** Weight + KV bytes one decode step reads, at the middle of the decode run. */
  bytes_per_token: number;
  decode_gb_s: number;
}

/**
 * Bytes one decode step at `position` reads: every matrix the token touches (attention,
 * router, shared expert, top-k experts taken at their average size, dense FFN, lm_head, one
 * embedding row) plus the keys and values it attends to, as stored (`kvType`).
 */
export function decodeBytesPerToken(model: Llama4TextModel, position: number, kvType: KVType = "f32"): number {
  const c = model.config;
  const w = model.weights;
  const b = (m: Matrix) => m.data.byteLength;
  let bytes = b(w.lmHead) + b(w.embed) / c.vocabSize + w.norm.byteLength;
  const kvRow = kvRowBytes(kvType, c.numKvHeads * c.headDim) * 2;
  model.kinds.forEach((kind, i) => {
    const l = w.layers[i]!;
    bytes += b(l.attn.q) + b(l.attn.k) + b(l.attn.v) + b(l.attn.o) + l.attnNorm.byteLength + l.ffnNorm.byteLength;
    if (l.ffn.kind === "moe") {
      const mlp = (m: { gate: Matrix; up: Matrix; down: Matrix }) => b(m.gate) + b(m.up) + b(m.down);
      const avgExpert = l.ffn.experts.reduce((s, e) => s + mlp(e), 0) / l.ffn.experts.length;
      bytes += b(l.ffn.router) + mlp(l.ffn.shared) + c.topK * avgExpert;
    } else {
      bytes += b(l.ffn.gate) + b(l.ffn.up) + b(l.ffn.down);
    }
    const visible = kind.chunked && c.attentionChunkSize !== null ? (position % c.attentionChunkSize) + 1 : position + 1;
    bytes += visible * kvRow;
  });
  return bytes;
}

/**
 * Prefills `promptTokens` pseudo-random tokens, then decodes `genTokens` greedily, with a KV
 * cache of `kvType` (default: the model's, see openModel).
 */
export function runBenchmark(
  model: Llama4TextModel, promptTokens: number, genTokens: number, blockSize = DEFAULT_BLOCK_SIZE, kvType?: KVType,
): BenchResult {
  const V = model.config.vocabSize;
  const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 13) % V);
  const cache = SequenceKVCache.forModel(model, { maxBlock: blockSize, ...(kvType && { kvType }) });
  const t0 = performance.now();
  let logits: Float32Array = new Float32Array(0);
  for (let s = 0; s < prompt.length; s += blockSize) {
    const last = s + blockSize >= prompt.length;
    logits = model.forward(prompt.slice(s, s + blockSize), cache, { logits: last ? "last" : "none" });
  }
  const promptS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (let i = 0; i < genTokens; i++) logits = model.forward([argmax(logits)], cache, { logits: "last" });
  const decodeS = (performance.now() - t1) / 1000;
  cache.dispose();
  const bytes = decodeBytesPerToken(model, promptTokens + Math.floor(genTokens / 2), cache.kvType);
  const decodeTokS = genTokens / decodeS;
  return {
    kv_type: cache.kvType,
    prompt_tokens: promptTokens,
    gen_tokens: genTokens,
    prompt_s: promptS,
    prompt_tok_s: promptTokens / promptS,
    decode_s: decodeS,
    decode_tok_s: decodeTokS,
    bytes_per_token: bytes,
    decode_gb_s: (bytes * decodeTokS) / 1e9,
  };
}
