// Llama 4 in GGUF (`general.architecture = "llama4"`), with llama.cpp's key and tensor names:
// loading a file into the decoder's config and weights (weights keep their stored type:
// F32/F16/BF16/Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K), and converting a Hugging Face folder into
// what llama.cpp's convert_hf_to_gguf.py (+ llama-quantize for q4_0/q4_k_m) writes.
//
// llama.cpp reads only a few hyper-parameters for this architecture and hard-codes the rest:
// chunk 8192 on 3 of every 4 layers, NoPE on every 4th, temperature tuning with floor 8192 and
// scale 0.1, QK-norm unless there are 128 experts; `attention.sliding_window = 0` turns
// chunking, tuning and all NoPE layers but the last off. Llama-3 RoPE scaling travels as the
// divisor tensor `rope_freqs.weight` [d/2]. A checkpoint whose config differs from those
// constants (the tiny test models) gets extra `llama4ts.*` keys recording its real values;
// llama.cpp ignores them, this loader honours them.
import { dirname, resolve, basename } from "node:path";
import { FormatError } from "./errors.js";
import { GgufFile, gguf, type GgmlTypeName, type GgufTensorInfo, type GgufValue } from "./gguf.js";
import { GgufWriter, type GgufTensorSpec } from "./gguf-writer.js";
import { LLAMA_FILE_TYPE, TensorTypeChooser, GGUF_OUT_TYPES, type GgufOutType } from "./gguf-quant-mix.js";
import { ggufStopTokenIds, readGgufTokenizerData, tokenizerMetadata, type GgufTokenizerData } from "./gguf-vocab.js";
import { TensorStore } from "./checkpoint.js";
import type { TensorInfo } from "./safetensors.js";
import { detectPrefix, plainMatrix, readConfigFile, textTensorNames, type LoadOptions, type LoadProgress, type LoadedModel } from "./hf.js";
import type { Llama4TextConfig, RopeScaling } from "../model/config.js";
import type { DecoderLayerWeights, Llama4TextWeights, SwiGLUWeights } from "../model/weights.js";
import { type Matrix, type WeightDType } from "../kernels/matrix.js";
import { f32ToBf16Array, f32ToF16, widenRow } from "../kernels/dtype.js";
import { dequantizeRows, quantizeRows, type QuantDType } from "../kernels/quant/index.js";

export { GGUF_OUT_TYPES, LLAMA_FILE_TYPE, type GgufOutType } from "./gguf-quant-mix.js";
export { loadGgufTokenizer, loadGgufTokenizerData, ggufTokenizerJson, type GgufTokenizerData } from "./gguf-vocab.js";

export const LLAMA4_ARCH = "llama4";

const key = (k: string) => `${LLAMA4_ARCH}.${k}`;

/** Our own keys, written only where a checkpoint differs from llama.cpp's fixed values. */
export const LLAMA4TS_KEYS = {
  chunkSize: "llama4ts.attention.chunk_size", // uint32, 0 = every layer global
  nopeLayers: "llama4ts.nope_layers", // int32[] of NoPE layer indices
  moeLayers: "llama4ts.moe_layers", // int32[] of MoE layer indices
  useQkNorm: "llama4ts.attention.use_qk_norm", // bool
  temperatureTuning: "llama4ts.attention.temperature_tuning", // bool
  temperatureFloorScale: "llama4ts.attention.temperature_floor_scale", // float64
  temperatureScale: "llama4ts.attention.temperature_scale", // float64
} as const;

/** GGUF tensor names of the Llama 4 text model. */
export const llama4GgufNames = {
  embed: "token_embd.weight",
  outputNorm: "output_norm.weight",
  output: "output.weight",
  ropeFreqs: "rope_freqs.weight",
  block: (i: number, t: Llama4BlockTensor) => `blk.${i}.${t}.weight`,
};

export type Llama4BlockTensor =
  | "attn_norm" | "attn_q" | "attn_k" | "attn_v" | "attn_output" | "ffn_norm"
  | "ffn_gate_inp" | "ffn_gate_exps" | "ffn_up_exps" | "ffn_down_exps" | "ffn_gate_shexp" | "ffn_up_shexp" | "ffn_down_shexp"
  | "ffn_gate" | "ffn_up" | "ffn_down";

/** The per-layer layout llama.cpp derives for this architecture from the few keys it reads. */
interface LayerLayout {
  readonly attentionChunkSize: number | null;
  readonly nopeLayers: readonly boolean[];
  readonly moeLayers: readonly number[];
  readonly useQkNorm: boolean;
  readonly attnTemperatureTuning: boolean;
  readonly floorScale: number;
  readonly attnScale: number;
}

