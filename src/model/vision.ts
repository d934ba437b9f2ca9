// The Llama 4 vision tower (spec §5.2-5.5): unfold each tile into patches, linear patch
// embedding, CLS appended last, positional embedding, LayerNorm, ViT encoder blocks with 2D
// RoPE, LayerNorm, drop CLS, pixel shuffle, the two-layer GELU adapter, and the projector
// into the text embedding space. Pure math: weights come in, rows of text-width embeddings
// go out, one tile at a time (tiles never attend to each other).
import type { Matrix } from "../kernels/matrix.js";
import { ropeInterleaved, softmaxInPlace } from "../kernels/ref/ops.js";
import { refKernels, type Kernels } from "../kernels/kernels.js";
import { ConfigError } from "./config.js";

export interface VisionConfig {
  readonly hiddenSize: number; // Dv
  readonly numLayers: number;
  readonly numHeads: number; // Hv
  readonly headDim: number; // dv = Dv / Hv
  readonly intermediateSize: number; // encoder MLP width
  readonly numChannels: number; // C (3)
  readonly imageSize: number; // tile side S
  readonly patchSize: number; // P
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly pixelShuffleRatio: number;
  readonly projectorInputDim: number;
  readonly projectorOutputDim: number;
  readonly visionOutputDim: number;
  readonly multiModalProjectorBias: boolean;
  /** Top-level `image_token_index`: the `<|patch|>` id whose embeddings image rows replace. */
  readonly imageTokenIndex: number;
}

/** Shapes that follow from the config. */
export interface VisionGeometry {
  readonly patchesPerSide: number; // S / P
  readonly numPatches: number; // Np = (S / P)²
  readonly patchDim: number; // C·P²
  /** Pixel-shuffle block side b = 1 / ratio: b×b neighbouring patches become one token. */
  readonly shuffleBlock: number;
  readonly tokensPerTile: number; // Np / b²
  readonly shuffleWidth: number; // Dv·b²
}

export function visionGeometry(c: VisionConfig): VisionGeometry {
  const patchesPerSide = c.imageSize / c.patchSize;
  const shuffleBlock = Math.round(1 / c.pixelShuffleRatio);
  return {
    patchesPerSide,
    numPatches: patchesPerSide * patchesPerSide,
    patchDim: c.numChannels * c.patchSize * c.patchSize,
    shuffleBlock,
    tokensPerTile: (patchesPerSide / shuffleBlock) ** 2,
    shuffleWidth: c.hiddenSize * shuffleBlock * shuffleBlock,
  };
}

type Json = Record<string, unknown>;

/**
 * Reads `vision_config` (and the top-level `image_token_index`) from a config.json object,
 * with transformers' Llama4VisionConfig defaults for absent keys. `source` names the file.
 */
