// Opening a model for inference: a Hugging Face folder or a llama4 GGUF file, optionally
// quantizing its float matrices on the way in.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { Llama4TextModel } from "../model/llama4.js";
import { loadHfModel, type LoadOptions, type LoadedModel } from "../formats/hf.js";
import { refKernels, type Kernels } from "../kernels/kernels.js";
import { createFastKernels, type FastKernels } from "../kernels/fast.js";
import { loadGgufModel } from "../formats/gguf-llama4.js";
import { GGUF_MAGIC } from "../formats/gguf.js";
import { isQuantized, quantizeMatrix, type Matrix } from "../kernels/matrix.js";
import { QUANT_FORMATS, type QuantDType } from "../kernels/quant/index.js";
import { checkKVType, type KVType } from "../model/kv.js";
import { setModelKVType } from "./kvcache.js";

export interface OpenedModel {
  readonly model: Llama4TextModel;
  readonly source: LoadedModel;
  /** The kernels the model computes with (close them to stop worker threads early). */
  readonly kernels: Kernels;
}

/** In-memory quantization of a model's float matrices. */
export type LoadQuant = "q8_0" | "q4_0" | "q4_k";

export interface OpenModelOptions extends LoadOptions {
  readonly quant?: LoadQuant;
  /** "wasm": WASM SIMD on `threads` threads (default); "ref": the plain-TS reference kernels. */
  readonly kernels?: "wasm" | "ref";
  /** Threads for the WASM kernels, the caller's included (default: every core). */
  readonly threads?: number;
  /**
   * Element type of the KV caches made for this model (SequenceKVCache.forModel, and so
   * generate, the scheduler, chat sessions, eval and bench): f32 (default), f16 or q8_0
   * (ggml Q8_0 blocks along head_dim, which must be a multiple of 32).
   */
  readonly kvType?: KVType;
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
  const kvType = opts.kvType ?? "f32";
  const kernels = opts.kernels === "ref" ? refKernels : createFastKernels(opts.threads !== undefined ? { threads: opts.threads } : {});
  const allocMatrix = "allocMatrix" in kernels ? (kernels as FastKernels).allocMatrix : undefined;
  const place = (m: Matrix): Matrix => {
    if (!allocMatrix) return m;
    const placed = allocMatrix(m.dtype, m.rows, m.cols);
    (placed.data as Uint8Array).set(m.data as Uint8Array);
    return placed;
  };
  // Quantizing: read each float matrix into an ordinary array, quantize, and place only the
  // result in kernel memory (the arena never frees, so the float copy must not go there).
  const loadOpts: LoadOptions = opts.quant
    ? { ...opts, transformMatrix: quantizeOnLoad(opts.quant, place) }
    : { ...opts, ...(allocMatrix && { allocMatrix }) };
  let source: LoadedModel = isGgufFile(path) ? loadGgufModel(path, loadOpts) : loadHfModel(path, loadOpts);
  // A tied head was kept exact on load (it is also the embedding); quantize it now.
  if (opts.quant && source.weights.lmHead === source.weights.embed && !isQuantized(source.weights.embed)) {
    const head = quantizeForMatmul(source.weights.lmHead, opts.quant, place);
    source = { ...source, weights: { ...source.weights, embed: head, lmHead: head } };
  }
  checkKVType(kvType, source.config.headDim);
  const model = new Llama4TextModel(source.config, source.weights, kernels);
  setModelKVType(model, kvType);
  return { model, source, kernels };
}

/**
 * Per-matrix quantization while loading, so only one matrix is ever held twice. Left as
 * they are: the token embedding (read one row per token, never multiplied; a tied head is
 * quantized after loading) and the MoE routers (tiny, and a rounding error there flips the
 * chosen expert; llama.cpp keeps them exact too).
 */
function quantizeOnLoad(dtype: QuantDType, place: (m: Matrix) => Matrix): (m: Matrix, name: string) => Matrix {
  return (m, name) => {
    if (/embed_tokens|token_embd|router|ffn_gate_inp/.test(name)) return place(m);
    return quantizeForMatmul(m, dtype, place);
  };
}

function quantizeForMatmul(m: Matrix, dtype: QuantDType, place: (m: Matrix) => Matrix): Matrix {
  if (isQuantized(m) || m.cols % QUANT_FORMATS[dtype].blockSize !== 0) return place(m);
  return place(quantizeMatrix(m, dtype));
}