function llamaCppLayout(numLayers: number, numExperts: number, moeStep: number, noChunking: boolean): LayerLayout {
  const nopeStep = noChunking ? numLayers : 4;
  const layers = Array.from({ length: numLayers }, (_, i) => i);
  return {
    attentionChunkSize: noChunking ? null : 8192,
    nopeLayers: layers.map((i) => (i + 1) % nopeStep === 0),
    moeLayers: numExperts > 0 && moeStep > 0 ? layers.filter((i) => (i + 1) % moeStep === 0) : [],
    useQkNorm: numExperts !== 128,
    attnTemperatureTuning: !noChunking,
    floorScale: 8192,
    attnScale: 0.1,
  };
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// ---------------------------------------------------------------------------------------
// GGUF metadata → config.

function uniformPerLayer(f: GgufFile, k: string, numLayers: number): number | undefined {
  const v = f.get(k);
  if (v === undefined || v.type !== "array") return f.optNumber(k);
  const list = f.optNumberArray(k)!;
  if (list.length !== numLayers || list.some((x) => x !== list[0])) {
    throw new FormatError(f.path, `metadata ${k}`, "per-layer values that differ between layers are not supported");
  }
  return list[0];
}

/** The decoder config a llama4 GGUF describes (RoPE divisors are added by the loader). */
export function llama4ConfigFromGguf(f: GgufFile, vocab?: GgufTokenizerData): Llama4TextConfig {
  const arch = f.optString("general.architecture");
  if (arch !== LLAMA4_ARCH) {
    throw new FormatError(f.path, "metadata general.architecture", `is ${JSON.stringify(arch)}; only "llama4" files are supported`);
  }
  const int = (k: string, v: number | undefined, min: number, dflt?: number): number => {
    const x = v ?? dflt;
    if (x === undefined) throw new FormatError(f.path, `metadata ${k}`, "is missing");
    if (!Number.isSafeInteger(x) || x < min) throw new FormatError(f.path, `metadata ${k}`, `expected an integer >= ${min}, got ${x}`);
    return x;
  };
  const numLayers = int(key("block_count"), f.optNumber(key("block_count")), 1);
  const hiddenSize = int(key("embedding_length"), f.optNumber(key("embedding_length")), 1);
  const numHeads = int(key("attention.head_count"), uniformPerLayer(f, key("attention.head_count"), numLayers), 1);
  const numKvHeads = int(key("attention.head_count_kv"), uniformPerLayer(f, key("attention.head_count_kv"), numLayers), 1, numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new FormatError(f.path, `metadata ${key("attention.head_count_kv")}`, `${numKvHeads} must divide head_count ${numHeads}`);
  }
  const headDim = int(key("attention.key_length"), f.optNumber(key("attention.key_length")), 2, Math.floor(hiddenSize / numHeads));
  const valueLength = f.optNumber(key("attention.value_length"));
  if (valueLength !== undefined && valueLength !== headDim) {
    throw new FormatError(f.path, `metadata ${key("attention.value_length")}`, `${valueLength} differs from key_length ${headDim}`);
  }
  const ropeDims = f.optNumber(key("rope.dimension_count"));
  if (ropeDims !== undefined && ropeDims !== headDim) {
    throw new FormatError(f.path, `metadata ${key("rope.dimension_count")}`, `${ropeDims} differs from the head size ${headDim} (partial RoPE is not supported)`);
  }
  if (headDim % 2 !== 0) throw new FormatError(f.path, `metadata ${key("attention.key_length")}`, `must be even for RoPE, got ${headDim}`);
  const numExperts = int(key("expert_count"), f.optNumber(key("expert_count")), 0, 0);
  const topK = int(key("expert_used_count"), f.optNumber(key("expert_used_count")), 1, 1);
  const moeStep = int(key("interleave_moe_layer_step"), f.optNumber(key("interleave_moe_layer_step")), 0, 1);
  const denseHidden = int(key("feed_forward_length"), uniformPerLayer(f, key("feed_forward_length"), numLayers), 1);
  const expertHidden = int(key("expert_feed_forward_length"), f.optNumber(key("expert_feed_forward_length")), 1, numExperts > 0 ? undefined : denseHidden);
  const slidingWindow = f.optNumber(key("attention.sliding_window"));
  const layout = llamaCppLayout(numLayers, numExperts, moeStep, slidingWindow === 0);

  const X = LLAMA4TS_KEYS;
  const chunkOverride = f.optNumber(X.chunkSize);
  const layerList = (k: string): number[] | undefined => {
    const list = f.optNumberArray(k);
    if (list === undefined) return undefined;
    for (const i of list) {
      if (!Number.isSafeInteger(i) || i < 0 || i >= numLayers) throw new FormatError(f.path, `metadata ${k}`, `layer ${i} is outside 0..${numLayers - 1}`);
    }
    return [...list];
  };
  const nopeList = layerList(X.nopeLayers);
  const moeLayers = layerList(X.moeLayers) ?? [...layout.moeLayers];
  if (moeLayers.length > 0 && (numExperts === 0 || topK > numExperts)) {
    throw new FormatError(f.path, `metadata ${key("expert_used_count")}`, `${topK} routed experts of ${numExperts} is not a valid MoE setup`);
  }

  const vocabSize = int(key("vocab_size"), f.optNumber(key("vocab_size")) ?? vocab?.tokens.length ?? f.tensors.get(llama4GgufNames.embed)?.shape[0], 1);
  return {
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    expertHidden,
    denseHidden,
    numExperts,
    topK,
    moeLayers,
    nopeLayers: nopeList ? Array.from({ length: numLayers }, (_, i) => nopeList.includes(i)) : [...layout.nopeLayers],
    attentionChunkSize: chunkOverride === undefined ? layout.attentionChunkSize : chunkOverride === 0 ? null : chunkOverride,
    useQkNorm: f.optBool(X.useQkNorm) ?? layout.useQkNorm,
    attnTemperatureTuning: f.optBool(X.temperatureTuning) ?? layout.attnTemperatureTuning,
    floorScale: f.optNumber(X.temperatureFloorScale) ?? layout.floorScale,
    attnScale: f.optNumber(X.temperatureScale) ?? layout.attnScale,
    ropeTheta: f.optNumber(key("rope.freq_base")) ?? 10000,
    ropeScaling: null,
    rmsNormEps: f.number(key("attention.layer_norm_rms_epsilon")),
    maxPositionEmbeddings: int(key("context_length"), f.optNumber(key("context_length")), 1),
    tieWordEmbeddings: !f.has(llama4GgufNames.output),
    bosTokenId: f.optNumber("tokenizer.ggml.bos_token_id") ?? null,
    eosTokenIds: vocab ? ggufStopTokenIds(vocab) : [f.optNumber("tokenizer.ggml.eos_token_id")].filter((v): v is number => v !== undefined),
    padTokenId: f.optNumber("tokenizer.ggml.padding_token_id") ?? null,
  };
}

// ---------------------------------------------------------------------------------------
// Loading.

const GGML_TO_WEIGHT: Partial<Record<GgmlTypeName, WeightDType>> = {
  F32: "f32", F16: "f16", BF16: "bf16", Q8_0: "q8_0", Q4_0: "q4_0", Q5_0: "q5_0", Q4_K: "q4_k", Q5_K: "q5_k", Q6_K: "q6_k",
};

export interface GgufLoadedModel extends LoadedModel {
  /** The .gguf file. */
  readonly file: string;
  /** Stored type of every tensor, by GGUF name. */
  readonly tensorTypes: ReadonlyMap<string, GgmlTypeName>;
}

/** Reads tensors with shape and type checks, tracking which ones were used. */
class GgufWeightReader {
  private readonly used = new Set<string>();
  loadedBytes = 0;
  private readonly totalBytes: number;

  private readonly alloc: (dtype: WeightDType, rows: number, cols: number) => Matrix;
  private readonly transform: (m: Matrix, name: string) => Matrix;

  constructor(private readonly f: GgufFile, private readonly onProgress?: (p: LoadProgress) => void, placement: Pick<LoadOptions, "allocMatrix" | "transformMatrix"> = {}) {
    this.alloc = placement.allocMatrix ?? plainMatrix;
    this.transform = placement.transformMatrix ?? ((m) => m);
    let total = 0;
    for (const t of f.tensors.values()) total += t.byteLength;
    this.totalBytes = total;
  }

  has(name: string): boolean {
    return this.f.has(name);
  }

  private info(name: string, shape: readonly number[]): { info: GgufTensorInfo; dtype: WeightDType } {
    if (!this.f.has(name)) {
      throw new FormatError(this.f.path, `tensor ${name}`, `is missing (expected shape [${shape.join(", ")}])`);
    }
    const info = this.f.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(this.f.path, `tensor ${name}`, `has shape [${info.shape.join(", ")}] but the metadata implies [${shape.join(", ")}]`);
    }
    const dtype = GGML_TO_WEIGHT[info.type];
    if (!dtype) {
      throw new FormatError(this.f.path, `tensor ${name}`,
        `has type ${info.type}; supported: ${Object.keys(GGML_TO_WEIGHT).join(", ")}`);
    }
    this.used.add(name);
    return { info, dtype };
  }

  private read(name: string, dtype: WeightDType, bytes: number, byteOffset: number): Float32Array | Uint16Array | Uint8Array {
    const data = dtype === "f32" ? new Float32Array(bytes / 4) : dtype === "f16" || dtype === "bf16" ? new Uint16Array(bytes / 2) : new Uint8Array(bytes);
    this.f.readInto(name, data, byteOffset);
    this.loadedBytes += bytes;
    this.onProgress?.({ loadedBytes: this.loadedBytes, totalBytes: this.totalBytes });
    return data;
  }

  /** A 2-D [rows, cols] tensor in its stored type. */
  matrix(name: string, rows: number, cols: number): Matrix {
    const { info, dtype } = this.info(name, [rows, cols]);
    return this.transform(this.readMatrix(name, dtype, rows, cols, info.byteLength, 0), name);
  }

  /** Reads `bytes` at `byteOffset` of tensor `name` straight into a freshly placed matrix. */
  private readMatrix(name: string, dtype: WeightDType, rows: number, cols: number, bytes: number, byteOffset: number): Matrix {
    const m = this.alloc(dtype, rows, cols);
    if (m.data.byteLength !== bytes) throw new FormatError(this.f.path, `tensor ${name}`, `holds ${bytes} bytes per matrix, expected ${m.data.byteLength}`);
    this.f.readInto(name, m.data, byteOffset);
    this.loadedBytes += bytes;
    this.onProgress?.({ loadedBytes: this.loadedBytes, totalBytes: this.totalBytes });
    return m;
  }

  /** Stacked [E, rows, cols] experts split into E matrices, each read straight into its own array. */
  experts(name: string, E: number, rows: number, cols: number): Matrix[] {
    const { info, dtype } = this.info(name, [E, rows, cols]);
    const perExpert = info.byteLength / E;
    return Array.from({ length: E }, (_, e) => this.transform(this.readMatrix(name, dtype, rows, cols, perExpert, e * perExpert), `${name}[${e}]`));
  }

  /** A 1-D tensor as f32. */
  vector(name: string, n: number): Float32Array {
    const { info, dtype } = this.info(name, [n]);
    const raw = this.read(name, dtype, info.byteLength, 0);
    if (raw instanceof Float32Array) return raw;
    if (raw instanceof Uint16Array) {
      const out = new Float32Array(n);
      widenRow(dtype as "f16" | "bf16", raw, 0, out, n);
      return out;
    }
    return dequantizeRows(dtype as QuantDType, raw, 1, n);
  }

  checkAllUsed(): void {
    for (const name of this.f.tensors.keys()) {
      if (!this.used.has(name)) {
        throw new FormatError(this.f.path, `tensor ${name}`, "is not part of the model the metadata describes (wrong block_count, expert_count or interleave_moe_layer_step?)");
      }
    }
  }
}

