// `llama4 synth`: random-weight checkpoints in exact Hugging Face Llama 4 format, at any
// scale of a preset architecture. Benchmarks, demos and format tests use them. Tensors are
// generated and written one block at a time, so writing a 200 GB checkpoint needs little
// memory; values depend only on (seed, tensor name), not on sharding.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LLAMA4_VISION_PRESET, PRESETS, hfConfigJson, hfPreprocessorConfigJson, type ArchitecturePreset, type VisionPreset } from "../model/presets.js";
import { SafetensorsWriter, elementCount, type TensorSpec } from "../formats/safetensors.js";
import { f32ToBf16Array } from "../kernels/dtype.js";

export type SynthDType = "f32" | "bf16";

export interface SynthOverrides {
  hidden?: number; layers?: number; experts?: number; heads?: number; kvHeads?: number; headDim?: number;
  expertHidden?: number; denseHidden?: number; vocab?: number; chunk?: number;
}

export interface SynthOptions {
  /** "scout" | "maverick" | "behemoth" */
  readonly preset: string;
  readonly overrides?: SynthOverrides;
  readonly dtype: SynthDType;
  readonly seed: number;
  readonly out: string;
  /** Also write the vision tower and projector (released shape, with these overrides). */
  readonly vision?: Partial<VisionPreset> | boolean;
  /** Shard size limit in bytes (default 2 GB); one tensor never spans two shards. */
  readonly shardBytes?: number;
  readonly onProgress?: (writtenBytes: number, totalBytes: number) => void;
}

export function resolvePreset(name: string, o: SynthOverrides = {}): ArchitecturePreset {
  const base = PRESETS[name as ArchitecturePreset["name"]];
  if (!base) throw new Error(`unknown preset ${JSON.stringify(name)} (expected ${Object.keys(PRESETS).join(", ")})`);
  const p: ArchitecturePreset = {
    ...base,
    ...(o.hidden !== undefined && { hidden: o.hidden }),
    ...(o.layers !== undefined && { layers: o.layers }),
    ...(o.experts !== undefined && { experts: o.experts }),
    ...(o.heads !== undefined && { heads: o.heads }),
    ...(o.kvHeads !== undefined && { kvHeads: o.kvHeads }),
    ...(o.headDim !== undefined && { headDim: o.headDim }),
    ...(o.expertHidden !== undefined && { expertHidden: o.expertHidden }),
    ...(o.denseHidden !== undefined && { denseHidden: o.denseHidden }),
    ...(o.vocab !== undefined && { vocab: o.vocab }),
    ...(o.chunk !== undefined && { chunk: o.chunk }),
  };
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === "number" && (!Number.isSafeInteger(v) || v < 1)) throw new Error(`synth: ${k} must be a positive integer, got ${v}`);
  }
  if (p.heads % p.kvHeads !== 0) throw new Error(`synth: kv-heads ${p.kvHeads} must divide heads ${p.heads}`);
  if (p.headDim % 2 !== 0) throw new Error(`synth: head-dim ${p.headDim} must be even`);
  return p;
}

/** A tensor to synthesize: its HF name and shape, and how to initialise it. */
export interface SynthTensor extends TensorSpec {
  /** Values are uniform with variance 1/fanIn; "norm" tensors are 1 ± 0.1. */
  readonly init: { fanIn: number } | "norm";
}