export function parseVisionConfig(raw: unknown, source: string): VisionConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(source, "(root)", "must be a JSON object");
  const root = raw as Json;
  const v = root.vision_config;
  if (v === undefined || v === null) throw new ConfigError(source, "vision_config", "is missing: this is not a multimodal Llama 4 checkpoint");
  if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError(source, "vision_config", "must be an object");
  const o = v as Json;
  const fail = (key: string, detail: string): never => {
    throw new ConfigError(source, key.includes(".") || key === "image_token_index" ? key : `vision_config.${key}`, detail);
  };
  const int = (key: string, dflt: number, min = 1, obj: Json = o): number => {
    const x = obj[key];
    if (x === undefined || x === null) return dflt;
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < min) fail(key, `expected an integer >= ${min}, got ${JSON.stringify(x)}`);
    return x as number;
  };
  const num = (key: string, dflt: number): number => {
    const x = o[key];
    if (x === undefined || x === null) return dflt;
    if (typeof x !== "number" || !Number.isFinite(x)) fail(key, `expected a number, got ${JSON.stringify(x)}`);
    return x as number;
  };
  const act = o.hidden_act ?? "gelu";
  if (act !== "gelu") fail("hidden_act", `only "gelu" (exact erf) is supported, got ${JSON.stringify(act)}`);
  const ropeParams = o.rope_parameters as Json | undefined;
  const ropeTheta = o.rope_theta !== undefined ? num("rope_theta", 10000)
    : ropeParams && typeof ropeParams.rope_theta === "number" ? ropeParams.rope_theta : 10000;

  const hiddenSize = int("hidden_size", 768);
  const numHeads = int("num_attention_heads", 16);
  if (hiddenSize % numHeads !== 0) fail("num_attention_heads", `${numHeads} does not divide hidden_size ${hiddenSize}`);
  const headDim = hiddenSize / numHeads;
  if (headDim % 4 !== 0) fail("num_attention_heads", `head dim ${headDim} must be a multiple of 4 for 2D RoPE (x and y pairs)`);
  const imageSize = int("image_size", 448);
  const patchSize = int("patch_size", 14);
  if (imageSize % patchSize !== 0) fail("patch_size", `${patchSize} does not divide image_size ${imageSize}`);
  const pixelShuffleRatio = num("pixel_shuffle_ratio", 0.5);
  const block = Math.round(1 / pixelShuffleRatio);
  if (!(pixelShuffleRatio > 0 && pixelShuffleRatio <= 1) || Math.abs(1 / pixelShuffleRatio - block) > 1e-9 || (imageSize / patchSize) % block !== 0) {
    fail("pixel_shuffle_ratio", `${pixelShuffleRatio} must be 1/b for a whole b dividing the ${imageSize / patchSize} patches per side`);
  }
  const projectorInputDim = int("projector_input_dim", 4096);
  const projectorOutputDim = int("projector_output_dim", 4096);
  const visionOutputDim = int("vision_output_dim", 7680);
  // The adapter is fc1 [in ← shuffle], GELU, fc2 [out ← out], and the projector reads
  // vision_output_dim: the three widths must agree for the chain to exist.
  if (projectorInputDim !== projectorOutputDim) fail("projector_output_dim", `${projectorOutputDim} must equal projector_input_dim ${projectorInputDim}`);
  if (visionOutputDim !== projectorOutputDim) fail("vision_output_dim", `${visionOutputDim} must equal projector_output_dim ${projectorOutputDim}`);
  const bias = o.multi_modal_projector_bias ?? false;
  if (typeof bias !== "boolean") fail("multi_modal_projector_bias", `expected a boolean, got ${JSON.stringify(bias)}`);

  return {
    hiddenSize,
    numLayers: int("num_hidden_layers", 34),
    numHeads,
    headDim,
    intermediateSize: int("intermediate_size", 5632),
    numChannels: int("num_channels", 3),
    imageSize,
    patchSize,
    normEps: num("norm_eps", 1e-5),
    ropeTheta,
    pixelShuffleRatio,
    projectorInputDim,
    projectorOutputDim,
    visionOutputDim,
    multiModalProjectorBias: bias as boolean,
    imageTokenIndex: int("image_token_index", 200092, 0, root),
  };
}

// ---------------------------------------------------------------------------------------------
// Weights, every matrix [out, in] as nn.Linear stores it.

export interface LinearWeights {
  readonly weight: Matrix; // [out, in]
  readonly bias: Float32Array | null; // [out]
}

export interface LayerNormWeights {
  readonly weight: Float32Array; // [D]
  readonly bias: Float32Array; // [D]
}

export interface VisionEncoderLayerWeights {
  readonly inputNorm: LayerNormWeights;
  readonly q: LinearWeights; // [Dv, Dv] + bias
  readonly k: LinearWeights;
  readonly v: LinearWeights;
  readonly o: LinearWeights;
  readonly postAttentionNorm: LayerNormWeights;
  readonly fc1: LinearWeights; // [F, Dv] + bias
  readonly fc2: LinearWeights; // [Dv, F] + bias
}

export interface VisionWeights {
  readonly patchEmbedding: Matrix; // [Dv, C·P²], no bias
  readonly classEmbedding: Float32Array; // [Dv]
  readonly positionalEmbedding: Float32Array; // [Np + 1, Dv]; the last row is the CLS token's
  readonly layernormPre: LayerNormWeights;
  readonly layernormPost: LayerNormWeights;
  readonly layers: readonly VisionEncoderLayerWeights[];
  readonly adapterFc1: Matrix; // [projector_input_dim, Dv·b²], no bias
  readonly adapterFc2: Matrix; // [projector_output_dim, projector_output_dim], no bias
  readonly projector: LinearWeights; // [D text, vision_output_dim], bias only with multi_modal_projector_bias
}

// ---------------------------------------------------------------------------------------------
// Elementwise pieces.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * The error function to about 1e-15 absolute (JS has no Math.erf). Below 2.5 a series whose
 * terms are all positive (no cancellation); up to 6 the continued fraction of erfc, evaluated
 * from a fixed-depth tail; beyond, erf is 1 to double precision.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  let r: number;
  if (a < 2.5) {
    // erf(a) = 2/√π · e^(−a²) · Σ_n (2a²)^n · a / (1·3·…·(2n+1))
    const a2 = 2 * a * a;
    let term = a;
    let sum = a;
    for (let n = 1; term > sum * 1e-17; n++) {
      term *= a2 / (2 * n + 1);
      sum += term;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-a * a) * sum;
  } else if (a < 6) {
    // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …))))
    let t = a;
    for (let k = 60; k >= 1; k--) t = a + k / 2 / t;
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / t;
  } else {
    r = 1;
  }
  return x < 0 ? -r : r;
}

