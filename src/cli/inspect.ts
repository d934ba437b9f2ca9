// `llama4 inspect <model dir|file>`: what a checkpoint is, from config.json and tensor
// headers only (no weights are read).
import type { Command } from "commander";
import { resolve } from "node:path";
import { existsSync, statSync } from "node:fs";
import { GgufFile } from "../formats/gguf.js";
import { llama4ConfigFromGguf } from "../formats/gguf-llama4.js";
import { readGgufTokenizerData } from "../formats/gguf-vocab.js";
import { isGgufFile } from "../runtime/load.js";
import { TensorStore } from "../formats/checkpoint.js";
import { detectPrefix, readConfigFile } from "../formats/hf.js";
import { elementCount } from "../formats/safetensors.js";
import { layerKinds, type Llama4TextConfig } from "../model/config.js";
import { countTextParameters } from "../model/params.js";

export interface InspectReport {
  readonly path: string;
  readonly architecture: string;
  readonly checkpointNaming: string;
  readonly config: Llama4TextConfig;
  readonly layers: { index: number; ffn: "moe" | "dense"; position: "rope" | "nope"; attention: "chunked" | "global"; qkNorm: boolean }[];
  readonly tensorCount: number;
  readonly parameters: { total: number; text: number; vision: number; activePerToken: number; textFromConfig: number };
  readonly dtypes: Record<string, { tensors: number; parameters: number; bytes: number }>;
  readonly files: number;
}

/** A llama4 GGUF file: config from its metadata, tensors from its header (no data read). */
function inspectGguf(path: string): InspectReport {
  const f = GgufFile.open(resolve(path));
  try {
    const vocab = f.get("tokenizer.ggml.tokens") !== undefined ? readGgufTokenizerData(f) : undefined;
    const config = llama4ConfigFromGguf(f, vocab);
    const dtypes: InspectReport["dtypes"] = {};
    let total = 0;
    for (const t of f.tensors.values()) {
      const n = elementCount(t.shape);
      const d = (dtypes[t.type] ??= { tensors: 0, parameters: 0, bytes: 0 });
      d.tensors++;
      d.parameters += n;
      d.bytes += t.byteLength;
      total += n;
    }
    const counts = countTextParameters(config);
    return {
      path: resolve(path),
      architecture: `GGUF, general.architecture = ${f.optString("general.architecture") ?? "?"}`,
      checkpointNaming: "llama.cpp (token_embd, blk.N.*)",
      config,
      layers: layerRows(config),
      tensorCount: f.tensors.size,
      parameters: { total, text: total, vision: 0, activePerToken: counts.activePerToken, textFromConfig: counts.total },
      dtypes,
      files: 1,
    };
  } finally {
    f.close();
  }
}

function layerRows(config: Llama4TextConfig): InspectReport["layers"] {
  return layerKinds(config).map((k, index) => ({
    index,
    ffn: k.moe ? "moe" : "dense",
    position: k.rope ? "rope" : "nope",
    attention: k.chunked ? "chunked" : "global",
    qkNorm: k.qkNorm,
  }));
}

export function inspectCheckpoint(path: string): InspectReport {
  if (!existsSync(path)) throw new Error(`${path}: does not exist`);
  if (isGgufFile(path)) return inspectGguf(path);
  const dir = statSync(path).isDirectory() ? path : resolve(path, "..");
  const { raw, config } = readConfigFile(dir);
  const store = TensorStore.open(path);
  try {
    const prefix = detectPrefix(store, resolve(path));
    const dtypes: InspectReport["dtypes"] = {};
    let text = 0;
    let vision = 0;
    for (const name of store.names()) {
      const info = store.info(name);
      const n = elementCount(info.shape);
      const d = (dtypes[info.dtype] ??= { tensors: 0, parameters: 0, bytes: 0 });
      d.tensors++;
      d.parameters += n;
      d.bytes += info.byteLength;
      if (name.startsWith(`${prefix}model.`) || name.startsWith(`${prefix}lm_head.`)) text += n;
      else vision += n;
    }
    const counts = countTextParameters(config);
    const archs = raw.architectures;
    return {
      path: resolve(path),
      architecture: Array.isArray(archs) ? archs.join(", ") : String(raw.model_type ?? "unknown"),
      checkpointNaming: prefix ? "language_model.* (Llama4ForConditionalGeneration)" : "model.* (Llama4ForCausalLM)",
      config,
      layers: layerRows(config),
      tensorCount: store.names().length,
      parameters: { total: text + vision, text, vision, activePerToken: counts.activePerToken, textFromConfig: counts.total },
      dtypes,
      files: store.files.length,
    };
  } finally {
    store.close();
  }
}

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatInspect(r: InspectReport): string {
  const c = r.config;
  const lines = [
    `model         ${r.path}`,
    `architecture  ${r.architecture}; tensors named ${r.checkpointNaming}`,
    `text decoder  vocab ${c.vocabSize}, hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads / ${c.numKvHeads} KV heads × ${c.headDim}`,
    `experts       ${c.numExperts} routed (top-${c.topK}, width ${c.expertHidden}) + shared on ${c.moeLayers.length} MoE layers; dense width ${c.denseHidden}`,
    `attention     chunk ${c.attentionChunkSize ?? "none (all global)"}, QK-norm ${c.useQkNorm}, temperature tuning ${c.attnTemperatureTuning} (floor ${c.floorScale}, scale ${c.attnScale})`,
    `rope          theta ${c.ropeTheta}${c.ropeScaling ? `, llama3 scaling factor ${c.ropeScaling.factor} (low ${c.ropeScaling.lowFreqFactor}, high ${c.ropeScaling.highFreqFactor}, original ${c.ropeScaling.originalMaxPositionEmbeddings})` : ", no scaling"}`,
    "layers:",
  ];
  for (const l of r.layers) {
    lines.push(`  ${String(l.index).padStart(3)}  ${l.ffn.padEnd(5)} ${l.position.padEnd(4)} ${l.attention}${l.qkNorm ? " qk-norm" : ""}`);
  }
  lines.push(
    `tensors       ${r.tensorCount} in ${r.files} file(s)`,
    `parameters    ${human(r.parameters.total)} total (text ${human(r.parameters.text)}, vision ${human(r.parameters.vision)}); ${human(r.parameters.activePerToken)} active per token`,
    "dtypes:",
  );
  for (const [dt, d] of Object.entries(r.dtypes)) {
    lines.push(`  ${dt.padEnd(6)} ${String(d.tensors).padStart(5)} tensors  ${human(d.parameters).padStart(8)} params  ${(d.bytes / 1e6).toFixed(1)} MB`);
  }
  return lines.join("\n");
}

export function registerInspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("summarise a checkpoint: architecture, layer kinds, tensors, parameter counts, dtypes")
    .argument("<model>", "model folder (config.json + safetensors), a .safetensors / index file, or a .gguf file")
    .option("--json", "print the report as JSON")
    .action((model: string, o: { json?: boolean }) => {
      const report = inspectCheckpoint(model);
      process.stdout.write((o.json ? JSON.stringify(report) : formatInspect(report)) + "\n");
    });
}