/** Vision tower tensors (spec §5.7 names), projecting into the text width `textHidden`. */
export function synthVisionPlan(v: VisionPreset, textHidden: number, dtype: SynthDType): SynthTensor[] {
  const st = dtype === "f32" ? "F32" : "BF16";
  const t = (name: string, shape: number[], init: SynthTensor["init"]): SynthTensor => ({ name, dtype: st, shape, init });
  const D = v.hidden;
  const patchDim = 3 * v.patchSize * v.patchSize;
  const patches = (v.imageSize / v.patchSize) ** 2;
  const bias = (name: string, n: number) => t(name, [n], { fanIn: n * 100 });
  const plan: SynthTensor[] = [
    t("vision_model.patch_embedding.linear.weight", [D, patchDim], { fanIn: patchDim }),
    t("vision_model.class_embedding", [D], { fanIn: 1 }),
    t("vision_model.positional_embedding_vlm", [patches + 1, D], { fanIn: 4 }),
    t("vision_model.layernorm_pre.weight", [D], "norm"), bias("vision_model.layernorm_pre.bias", D),
    t("vision_model.layernorm_post.weight", [D], "norm"), bias("vision_model.layernorm_post.bias", D),
  ];
  for (let i = 0; i < v.layers; i++) {
    const l = `vision_model.model.layers.${i}.`;
    plan.push(t(`${l}input_layernorm.weight`, [D], "norm"), bias(`${l}input_layernorm.bias`, D));
    for (const p of ["q", "k", "v", "o"]) plan.push(t(`${l}self_attn.${p}_proj.weight`, [D, D], { fanIn: D }), bias(`${l}self_attn.${p}_proj.bias`, D));
    plan.push(
      t(`${l}post_attention_layernorm.weight`, [D], "norm"), bias(`${l}post_attention_layernorm.bias`, D),
      t(`${l}mlp.fc1.weight`, [v.intermediate, D], { fanIn: D }), bias(`${l}mlp.fc1.bias`, v.intermediate),
      t(`${l}mlp.fc2.weight`, [D, v.intermediate], { fanIn: v.intermediate }), bias(`${l}mlp.fc2.bias`, D),
    );
  }
  plan.push(
    t("vision_model.vision_adapter.mlp.fc1.weight", [v.projectorDim, 4 * D], { fanIn: 4 * D }),
    t("vision_model.vision_adapter.mlp.fc2.weight", [v.projectorDim, v.projectorDim], { fanIn: v.projectorDim }),
    t("multi_modal_projector.linear_1.weight", [textHidden, v.projectorDim], { fanIn: v.projectorDim }),
  );
  return plan;
}

export function synthTensorPlan(p: ArchitecturePreset, dtype: SynthDType): SynthTensor[] {
  const st = dtype === "f32" ? "F32" : "BF16";
  const D = p.hidden;
  const q = p.heads * p.headDim;
  const kv = p.kvHeads * p.headDim;
  const m = "language_model.model.";
  const t = (name: string, shape: number[], init: SynthTensor["init"]): SynthTensor => ({ name, dtype: st, shape, init });
  const plan: SynthTensor[] = [t(`${m}embed_tokens.weight`, [p.vocab, D], { fanIn: 1 })];
  for (let i = 0; i < p.layers; i++) {
    const l = `${m}layers.${i}.`;
    plan.push(
      t(`${l}input_layernorm.weight`, [D], "norm"),
      t(`${l}self_attn.q_proj.weight`, [q, D], { fanIn: D }),
      t(`${l}self_attn.k_proj.weight`, [kv, D], { fanIn: D }),
      t(`${l}self_attn.v_proj.weight`, [kv, D], { fanIn: D }),
      t(`${l}self_attn.o_proj.weight`, [D, q], { fanIn: q }),
      t(`${l}post_attention_layernorm.weight`, [D], "norm"),
    );
    if ((i + 1) % p.interleave === 0) {
      const f = `${l}feed_forward.`;
      plan.push(
        t(`${f}router.weight`, [p.experts, D], { fanIn: D }),
        t(`${f}experts.gate_up_proj`, [p.experts, D, 2 * p.expertHidden], { fanIn: D }),
        t(`${f}experts.down_proj`, [p.experts, p.expertHidden, D], { fanIn: p.expertHidden }),
        t(`${f}shared_expert.gate_proj.weight`, [p.expertHidden, D], { fanIn: D }),
        t(`${f}shared_expert.up_proj.weight`, [p.expertHidden, D], { fanIn: D }),
        t(`${f}shared_expert.down_proj.weight`, [D, p.expertHidden], { fanIn: p.expertHidden }),
      );
    } else {
      const f = `${l}feed_forward.`;
      plan.push(
        t(`${f}gate_proj.weight`, [p.denseHidden, D], { fanIn: D }),
        t(`${f}up_proj.weight`, [p.denseHidden, D], { fanIn: D }),
        t(`${f}down_proj.weight`, [D, p.denseHidden], { fanIn: p.denseHidden }),
      );
    }
  }
  plan.push(t(`${m}norm.weight`, [D], "norm"), t("language_model.lm_head.weight", [p.vocab, D], { fanIn: D }));
  return plan;
}

