// Named architectures, as data. Scout and Maverick are the released shapes (spec §1.1).
// Behemoth was announced (16 experts, ~288B active, ~2T total) but Meta published no
// config: its widths here are our placeholder guess, kept only so scaled-down
// Behemoth-style checkpoints can be made; do not read them as facts.

/** The vision tower (same for Scout and Maverick, spec §1.2). */
export interface VisionPreset {
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly intermediate: number;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly projectorDim: number;
}

export const LLAMA4_VISION_PRESET: VisionPreset = {
  hidden: 1408, layers: 34, heads: 16, intermediate: 5632, imageSize: 336, patchSize: 14, projectorDim: 4096,
};

export interface ArchitecturePreset {
  readonly name: "scout" | "maverick" | "behemoth";
  readonly vocab: number;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly experts: number;
  readonly expertHidden: number;
  readonly denseHidden: number;
  /** Every `interleave`-th layer is MoE (1: all layers). */
  readonly interleave: number;
  readonly nopeInterval: number;
  readonly chunk: number;
  readonly qkNorm: boolean;
  readonly ropeScaling: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number } | null;
  readonly maxPositionEmbeddings: number;
}

export const PRESETS: Record<ArchitecturePreset["name"], ArchitecturePreset> = {
  scout: {
    name: "scout", vocab: 202048, hidden: 5120, layers: 48, heads: 40, kvHeads: 8, headDim: 128,
    experts: 16, expertHidden: 8192, denseHidden: 16384, interleave: 1, nopeInterval: 4, chunk: 8192,
    qkNorm: true, ropeScaling: { factor: 16, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositionEmbeddings: 8192 },
    maxPositionEmbeddings: 10485760,
  },
  maverick: {
    name: "maverick", vocab: 202048, hidden: 5120, layers: 48, heads: 40, kvHeads: 8, headDim: 128,
    experts: 128, expertHidden: 8192, denseHidden: 16384, interleave: 2, nopeInterval: 4, chunk: 8192,
    qkNorm: false, ropeScaling: null, maxPositionEmbeddings: 1048576,
  },
  behemoth: {
    name: "behemoth", vocab: 202048, hidden: 12288, layers: 96, heads: 96, kvHeads: 8, headDim: 128,
    experts: 16, expertHidden: 24576, denseHidden: 49152, interleave: 1, nopeInterval: 4, chunk: 8192,
    qkNorm: true, ropeScaling: { factor: 16, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositionEmbeddings: 8192 },
    maxPositionEmbeddings: 1048576,
  },
};

/** The Hugging Face config.json of a preset (multimodal layout, text fields under text_config). */
export function hfConfigJson(p: ArchitecturePreset, dtype: "float32" | "bfloat16", vision?: VisionPreset): Record<string, unknown> {
  const moeLayers: number[] = [];
  for (let i = p.interleave - 1; i < p.layers; i += p.interleave) moeLayers.push(i);
  const noRope = Array.from({ length: p.layers }, (_, i) => ((i + 1) % p.nopeInterval === 0 ? 0 : 1));
  return {
    architectures: ["Llama4ForConditionalGeneration"],
    boi_token_index: 200080,
    eoi_token_index: 200081,
    image_token_index: 200092,
    model_type: "llama4",
    text_config: {
      attention_bias: false,
      attention_chunk_size: p.chunk,
      attn_scale: 0.1,
      attn_temperature_tuning: true,
      bos_token_id: 200000,
      eos_token_id: [200001, 200007, 200008],
      // Real checkpoints use 8192 for both; tying them keeps scaled-down models exercising tuning.
      floor_scale: p.chunk,
      head_dim: p.headDim,
      hidden_act: "silu",
      hidden_size: p.hidden,
      interleave_moe_layer_step: p.interleave,
      intermediate_size: p.expertHidden,
      intermediate_size_mlp: p.denseHidden,
      max_position_embeddings: p.maxPositionEmbeddings,
      model_type: "llama4_text",
      moe_layers: moeLayers,
      no_rope_layers: noRope,
      num_attention_heads: p.heads,
      num_experts_per_tok: 1,
      num_hidden_layers: p.layers,
      num_key_value_heads: p.kvHeads,
      num_local_experts: p.experts,
      pad_token_id: 200018,
      rms_norm_eps: 1e-5,
      rope_scaling: p.ropeScaling && {
        factor: p.ropeScaling.factor,
        high_freq_factor: p.ropeScaling.highFreqFactor,
        low_freq_factor: p.ropeScaling.lowFreqFactor,
        original_max_position_embeddings: p.ropeScaling.originalMaxPositionEmbeddings,
        rope_type: "llama3",
      },
      rope_theta: 500000.0,
      tie_word_embeddings: false,
      torch_dtype: dtype,
      use_qk_norm: p.qkNorm,
      vocab_size: p.vocab,
    },
    tie_word_embeddings: false,
    torch_dtype: dtype,
    ...(vision && {
      vision_config: {
        attention_dropout: 0.0,
        hidden_act: "gelu",
        hidden_size: vision.hidden,
        image_size: vision.imageSize,
        intermediate_size: vision.intermediate,
        model_type: "llama4_vision_model",
        multi_modal_projector_bias: false,
        norm_eps: 1e-5,
        num_attention_heads: vision.heads,
        num_channels: 3,
        num_hidden_layers: vision.layers,
        patch_size: vision.patchSize,
        pixel_shuffle_ratio: 0.5,
        projector_dropout: 0.0,
        projector_input_dim: vision.projectorDim,
        projector_output_dim: vision.projectorDim,
        rope_theta: 10000,
        vision_feature_layer: -1,
        vision_feature_select_strategy: "default",
        vision_output_dim: vision.projectorDim,
      },
    }),
  };
}

/** preprocessor_config.json for a vision preset (HF Llama4ImageProcessorFast). */
export function hfPreprocessorConfigJson(v: VisionPreset): Record<string, unknown> {
  return {
    image_processor_type: "Llama4ImageProcessorFast",
    processor_class: "Llama4Processor",
    size: { height: v.imageSize, width: v.imageSize },
    max_patches: 16,
    resize_to_max_canvas: false,
    do_resize: true,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    do_convert_rgb: true,
    resample: 2,
  };
}
