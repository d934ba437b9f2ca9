// Loading the vision tower and the multimodal projector of a Hugging Face
// Llama4ForConditionalGeneration folder (spec §5.7): `vision_model.*` and
// `multi_modal_projector.*`, every tensor shape-checked against config.json. The text model
// is loaded separately (loadHfModel ignores these tensors), so text-only use pays nothing.
import { resolve } from "node:path";
import { TensorStore } from "./checkpoint.js";
import { readConfigFile, WeightLoader, type LoadOptions } from "./hf.js";
import { readRow } from "../kernels/matrix.js";
import {
  parseVisionConfig,
  visionGeometry,
  type LayerNormWeights,
  type LinearWeights,
  type VisionConfig,
  type VisionEncoderLayerWeights,
  type VisionWeights,
} from "../model/vision.js";

/** HF tensor names of the vision tower and projector. */
export const visionTensorNames = {
  patchEmbedding: "vision_model.patch_embedding.linear.weight",
  classEmbedding: "vision_model.class_embedding",
  positionalEmbedding: "vision_model.positional_embedding_vlm",
  layernormPre: "vision_model.layernorm_pre",
  layernormPost: "vision_model.layernorm_post",
  layer: (i: number) => `vision_model.model.layers.${i}.`,
  adapterFc1: "vision_model.vision_adapter.mlp.fc1.weight",
  adapterFc2: "vision_model.vision_adapter.mlp.fc2.weight",
  projector: "multi_modal_projector.linear_1",
} as const;

export interface LoadedVision {
  readonly config: VisionConfig;
  readonly weights: VisionWeights;
  readonly weightBytes: number;
}

/** Reads config.json and the vision tensors of a model folder; the file is closed afterwards. */
export function loadVisionWeights(dir: string, opts: LoadOptions = {}): LoadedVision {
  const { raw, config: text, path: configPath } = readConfigFile(dir);
  const config = parseVisionConfig(raw, configPath);
  const store = TensorStore.open(resolve(dir));
  try {
    const loader = new WeightLoader(store, configPath, opts.onProgress, opts);
    const weights = readVisionWeights(loader, config, text.hiddenSize);
    loader.checkAllUsed("vision_model.", "multi_modal_projector.");
    return { config, weights, weightBytes: loader.loadedBytes };
  } finally {
    store.close();
  }
}

/** The vision tensors through an open loader; `textHiddenSize` is the projector's output width. */
export function readVisionWeights(ld: WeightLoader, c: VisionConfig, textHiddenSize: number): VisionWeights {
  const n = visionTensorNames;
  const g = visionGeometry(c);
  const D = c.hiddenSize;
  const layerNorm = (prefix: string): LayerNormWeights => ({
    weight: ld.vector(`${prefix}.weight`, D),
    bias: ld.vector(`${prefix}.bias`, D),
  });
  const linear = (prefix: string, out: number, inp: number, bias: boolean): LinearWeights => ({
    weight: ld.matrix(`${prefix}.weight`, out, inp),
    bias: bias ? ld.vector(`${prefix}.bias`, out) : null,
  });

  const patchEmbedding = ld.matrix(n.patchEmbedding, D, g.patchDim);
  const classEmbedding = ld.vector(n.classEmbedding, D);
  // [Np + 1, Dv] is added to activations whole, so it is widened to f32 once.
  const pos = ld.matrix(n.positionalEmbedding, g.numPatches + 1, D);
  const positionalEmbedding = new Float32Array(pos.rows * pos.cols);
  for (let r = 0; r < pos.rows; r++) readRow(pos, r, positionalEmbedding.subarray(r * pos.cols, (r + 1) * pos.cols));

  const layers: VisionEncoderLayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = n.layer(i);
    layers.push({
      inputNorm: layerNorm(`${p}input_layernorm`),
      q: linear(`${p}self_attn.q_proj`, D, D, true),
      k: linear(`${p}self_attn.k_proj`, D, D, true),
      v: linear(`${p}self_attn.v_proj`, D, D, true),
      o: linear(`${p}self_attn.o_proj`, D, D, true),
      postAttentionNorm: layerNorm(`${p}post_attention_layernorm`),
      fc1: linear(`${p}mlp.fc1`, c.intermediateSize, D, true),
      fc2: linear(`${p}mlp.fc2`, D, c.intermediateSize, true),
    });
  }
  return {
    patchEmbedding,
    classEmbedding,
    positionalEmbedding,
    layernormPre: layerNorm(n.layernormPre),
    layernormPost: layerNorm(n.layernormPost),
    layers,
    adapterFc1: ld.matrix(n.adapterFc1, c.projectorInputDim, g.shuffleWidth),
    adapterFc2: ld.matrix(n.adapterFc2, c.projectorOutputDim, c.projectorOutputDim),
    projector: linear(n.projector, textHiddenSize, c.visionOutputDim, c.multiModalProjectorBias),
  };
}