/** splitmix32: a tiny, fast, well-mixed generator; plenty for random weights. */
export function splitmix32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return (t >>> 0) / 4294967296;
  };
}

function hashName(seed: number, name: string): number {
  let h = (seed ^ 0x811c9dc5) | 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h;
}

const BLOCK = 1 << 20; // values generated per block

/** Streams one tensor's values, block by block, to `sink`. */
export function generateTensor(spec: SynthTensor, seed: number, dtype: SynthDType, sink: (bytes: ArrayBufferView) => void): void {
  const n = elementCount(spec.shape);
  const rand = splitmix32(hashName(seed, spec.name));
  const amp = spec.init === "norm" ? 0.1 : Math.sqrt(3 / spec.init.fanIn);
  const center = spec.init === "norm" ? 1 : 0;
  const f32 = new Float32Array(Math.min(BLOCK, n));
  const bf16 = dtype === "bf16" ? new Uint16Array(f32.length) : undefined;
  for (let done = 0; done < n; done += f32.length) {
    const len = Math.min(f32.length, n - done);
    for (let i = 0; i < len; i++) f32[i] = center + amp * (2 * rand() - 1);
    if (bf16) {
      f32ToBf16Array(f32.subarray(0, len), bf16);
      sink(bf16.subarray(0, len));
    } else {
      sink(f32.subarray(0, len));
    }
  }
}

export interface SynthResult {
  readonly preset: ArchitecturePreset;
  readonly files: string[];
  readonly totalBytes: number;
  readonly parameters: number;
}

export function synthCheckpoint(o: SynthOptions): SynthResult {
  const preset = resolvePreset(o.preset, o.overrides);
  const vision = o.vision ? { ...LLAMA4_VISION_PRESET, ...(typeof o.vision === "object" ? o.vision : {}) } : undefined;
  if (vision && (vision.imageSize % vision.patchSize !== 0 || (vision.imageSize / vision.patchSize) % 2 !== 0 || vision.hidden % vision.heads !== 0 || (vision.hidden / vision.heads) % 4 !== 0)) {
    throw new Error("synth: the vision tower needs image size = an even multiple of the patch size, and a head dim (hidden/heads) divisible by 4");
  }
  const plan = [...synthTensorPlan(preset, o.dtype), ...(vision ? synthVisionPlan(vision, preset.hidden, o.dtype) : [])];
  const bytesOf = (t: SynthTensor) => elementCount(t.shape) * (o.dtype === "f32" ? 4 : 2);
  const limit = o.shardBytes ?? 2 * 1024 ** 3;

  const shards: SynthTensor[][] = [[]];
  let current = 0;
  for (const t of plan) {
    const b = bytesOf(t);
    if (current > 0 && current + b > limit) {
      shards.push([]);
      current = 0;
    }
    shards[shards.length - 1]!.push(t);
    current += b;
  }

  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, "config.json"), JSON.stringify(hfConfigJson(preset, o.dtype === "f32" ? "float32" : "bfloat16", vision), null, 2) + "\n");
  if (vision) writeFileSync(join(o.out, "preprocessor_config.json"), JSON.stringify(hfPreprocessorConfigJson(vision), null, 2) + "\n");
  const totalBytes = plan.reduce((s, t) => s + bytesOf(t), 0);
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  let written = 0;
  shards.forEach((tensors, si) => {
    const file = shards.length === 1
      ? "model.safetensors"
      : `model-${String(si + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    const w = new SafetensorsWriter(join(o.out, file), tensors);
    for (const t of tensors) {
      generateTensor(t, o.seed, o.dtype, (bytes) => {
        w.writePart(bytes);
        written += bytes.byteLength;
        o.onProgress?.(written, totalBytes);
      });
      w.endTensor();
      weightMap[t.name] = file;
    }
    w.close();
    files.push(join(o.out, file));
  });
  if (shards.length > 1) {
    writeFileSync(join(o.out, "model.safetensors.index.json"),
      JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2) + "\n");
  }
  const parameters = plan.reduce((s, t) => s + elementCount(t.shape), 0);
  return { preset, files, totalBytes, parameters };
}
