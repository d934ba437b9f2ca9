// The Llama 4 text decoder's hyper-parameters, read from a Hugging Face config.json
// (`Llama4ForConditionalGeneration` with `text_config`, or text-only `Llama4ForCausalLM`),
// with the defaults transformers uses when a key is absent, and the per-layer kinds
// (MoE/dense, RoPE/NoPE, chunked/global) derived once.

export interface RopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

export interface Llama4TextConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number; // D
  readonly numLayers: number; // L
  readonly numHeads: number; // H
  readonly numKvHeads: number; // Hkv
  readonly headDim: number; // d
  readonly expertHidden: number; // F: per-expert and shared-expert width (HF intermediate_size)
  readonly denseHidden: number; // Fd: dense SwiGLU width (HF intermediate_size_mlp)
  readonly numExperts: number; // E
  readonly topK: number;
  readonly moeLayers: readonly number[];
  /** noRopeLayers[i] = true where layer i is a NoPE (global) layer. */
  readonly nopeLayers: readonly boolean[];
  /** Local-attention chunk size C, or null when every layer attends globally. */
  readonly attentionChunkSize: number | null;
  readonly useQkNorm: boolean;
  readonly attnTemperatureTuning: boolean;
  readonly floorScale: number;
  readonly attnScale: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  /** Explicit θ_m divisors [d/2] (GGUF `rope_freqs.weight`); when present they replace ropeScaling. */
  readonly ropeFreqDivisors?: Float32Array;
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
}

export interface LayerKind {
  readonly moe: boolean;
  readonly rope: boolean; // false: NoPE layer
  readonly chunked: boolean; // local attention within aligned chunks of C
  readonly qkNorm: boolean;
  readonly temperatureTuning: boolean;
}

/** The per-layer table of spec §2.4, derived once from the config. */
export function layerKinds(c: Llama4TextConfig): LayerKind[] {
  const moe = new Set(c.moeLayers);
  return Array.from({ length: c.numLayers }, (_, i) => {
    const rope = !c.nopeLayers[i];
    return {
      moe: moe.has(i),
      rope,
      chunked: rope && c.attentionChunkSize !== null,
      qkNorm: c.useQkNorm && rope,
      temperatureTuning: !rope && c.attnTemperatureTuning,
    };
  });
}

export class ConfigError extends Error {
  constructor(readonly source: string, readonly field: string, detail: string) {
    super(`${source}: ${field}: ${detail}`);
    this.name = "ConfigError";
  }
}

type Json = Record<string, unknown>;

/**
 * Parses a config.json object. `source` names the file in errors. Accepts the multimodal
 * layout (text fields under `text_config`) and the flat text-only layout.
 */