function loadLlama4Weights(rd: GgufWeightReader, c: Llama4TextConfig): Llama4TextWeights {
  const n = llama4GgufNames;
  const D = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const moe = new Set(c.moeLayers);
  const embed = rd.matrix(n.embed, c.vocabSize, D);
  const layers: DecoderLayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const b = (t: Llama4BlockTensor) => n.block(i, t);
    const attn = {
      q: rd.matrix(b("attn_q"), qDim, D),
      k: rd.matrix(b("attn_k"), kvDim, D),
      v: rd.matrix(b("attn_v"), kvDim, D),
      o: rd.matrix(b("attn_output"), D, qDim),
    };
    let ffn: DecoderLayerWeights["ffn"];
    if (moe.has(i)) {
      const F = c.expertHidden;
      const gate = rd.experts(b("ffn_gate_exps"), c.numExperts, F, D);
      const up = rd.experts(b("ffn_up_exps"), c.numExperts, F, D);
      const down = rd.experts(b("ffn_down_exps"), c.numExperts, D, F);
      const experts: SwiGLUWeights[] = gate.map((g, e) => ({ gate: g, up: up[e]!, down: down[e]! }));
      ffn = {
        kind: "moe",
        router: rd.matrix(b("ffn_gate_inp"), c.numExperts, D),
        experts,
        shared: { gate: rd.matrix(b("ffn_gate_shexp"), F, D), up: rd.matrix(b("ffn_up_shexp"), F, D), down: rd.matrix(b("ffn_down_shexp"), D, F) },
      };
    } else {
      const F = c.denseHidden;
      ffn = { kind: "dense", gate: rd.matrix(b("ffn_gate"), F, D), up: rd.matrix(b("ffn_up"), F, D), down: rd.matrix(b("ffn_down"), D, F) };
    }
    layers.push({ attnNorm: rd.vector(b("attn_norm"), D), attn, ffnNorm: rd.vector(b("ffn_norm"), D), ffn });
  }
  const norm = rd.vector(n.outputNorm, D);
  const lmHead = rd.has(n.output) ? rd.matrix(n.output, c.vocabSize, D) : embed;
  return { embed, layers, norm, lmHead };
}