/** Exact GELU, x·Φ(x) = x/2 · (1 + erf(x/√2)) (torch nn.GELU() default). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

function geluInPlace(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) v[i] = gelu(v[i]!);
}

/** out[t] = (x[t] − mean) / sqrt(var + eps) · w + b over T rows of width D (biased variance). */
export function layerNorm(out: Float32Array, x: Float32Array, norm: LayerNormWeights, eps: number, T: number, D: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let sum = 0;
    for (let i = 0; i < D; i++) sum += x[o + i]!;
    const mean = sum / D;
    let ss = 0;
    for (let i = 0; i < D; i++) {
      const d = x[o + i]! - mean;
      ss += d * d;
    }
    const rstd = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) out[o + i] = (x[o + i]! - mean) * rstd * norm.weight[i]! + norm.bias[i]!;
  }
}

/** y[T, O] = x[T, I] · Wᵀ (+ b). */
function linear(y: Float32Array, x: Float32Array, lin: LinearWeights, T: number, kernels: Kernels): void {
  kernels.matmul(y, x, lin.weight, T);
  const b = lin.bias;
  if (!b) return;
  const O = lin.weight.rows;
  for (let t = 0; t < T; t++) for (let j = 0; j < O; j++) y[t * O + j] = y[t * O + j]! + b[j]!;
}

// ---------------------------------------------------------------------------------------------
// Stages.

/**
 * One tile [C, S, S] → patches [Np, C·P²]: patch index py·(S/P) + px, features in PyTorch
 * Unfold order c·P² + ky·P + kx.
 */
export function unfoldPatches(tile: Float32Array, C: number, S: number, P: number): Float32Array {
  const side = S / P;
  const dim = C * P * P;
  const out = new Float32Array(side * side * dim);
  for (let py = 0; py < side; py++) {
    for (let px = 0; px < side; px++) {
      const base = (py * side + px) * dim;
      for (let c = 0; c < C; c++) {
        for (let ky = 0; ky < P; ky++) {
          const src = (c * S + py * P + ky) * S + px * P;
          out.set(tile.subarray(src, src + P), base + (c * P + ky) * P);
        }
      }
    }
  }
  return out;
}

/**
 * 2D RoPE angles for the Np patches and the CLS token (spec §5.4): for patch n at column
 * x = n mod side and row y = n div side, pair m < dv/4 turns by (x+1)·f_m and pair dv/4 + m by
 * (y+1)·f_m, with f_m = θ^(−2m / (dv/2)). The CLS row (last) is the identity.
 * Returns cos/sin [Np + 1, dv/2].
 */
export function visionRopeTables(c: VisionConfig): { cos: Float32Array; sin: Float32Array } {
  const { patchesPerSide: side, numPatches } = visionGeometry(c);
  const pairs = c.headDim / 2;
  const perAxis = pairs / 2;
  const freqs = Array.from({ length: perAxis }, (_, m) => Math.fround(1 / c.ropeTheta ** ((2 * m) / pairs)));
  const T = numPatches + 1;
  const cos = new Float32Array(T * pairs).fill(1);
  const sin = new Float32Array(T * pairs);
  for (let n = 0; n < numPatches; n++) {
    const x = (n % side) + 1;
    const y = Math.floor(n / side) + 1;
    for (let m = 0; m < perAxis; m++) {
      const ax = x * freqs[m]!;
      const ay = y * freqs[m]!;
      cos[n * pairs + m] = Math.cos(ax);
      sin[n * pairs + m] = Math.sin(ax);
      cos[n * pairs + perAxis + m] = Math.cos(ay);
      sin[n * pairs + perAxis + m] = Math.sin(ay);
    }
  }
  return { cos, sin };
}


