// Opening a model for inference: a Hugging Face folder or a llama4 GGUF file, optionally
// quantizing its float matrices on the way in.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { Llama4TextModel } from "../model/llama4.js";
import type { DecoderLayerWeights, Llama4TextWeights, SwiGLUWeights } from "../model/weights.js";
import { loadHfModel, type LoadOptions, type LoadedModel } from "../formats/hf.js";
import { loadGgufModel } from "../formats/gguf-llama4.js";
import { GGUF_MAGIC } from "../formats/gguf.js";
import { isQuantized, quantizeMatrix, type Matrix } from "../kernels/matrix.js";
import { QUANT_FORMATS, type QuantDType } from "../kernels/quant/index.js";

export interface OpenedModel {
  readonly model: Llama4TextModel;
  readonly source: LoadedModel;
}

/** In-memory quantization of a model's float matrices. */
export type LoadQuant = "q8_0" | "q4_0" | "q4_k";

export interface OpenModelOptions extends LoadOptions {
  readonly quant?: LoadQuant;
}

/** A .gguf path, or any file that starts with the GGUF magic. */
export function isGgufFile(path: string): boolean {
  if (path.toLowerCase().endsWith(".gguf")) return true;
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, "r");
    try {
      const magic = Buffer.alloc(4);
      return readSync(fd, magic, 0, 4, 0) === 4 && magic.readUInt32LE(0) === GGUF_MAGIC;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export function openModel(path: string, opts: OpenModelOptions = {}): OpenedModel {
  let source: LoadedModel = isGgufFile(path) ? loadGgufModel(path, opts) : loadHfModel(path, opts);
  if (opts.quant) source = { ...source, weights: quantizeWeights(source.weights, opts.quant) };
  return { model: new Llama4TextModel(source.config, source.weights), source };
}

/**
 * Quantizes every float 2-D matrix the matmuls read — attention, experts, shared experts,
 * dense FFNs and the output head — to `dtype`, one matrix at a time. Left as they are:
 *  - the token embedding, unless it is tied to the output head: it is only ever read one row
 *    per token (a gather, no matmul), so quantizing it saves memory but no time, and keeping
 *    it exact keeps the model's inputs exact (llama.cpp's q4_k_m quantizes it; this does not);
 *  - the MoE routers: tiny, and llama.cpp never quantizes them either, since a rounding
 *    error there flips the chosen expert;
 *  - matrices already quantized (GGUF), and matrices whose rows are not a whole number of
 *    `dtype` blocks (32 weights, or 256 for q4_k).
 * The loader has already read the whole model in its stored type, so peak memory is that
 * plus the quantized copy; afterwards only the quantized weights stay referenced.
 */
export function quantizeWeights(w: Llama4TextWeights, dtype: QuantDType): Llama4TextWeights {
  const { blockSize } = QUANT_FORMATS[dtype];
  const q = (m: Matrix): Matrix => (isQuantized(m) || m.cols % blockSize !== 0 ? m : quantizeMatrix(m, dtype));
  const swiglu = (s: SwiGLUWeights): SwiGLUWeights => ({ gate: q(s.gate), up: q(s.up), down: q(s.down) });
  const layers = w.layers.map((l): DecoderLayerWeights => ({
    attnNorm: l.attnNorm,
    ffnNorm: l.ffnNorm,
    attn: { q: q(l.attn.q), k: q(l.attn.k), v: q(l.attn.v), o: q(l.attn.o) },
    ffn: l.ffn.kind === "moe"
      ? { kind: "moe", router: l.ffn.router, experts: l.ffn.experts.map(swiglu), shared: swiglu(l.ffn.shared) }
      : { kind: "dense", ...swiglu(l.ffn) },
  }));
  const lmHead = q(w.lmHead);
  const tied = w.lmHead === w.embed;
  return { embed: tied ? lmHead : w.embed, layers, norm: w.norm, lmHead };
}