/** JSON-friendly scalar metadata (and short arrays), for callers that want the raw keys. */
function plainMetadata(f: GgufFile): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const plain = (v: GgufValue): unknown => {
    if (v.type === "uint64" || v.type === "int64") return Number.isSafeInteger(Number(v.value)) ? Number(v.value) : v.value.toString();
    if (v.type === "array") return (v.value as readonly unknown[]).map((x) => (typeof x === "bigint" ? Number(x) : typeof x === "object" ? plain(x as GgufValue) : x));
    return v.value;
  };
  for (const [k, v] of f.metadata) if (v.type !== "array" || v.value.length <= 64) out[k] = plain(v);
  return out;
}

/** Opens a llama4 GGUF file: the config it describes and its weights in their stored types. */
export function loadGgufModel(path: string, opts: LoadOptions = {}): GgufLoadedModel {
  const file = resolve(path);
  const f = GgufFile.open(file);
  try {
    const vocab = f.get("tokenizer.ggml.tokens") !== undefined ? readGgufTokenizerData(f) : undefined;
    let config = llama4ConfigFromGguf(f, vocab);
    if (vocab && vocab.tokens.length !== config.vocabSize) {
      throw new FormatError(file, "metadata tokenizer.ggml.tokens", `has ${vocab.tokens.length} tokens but the model has ${config.vocabSize}`);
    }
    const rd = new GgufWeightReader(f, opts.onProgress, opts);
    if (rd.has(llama4GgufNames.ropeFreqs)) {
      config = { ...config, ropeFreqDivisors: rd.vector(llama4GgufNames.ropeFreqs, config.headDim / 2) };
    }
    const weights = loadLlama4Weights(rd, config);
    rd.checkAllUsed();
    const tensorTypes = new Map([...f.tensors.values()].map((t) => [t.name, t.type] as const));
    return { config, weights, rawConfig: plainMetadata(f), dir: dirname(file), prefix: "", weightBytes: rd.loadedBytes, file, tensorTypes };
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------------------
// Hugging Face → GGUF.

export interface ConvertOptions {
  readonly type: GgufOutType;
  /** tokenizer.json / tokenizer.model, or a folder holding one: written as tokenizer.* metadata. */
  readonly tokenizer?: string;
  /** general.name (default: the folder name). */
  readonly name?: string;
  readonly onProgress?: (p: ConvertProgress) => void;
}

export interface ConvertProgress {
  readonly doneWeights: number;
  readonly totalWeights: number;
}

export interface ConvertResult {
  readonly path: string;
  readonly tensors: readonly GgufTensorSpec[];
  /** Tensors that could not take the type the mix rules wanted (row length not a whole number of blocks). */
  readonly fallbacks: readonly string[];
  readonly bytes: number;
}

/** llama.cpp's rope_freqs: per-frequency divisors 1, factor, or 1/((1−smooth)/factor + smooth). */
export function llama3RopeDivisors(headDim: number, theta: number, s: RopeScaling): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let m = 0; m < half; m++) {
    const freq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * m) / headDim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[m] = 1;
    else if (wavelen > lowWavelen) out[m] = s.factor;
    else if (s.highFreqFactor === s.lowFreqFactor) out[m] = 1; // empty blend band
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[m] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** The text hyper-parameters object of config.json (text_config, or the root). */
function textHparams(raw: Record<string, unknown>): Record<string, unknown> {
  const t = raw.text_config;
  return t !== null && typeof t === "object" && !Array.isArray(t) ? (t as Record<string, unknown>) : raw;
}

function llama4Metadata(c: Llama4TextConfig, raw: Record<string, unknown>, type: GgufOutType, name: string): [string, GgufValue][] {
  const t = textHparams(raw);
  const moeStep = typeof t.interleave_moe_layer_step === "number" ? t.interleave_moe_layer_step : 1;
  const allFull = Array.isArray(t.layer_types) && t.layer_types.every((lt) => lt === "full_attention");
  const meta: [string, GgufValue][] = [
    ["general.architecture", gguf.str(LLAMA4_ARCH)],
    ["general.type", gguf.str("model")],
    ["general.name", gguf.str(name)],
    [key("block_count"), gguf.u32(c.numLayers)],
    [key("context_length"), gguf.u32(c.maxPositionEmbeddings)],
    [key("embedding_length"), gguf.u32(c.hiddenSize)],
    [key("feed_forward_length"), gguf.u32(c.denseHidden)], // HF intermediate_size_mlp: the converter swaps the names
    [key("attention.head_count"), gguf.u32(c.numHeads)],
    [key("attention.head_count_kv"), gguf.u32(c.numKvHeads)],
    [key("rope.freq_base"), gguf.f32(c.ropeTheta)],
    [key("attention.layer_norm_rms_epsilon"), gguf.f32(c.rmsNormEps)],
    [key("expert_count"), gguf.u32(c.numExperts)],
    [key("expert_used_count"), gguf.u32(c.topK)],
    [key("attention.key_length"), gguf.u32(c.headDim)],
    [key("attention.value_length"), gguf.u32(c.headDim)],
    ["general.file_type", gguf.u32(LLAMA_FILE_TYPE[type])],
    [key("vocab_size"), gguf.u32(c.vocabSize)],
    [key("rope.dimension_count"), gguf.u32(c.headDim)],
    [key("interleave_moe_layer_step"), gguf.u32(moeStep)],
    [key("expert_feed_forward_length"), gguf.u32(c.expertHidden)],
  ];
  if (allFull) meta.push([key("attention.sliding_window"), gguf.u32(0)]);
  meta.push(["general.quantization_version", gguf.u32(2)]);

  // Where llama.cpp's fixed layout would differ from this checkpoint, record the real values.
  const X = LLAMA4TS_KEYS;
  const fixed = llamaCppLayout(c.numLayers, c.numExperts, moeStep, allFull);
  if (c.attentionChunkSize !== fixed.attentionChunkSize) meta.push([X.chunkSize, gguf.u32(c.attentionChunkSize ?? 0)]);
  if (!sameList(c.nopeLayers, fixed.nopeLayers)) {
    meta.push([X.nopeLayers, gguf.numbers("int32", c.nopeLayers.flatMap((nope, i) => (nope ? [i] : [])))]);
  }
  if (!sameList(c.moeLayers, fixed.moeLayers)) meta.push([X.moeLayers, gguf.numbers("int32", [...c.moeLayers])]);
  if (c.useQkNorm !== fixed.useQkNorm) meta.push([X.useQkNorm, gguf.bool(c.useQkNorm)]);
  if (c.attnTemperatureTuning !== fixed.attnTemperatureTuning || c.floorScale !== fixed.floorScale || c.attnScale !== fixed.attnScale) {
    meta.push(
      [X.temperatureTuning, gguf.bool(c.attnTemperatureTuning)],
      [X.temperatureFloorScale, gguf.f64(c.floorScale)],
      [X.temperatureScale, gguf.f64(c.attnScale)],
    );
  }
  return meta;
}

/** Streams one tensor's values as f32 rows: calls sink(rows, count) with count·rowLength values. */
type RowSource = (sink: (rows: Float32Array, count: number) => void) => void;

interface PlannedTensor extends GgufTensorSpec {
  readonly source: RowSource;
}

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);
/** Values converted per step when streaming a 2-D tensor (bounds the conversion buffers). */
const CHUNK_VALUES = 1 << 22;