/** Bidirectional multi-head attention with biases and 2D RoPE: out[T, Dv] from normed x[T, Dv]. */
function visionAttention(out: Float32Array, x: Float32Array, T: number, lw: VisionEncoderLayerWeights, c: VisionConfig,
  rope: { cos: Float32Array; sin: Float32Array }, kernels: Kernels): void {
  const { hiddenSize: D, numHeads: H, headDim: d } = c;
  const q = new Float32Array(T * D);
  const k = new Float32Array(T * D);
  const v = new Float32Array(T * D);
  linear(q, x, lw.q, T, kernels);
  linear(k, x, lw.k, T, kernels);
  linear(v, x, lw.v, T, kernels);
  ropeInterleaved(q, rope.cos, rope.sin, T, H, d); // adjacent pairs, as the text model
  ropeInterleaved(k, rope.cos, rope.sin, T, H, d);
  const scale = 1 / Math.sqrt(d);
  const ctx = new Float32Array(T * D); // [T, H, d]
  const ak = kernels.attention;
  if (ak) {
    // Same loops on the attention kernels: K and V copied once into kernel memory.
    const K = ak.scratch(0, T * D);
    const V = ak.scratch(1, T * D);
    K.set(k);
    V.set(v);
    const qh = ak.scratch(2, d);
    const sc = ak.scratch(3, T);
    const acc = ak.scratch(4, d);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qo = i * D + h * d;
        qh.set(q.subarray(qo, qo + d));
        ak.attnScores(sc, qh, K.subarray(h * d), D, T, d, scale);
        ak.softmaxInPlace(sc, T);
        acc.fill(0, 0, d);
        ak.attnAccumulate(acc, sc, V.subarray(h * d), D, T, d);
        ctx.set(acc.subarray(0, d), qo);
      }
    }
    linear(out, ctx, lw.o, T, kernels);
    return;
  }
  const scores = new Float32Array(T);
  const acc = new Float64Array(d);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < T; i++) {
      const qo = i * D + h * d;
      for (let j = 0; j < T; j++) {
        const ko = j * D + h * d;
        let s = 0;
        for (let e = 0; e < d; e++) s += q[qo + e]! * k[ko + e]!;
        scores[j] = s * scale;
      }
      softmaxInPlace(scores, T);
      acc.fill(0);
      for (let j = 0; j < T; j++) {
        const p = scores[j]!;
        const vo = j * D + h * d;
        for (let e = 0; e < d; e++) acc[e] = acc[e]! + p * v[vo + e]!;
      }
      for (let e = 0; e < d; e++) ctx[qo + e] = acc[e]!;
    }
  }
  linear(out, ctx, lw.o, T, kernels);
}

/** x[T, Dv] += Attn(LN1(x)); x += FC2(GELU(FC1(LN2(x)))). */
function encoderLayer(x: Float32Array, T: number, lw: VisionEncoderLayerWeights, c: VisionConfig,
  rope: { cos: Float32Array; sin: Float32Array }, kernels: Kernels): void {
  const D = c.hiddenSize;
  const xn = new Float32Array(T * D);
  const y = new Float32Array(T * D);
  layerNorm(xn, x, lw.inputNorm, c.normEps, T, D);
  visionAttention(y, xn, T, lw, c, rope, kernels);
  for (let i = 0; i < T * D; i++) x[i] = x[i]! + y[i]!;

  layerNorm(xn, x, lw.postAttentionNorm, c.normEps, T, D);
  const hidden = new Float32Array(T * c.intermediateSize);
  linear(hidden, xn, lw.fc1, T, kernels);
  geluInPlace(hidden);
  linear(y, hidden, lw.fc2, T, kernels);
  for (let i = 0; i < T * D; i++) x[i] = x[i]! + y[i]!;
}

/**
 * Pixel shuffle with block b (ratio 1/b), as Meta's and HF's reshape/permute sequence: the
 * side×side grid x[side², D] becomes (side/b)² tokens, token t = y'·(side/b) + x' holding the
 * b×b block row by row: channel (dy·b + dx)·D + c = x[(y'·b + dy)·side + x'·b + dx][c].
 */
export function pixelShuffle(x: Float32Array, side: number, D: number, b: number): Float32Array {
  if (x.length !== side * side * D) throw new Error(`pixelShuffle: expected [${side * side}, ${D}], got ${x.length} values`);
  if (side % b !== 0) throw new Error(`pixelShuffle: block ${b} does not divide the ${side}-patch side`);
  const outSide = side / b;
  const width = D * b * b;
  const out = new Float32Array(outSide * outSide * width);
  for (let yo = 0; yo < outSide; yo++) {
    for (let xo = 0; xo < outSide; xo++) {
      const t = yo * outSide + xo;
      for (let dy = 0; dy < b; dy++) {
        for (let dx = 0; dx < b; dx++) {
          const src = ((yo * b + dy) * side + xo * b + dx) * D;
          out.set(x.subarray(src, src + D), t * width + (dy * b + dx) * D);
        }
      }
    }
  }
  return out;
}

