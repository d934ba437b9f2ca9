// Opening a model for inference: a Hugging Face folder today, GGUF files later.
import { Llama4TextModel } from "../model/llama4.js";
import { loadHfModel, type LoadOptions, type LoadedModel } from "../formats/hf.js";

export interface OpenedModel {
  readonly model: Llama4TextModel;
  readonly source: LoadedModel;
}

export function openModel(path: string, opts: LoadOptions = {}): OpenedModel {
  const source = loadHfModel(path, opts);
  return { model: new Llama4TextModel(source.config, source.weights), source };
}