/** Reads Hugging Face tensors as f32, checking shapes and tracking which were used. */
class HfReader {
  readonly used = new Set<string>();

  constructor(private readonly store: TensorStore, readonly where: string) {}

  has(name: string): boolean {
    return this.store.has(name);
  }

  info(name: string, shape: readonly number[]): TensorInfo {
    if (!this.store.has(name)) throw new FormatError(this.where, `tensor ${name}`, `is missing (expected shape [${shape.join(", ")}])`);
    const info = this.store.info(name);
    if (!FLOAT_DTYPES.has(info.dtype)) throw new FormatError(info.file, `tensor ${name}`, `has dtype ${info.dtype}; weights must be F32, F16 or BF16`);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(info.file, `tensor ${name}`, `has shape [${info.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`);
    }
    this.used.add(name);
    return info;
  }

  /** `count` values starting at element `start`, widened into out[0..count). */
  read(info: TensorInfo, start: number, count: number, out: Float32Array): void {
    if (info.dtype === "F32") {
      this.store.readInto(info.name, out.subarray(0, count), start * 4);
      return;
    }
    const raw = new Uint16Array(count);
    this.store.readInto(info.name, raw, start * 2);
    widenRow(info.dtype === "F16" ? "f16" : "bf16", raw, 0, out, count);
  }

  /** A 1-D or 2-D tensor in row chunks. */
  rows(name: string, shape: readonly number[]): RowSource {
    const info = this.info(name, shape);
    const cols = shape[shape.length - 1]!;
    const rows = shape.length === 1 ? 1 : shape[0]!;
    return (sink) => {
      const step = Math.max(1, Math.floor(CHUNK_VALUES / cols));
      const buf = new Float32Array(Math.min(rows, step) * cols);
      for (let r = 0; r < rows; r += step) {
        const n = Math.min(step, rows - r);
        this.read(info, r * cols, n * cols, buf);
        sink(buf, n);
      }
    };
  }

  /**
   * Fused experts [E, R, C] in x·W orientation: for each expert, columns [c0, c0+n) transposed
   * to an [n, R] matrix — one expert slice held at a time.
   */
  expertColumns(name: string, shape: readonly [number, number, number], c0: number, n: number): RowSource {
    const info = this.info(name, shape);
    const [E, R, C] = shape;
    return (sink) => {
      const slice = new Float32Array(R * C);
      const out = new Float32Array(n * R);
      for (let e = 0; e < E; e++) {
        this.read(info, e * R * C, R * C, slice);
        for (let r = 0; r < R; r++) {
          const base = r * C + c0;
          for (let j = 0; j < n; j++) out[j * R + r] = slice[base + j]!;
        }
        sink(out, n);
      }
    };
  }
}