/** The intermediate results of one tile, named as in the fixtures' golden tensors. */
export type VisionStage =
  | "patch_embeds" // [Np, Dv]
  | "encoder_input" // [Np + 1, Dv]
  | "encoder_output" // [Np + 1, Dv]
  | "vision_tokens" // [Np, Dv]
  | "pixel_shuffle" // [Np / b², Dv·b²]
  | "adapter_output" // [Np / b², vision_output_dim]
  | "projected"; // [Np / b², D text]

export interface VisionOptions {
  /** Debug hook, called with each stage's output for each tile (the array is not reused). */
  readonly onStage?: (stage: VisionStage, tile: number, data: Float32Array) => void;
}

export class Llama4VisionModel {
  readonly geometry: VisionGeometry;
  /** Width of the projected rows: the text model's hidden size. */
  readonly outputDim: number;
  private readonly rope: { cos: Float32Array; sin: Float32Array };

  constructor(readonly config: VisionConfig, readonly weights: VisionWeights, readonly kernels: Kernels = refKernels) {
    this.geometry = visionGeometry(config);
    this.outputDim = weights.projector.weight.rows;
    this.rope = visionRopeTables(config);
  }

  /**
   * Preprocessed tiles [N, C, S, S] → rows [N · tokensPerTile, D text] that replace the
   * image's `<|patch|>` embeddings, tile by tile in order.
   */
  embedTiles(pixels: Float32Array, numTiles: number, opts: VisionOptions = {}): Float32Array {
    const { numChannels: C, imageSize: S } = this.config;
    const tileLen = C * S * S;
    if (pixels.length !== numTiles * tileLen) {
      throw new Error(`vision: pixels must be [${numTiles}, ${C}, ${S}, ${S}] (${numTiles * tileLen} values), got ${pixels.length}`);
    }
    const rowsPerTile = this.geometry.tokensPerTile * this.outputDim;
    const out = new Float32Array(numTiles * rowsPerTile);
    for (let n = 0; n < numTiles; n++) {
      const stage = opts.onStage ? (name: VisionStage, data: Float32Array) => opts.onStage!(name, n, data) : undefined;
      out.set(this.embedTile(pixels.subarray(n * tileLen, (n + 1) * tileLen), stage), n * rowsPerTile);
    }
    return out;
  }

  /** One tile [C, S, S] → [tokensPerTile, D text]. */
  embedTile(tile: Float32Array, onStage?: (stage: VisionStage, data: Float32Array) => void): Float32Array {
    const c = this.config;
    const w = this.weights;
    const g = this.geometry;
    const D = c.hiddenSize;
    const Np = g.numPatches;
    const T = Np + 1;

    const patches = unfoldPatches(tile, c.numChannels, c.imageSize, c.patchSize); // [Np, C·P²]
    const x = new Float32Array(T * D); // [Np + 1, Dv], CLS last
    this.kernels.matmul(x, patches, w.patchEmbedding, Np);
    onStage?.("patch_embeds", x.slice(0, Np * D));
    x.set(w.classEmbedding, Np * D);
    for (let i = 0; i < T * D; i++) x[i] = x[i]! + w.positionalEmbedding[i]!;
    layerNorm(x, x, w.layernormPre, c.normEps, T, D);
    onStage?.("encoder_input", x.slice());

    for (const lw of w.layers) encoderLayer(x, T, lw, c, this.rope, this.kernels);
    layerNorm(x, x, w.layernormPost, c.normEps, T, D);
    onStage?.("encoder_output", x.slice());

    const tokens = x.subarray(0, Np * D); // drop CLS (the last row)
    onStage?.("vision_tokens", tokens.slice());
    const shuffled = pixelShuffle(tokens, g.patchesPerSide, D, g.shuffleBlock); // [Np/b², Dv·b²]
    onStage?.("pixel_shuffle", shuffled);

    const R = g.tokensPerTile;
    const a1 = new Float32Array(R * w.adapterFc1.rows);
    this.kernels.matmul(a1, shuffled, w.adapterFc1, R);
    geluInPlace(a1);
    const adapted = new Float32Array(R * w.adapterFc2.rows);
    this.kernels.matmul(adapted, a1, w.adapterFc2, R);
    geluInPlace(adapted);
    onStage?.("adapter_output", adapted.slice());

    const projected = new Float32Array(R * this.outputDim);
    linear(projected, adapted, w.projector, R, this.kernels);
    onStage?.("projected", projected.slice());
    return projected;
  }
}
