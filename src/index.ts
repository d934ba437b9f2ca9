// Library entry point.
export { Llama4TextModel, type ForwardOptions } from "./model/llama4.js";
export { parseLlama4Config, layerKinds, ConfigError, type Llama4TextConfig, type LayerKind } from "./model/config.js";
export { countTextParameters } from "./model/params.js";
export { PRESETS } from "./model/presets.js";
export { loadHfModel, type LoadedModel, type LoadOptions } from "./formats/hf.js";
export { SafetensorsFile, SafetensorsWriter, writeSafetensors, readTensor } from "./formats/safetensors.js";
export { TensorStore } from "./formats/checkpoint.js";
export { FormatError } from "./formats/errors.js";
export { openModel, type OpenedModel } from "./runtime/load.js";
export { evalLogits, prefill, generateGreedy, DEFAULT_BLOCK_SIZE } from "./runtime/generate.js";
export { SequenceKVCache } from "./runtime/kvcache.js";
export { synthCheckpoint } from "./synth/synth.js";
export { Sampler, validateSamplingParams, type SamplingParams } from "./runtime/sampler.js";
export { generate, generateAll, type GenerateOptions, type GenerationEvent, type FinishReason } from "./runtime/generator.js";