/** f32 rows → the bytes of `type`. */
function encodeRows(type: GgmlTypeName, rows: Float32Array, count: number, cols: number): ArrayBufferView {
  const values = rows.subarray(0, count * cols);
  switch (type) {
    case "F32": return values;
    case "F16": {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
      return out;
    }
    case "BF16": {
      const out = new Uint16Array(values.length);
      f32ToBf16Array(values, out);
      return out;
    }
    default: {
      const dtype = GGML_TO_WEIGHT[type];
      if (!dtype || dtype === "f32" || dtype === "f16" || dtype === "bf16") throw new Error(`cannot write ${type} tensors`);
      return quantizeRows(dtype, values, count, cols);
    }
  }
}

function planTensors(hf: HfReader, c: Llama4TextConfig, prefix: string, out: GgufOutType): { plan: PlannedTensor[]; fallbacks: readonly string[] } {
  const h = textTensorNames(prefix);
  const g = llama4GgufNames;
  const D = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const chooser = new TensorTypeChooser(out, { numLayers: c.numLayers, numExperts: c.numExperts, hasOutput: hf.has(h.lmHead) });
  const plan: PlannedTensor[] = [];
  const add = (name: string, shape: readonly number[], source: RowSource) => {
    plan.push({ name, shape, type: chooser.choose({ name, shape }), source });
  };
  const direct = (name: string, hfName: string, shape: readonly number[]) => add(name, shape, hf.rows(hfName, shape));

  if (c.ropeScaling) {
    const divisors = llama3RopeDivisors(c.headDim, c.ropeTheta, c.ropeScaling);
    add(g.ropeFreqs, [divisors.length], (sink) => sink(divisors, 1));
  }
  direct(g.embed, h.embed, [c.vocabSize, D]);
  const moe = new Set(c.moeLayers);
  for (let i = 0; i < c.numLayers; i++) {
    const b = (t: Llama4BlockTensor) => g.block(i, t);
    direct(b("attn_norm"), h.attnNorm(i), [D]);
    direct(b("attn_q"), h.attn(i, "q"), [qDim, D]);
    direct(b("attn_k"), h.attn(i, "k"), [kvDim, D]);
    direct(b("attn_v"), h.attn(i, "v"), [kvDim, D]);
    direct(b("attn_output"), h.attn(i, "o"), [D, qDim]);
    direct(b("ffn_norm"), h.ffnNorm(i), [D]);
    if (moe.has(i)) {
      const E = c.numExperts;
      const F = c.expertHidden;
      direct(b("ffn_gate_inp"), h.router(i), [E, D]);
      // HF gate_up_proj [E, D, 2F] (x·W; gate = first F columns), down_proj [E, F, D].
      add(b("ffn_gate_exps"), [E, F, D], hf.expertColumns(h.gateUpExperts(i), [E, D, 2 * F], 0, F));
      add(b("ffn_up_exps"), [E, F, D], hf.expertColumns(h.gateUpExperts(i), [E, D, 2 * F], F, F));
      add(b("ffn_down_exps"), [E, D, F], hf.expertColumns(h.downExperts(i), [E, F, D], 0, D));
      direct(b("ffn_gate_shexp"), h.shared(i, "gate"), [F, D]);
      direct(b("ffn_up_shexp"), h.shared(i, "up"), [F, D]);
      direct(b("ffn_down_shexp"), h.shared(i, "down"), [D, F]);
    } else {
      const F = c.denseHidden;
      direct(b("ffn_gate"), h.dense(i, "gate"), [F, D]);
      direct(b("ffn_up"), h.dense(i, "up"), [F, D]);
      direct(b("ffn_down"), h.dense(i, "down"), [D, F]);
    }
  }
  direct(g.outputNorm, h.norm, [D]);
  if (hf.has(h.lmHead)) direct(g.output, h.lmHead, [c.vocabSize, D]);
  else if (!c.tieWordEmbeddings) throw new FormatError(hf.where, `tensor ${h.lmHead}`, "is missing and tie_word_embeddings is false");
  return { plan, fallbacks: chooser.fallbacks };
}