export function parseLlama4Config(raw: unknown, source: string): Llama4TextConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(source, "(root)", "must be a JSON object");
  }
  const root = raw as Json;
  const nested = root.text_config !== undefined;
  if (nested && (root.text_config === null || typeof root.text_config !== "object" || Array.isArray(root.text_config))) {
    throw new ConfigError(source, "text_config", "must be an object");
  }
  const t = (nested ? root.text_config : root) as Json;
  const prefix = nested ? "text_config." : "";
  const modelType = t.model_type ?? root.model_type;
  if (modelType !== undefined && modelType !== "llama4_text" && modelType !== "llama4") {
    throw new ConfigError(source, `${prefix}model_type`, `expected "llama4_text" or "llama4", got ${JSON.stringify(modelType)}`);
  }

  const f = new FieldReader(source, prefix, t);
  const numLayers = f.int("num_hidden_layers", 48, 1);
  const hiddenSize = f.int("hidden_size", 5120, 1);
  const numHeads = f.int("num_attention_heads", 40, 1);
  const numKvHeads = f.int("num_key_value_heads", 8, 1);
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(source, `${prefix}num_key_value_heads`, `${numKvHeads} must divide num_attention_heads ${numHeads}`);
  }
  const headDim = f.int("head_dim", Math.floor(hiddenSize / numHeads), 1);
  if (headDim % 2 !== 0) throw new ConfigError(source, `${prefix}head_dim`, `must be even for RoPE, got ${headDim}`);
  const numExperts = f.int("num_local_experts", 16, 0);
  const topK = f.int("num_experts_per_tok", 1, 1);
  const interleave = f.int("interleave_moe_layer_step", 1, 0);

  let moeLayers: number[];
  if (t.moe_layers !== undefined && t.moe_layers !== null) {
    moeLayers = f.intList("moe_layers");
    for (const i of moeLayers) {
      if (i < 0 || i >= numLayers) throw new ConfigError(source, `${prefix}moe_layers`, `layer ${i} is outside 0..${numLayers - 1}`);
    }
  } else if (interleave === 0 || numExperts === 0) {
    moeLayers = [];
  } else {
    moeLayers = [];
    for (let i = interleave - 1; i < numLayers; i += interleave) moeLayers.push(i);
  }
  if (moeLayers.length > 0 && numExperts === 0) {
    throw new ConfigError(source, `${prefix}num_local_experts`, "is 0 but moe_layers is not empty");
  }
  if (moeLayers.length > 0 && topK > numExperts) {
    throw new ConfigError(source, `${prefix}num_experts_per_tok`, `${topK} exceeds num_local_experts ${numExperts}`);
  }

  const interval = f.int("no_rope_layer_interval", 4, 1);
  let nopeLayers: boolean[];
  if (t.no_rope_layers !== undefined && t.no_rope_layers !== null && !(Array.isArray(t.no_rope_layers) && t.no_rope_layers.length === 0)) {
    // HF: no_rope_layers[i] = 1 means layer i USES RoPE (the name is historical).
    const flags = f.intList("no_rope_layers");
    if (flags.length !== numLayers) {
      throw new ConfigError(source, `${prefix}no_rope_layers`, `has ${flags.length} entries, expected num_hidden_layers = ${numLayers}`);
    }
    nopeLayers = flags.map((v) => v === 0);
  } else {
    nopeLayers = Array.from({ length: numLayers }, (_, i) => (i + 1) % interval === 0);
  }

  const chunkRaw = t.attention_chunk_size;
  const attentionChunkSize = chunkRaw === null ? null : f.int("attention_chunk_size", 8192, 1);

  if (t.layer_types !== undefined && t.layer_types !== null) {
    const types = t.layer_types;
    if (!Array.isArray(types) || types.length !== numLayers) {
      throw new ConfigError(source, `${prefix}layer_types`, `must list ${numLayers} layer types`);
    }
    types.forEach((ty, i) => {
      const expected = nopeLayers[i] ? "full_attention" : "chunked_attention";
      if (ty !== "full_attention" && ty !== "chunked_attention") {
        throw new ConfigError(source, `${prefix}layer_types[${i}]`, `unknown layer type ${JSON.stringify(ty)}`);
      }
      if (attentionChunkSize !== null && ty !== expected) {
        throw new ConfigError(source, `${prefix}layer_types[${i}]`, `is ${ty} but no_rope_layers makes layer ${i} ${expected}`);
      }
    });
  }

  let ropeScaling: RopeScaling | null = null;
  const rs = t.rope_scaling ?? (t.rope_parameters as Json | undefined);
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== "object" || Array.isArray(rs)) throw new ConfigError(source, `${prefix}rope_scaling`, "must be an object or null");
    const r = rs as Json;
    const type = r.rope_type ?? r.type;
    if (type === "llama3") {
      const rf = new FieldReader(source, `${prefix}rope_scaling.`, r);
      ropeScaling = {
        factor: rf.num("factor", 8),
        lowFreqFactor: rf.num("low_freq_factor", 1),
        highFreqFactor: rf.num("high_freq_factor", 4),
        originalMaxPositionEmbeddings: rf.num("original_max_position_embeddings", 8192),
      };
      if (ropeScaling.highFreqFactor < ropeScaling.lowFreqFactor) {
        throw new ConfigError(source, `${prefix}rope_scaling.high_freq_factor`, "must be >= low_freq_factor");
      }
    } else if (type !== "default" && type !== undefined) {
      throw new ConfigError(source, `${prefix}rope_scaling.rope_type`, `unsupported ${JSON.stringify(type)} (expected "llama3" or "default")`);
    }
  }
  // Newer transformers keep rope_theta inside rope_parameters.
  const ropeParams = t.rope_parameters as Json | undefined;
  const ropeTheta = t.rope_theta !== undefined ? f.num("rope_theta", 500000)
    : ropeParams && typeof ropeParams.rope_theta === "number" ? ropeParams.rope_theta : 500000;

  const eos = t.eos_token_id ?? root.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos.map(Number) : [Number(eos)];

  return {
    vocabSize: f.int("vocab_size", 202048, 1),
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    expertHidden: f.int("intermediate_size", 8192, 1),
    denseHidden: f.int("intermediate_size_mlp", 16384, 1),
    numExperts,
    topK,
    moeLayers,
    nopeLayers,
    attentionChunkSize,
    useQkNorm: f.bool("use_qk_norm", true),
    // A file may hold the integer 4 here: any truthy value turns tuning on.
    attnTemperatureTuning: f.bool("attn_temperature_tuning", true),
    floorScale: f.num("floor_scale", 8192),
    attnScale: f.num("attn_scale", 0.1),
    ropeTheta,
    ropeScaling,
    rmsNormEps: f.num("rms_norm_eps", 1e-5),
    maxPositionEmbeddings: f.int("max_position_embeddings", 4096 * 32, 1),
    tieWordEmbeddings: f.bool("tie_word_embeddings", root.tie_word_embeddings === true),
    bosTokenId: optionalInt(t.bos_token_id ?? root.bos_token_id),
    eosTokenIds,
    padTokenId: optionalInt(t.pad_token_id ?? root.pad_token_id),
  };
}

function optionalInt(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

class FieldReader {
  constructor(private readonly source: string, private readonly prefix: string, private readonly obj: Json) {}

  private fail(key: string, detail: string): never {
    throw new ConfigError(this.source, this.prefix + key, detail);
  }

  int(key: string, dflt: number, min: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) this.fail(key, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  num(key: string, dflt: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "boolean") return v;
    if (typeof v === "number") return v !== 0;
    return this.fail(key, `expected a boolean, got ${JSON.stringify(v)}`);
  }

  intList(key: string): number[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x))) this.fail(key, `expected a list of integers, got ${JSON.stringify(v)}`);
    return v as number[];
  }
}