/**
 * Converts a Hugging Face Llama 4 folder into a GGUF file as llama.cpp writes it, one
 * tensor at a time (at most one expert slice or one row chunk is converted at once).
 */
export function convertHfToGguf(hfDir: string, outPath: string, opts: ConvertOptions): ConvertResult {
  if (!GGUF_OUT_TYPES.includes(opts.type)) {
    throw new Error(`unknown GGUF output type ${JSON.stringify(opts.type)} (expected ${GGUF_OUT_TYPES.join(", ")})`);
  }
  const { raw, config } = readConfigFile(hfDir);
  const store = TensorStore.open(hfDir);
  try {
    const prefix = detectPrefix(store, resolve(hfDir));
    const hf = new HfReader(store, resolve(hfDir));
    const { plan, fallbacks } = planTensors(hf, config, prefix, opts.type);
    for (const name of store.names()) {
      if ((name.startsWith(`${prefix}model.`) || name.startsWith(`${prefix}lm_head.`)) && !hf.used.has(name)) {
        throw new FormatError(store.info(name).file, `tensor ${name}`,
          "is not part of the model config.json describes (wrong num_hidden_layers, moe_layers or tie_word_embeddings?)");
      }
    }
    const metadata = llama4Metadata(config, raw, opts.type, opts.name ?? basename(resolve(hfDir)));
    if (opts.tokenizer !== undefined) {
      metadata.push(...tokenizerMetadata(opts.tokenizer, { vocabSize: config.vocabSize, padTokenId: config.padTokenId, modelDir: hfDir }));
    } else {
      // No vocabulary: keep the special ids config.json gives, so the model still knows them.
      if (config.bosTokenId !== null) metadata.push(["tokenizer.ggml.bos_token_id", gguf.u32(config.bosTokenId)]);
      if (config.eosTokenIds.length > 0) metadata.push(["tokenizer.ggml.eos_token_id", gguf.u32(config.eosTokenIds[0]!)]);
      if (config.padTokenId !== null) metadata.push(["tokenizer.ggml.padding_token_id", gguf.u32(config.padTokenId)]);
    }

    const writer = new GgufWriter(outPath, metadata, plan);
    let doneWeights = 0;
    const totalWeights = plan.reduce((s, t) => s + t.shape.reduce((a, d) => a * d, 1), 0);
    try {
      for (const t of plan) {
        const cols = t.shape[t.shape.length - 1]!;
        t.source((rows, count) => {
          writer.writePart(encodeRows(t.type, rows, count, cols));
          doneWeights += count * cols;
          opts.onProgress?.({ doneWeights, totalWeights });
        });
        writer.endTensor();
      }
      writer.close();
    } catch (e) {
      writer.abort();
      throw e;
    }
    return { path: resolve(outPath), tensors: plan.map(({ name, type, shape }) => ({ name, type, shape })), fallbacks, bytes: writer.bytesWritten };
  } finally {
    store.close();
  }
}
