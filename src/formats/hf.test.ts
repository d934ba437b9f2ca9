// Hugging Face folders: both checkpoint namings, shards, and configs that contradict weights.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { requireShared, tempDir } from "../../test/support.js";
import { writeTinyModel } from "../../test/tiny.js";
import { maxAbsDiff, maxAbsDiffAtRows, readGoldenPrompts } from "../../test/golden.js";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../kernels/dtype.js";
import { loadHfModel } from "./hf.js";
import { SafetensorsFile, readTensor, writeSafetensors, type SafetensorsDType } from "./safetensors.js";
import { Llama4TextModel } from "../model/llama4.js";
import { evalLogits } from "../runtime/generate.js";

function editConfig(dir: string, edit: (text: Record<string, unknown>, root: Record<string, unknown>) => void): void {
  const path = join(dir, "config.json");
  const root = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  edit(root.text_config as Record<string, unknown>, root);
  writeFileSync(path, JSON.stringify(root));
}

function expectLoadError(dir: string, ...fragments: string[]): void {
  assert.throws(() => loadHfModel(dir), (e: unknown) => {
    const msg = (e as Error).message;
    for (const f of fragments) assert.ok(msg.includes(f), `message ${JSON.stringify(msg)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test("text-only Llama4ForCausalLM naming (model.*, flat config) loads and matches the golden", (t) => {
  const src = requireShared(t, "fixtures/llama4/tiny-scout");
  if (!src) return;
  const dir = tempDir(t);
  const root = JSON.parse(readFileSync(join(src, "config.json"), "utf8")) as Record<string, unknown>;
  const flat = { ...(root.text_config as object), architectures: ["Llama4ForCausalLM"], model_type: "llama4_text" };
  writeFileSync(join(dir, "config.json"), JSON.stringify(flat));
  const f = SafetensorsFile.open(join(src, "model.safetensors"));
  const tensors = [...f.tensors.values()].map((info) => ({
    name: info.name.replace(/^language_model\./, ""),
    dtype: info.dtype as SafetensorsDType,
    shape: info.shape,
    data: readTensor(f, info.name).data,
  }));
  f.close();
  writeSafetensors(join(dir, "model.safetensors"), tensors);

  const loaded = loadHfModel(dir);
  assert.equal(loaded.prefix, "");
  const model = new Llama4TextModel(loaded.config, loaded.weights);
  const { file, prompts } = readGoldenPrompts(join(src, "golden.safetensors"));
  file.close();
  const p = prompts[3]!;
  assert.ok(maxAbsDiffAtRows(evalLogits(model, p.tokens), p.logits, p.logitRows, loaded.config.vocabSize) < 2e-4);
});

test("a sharded checkpoint loads to the same model as a single file", (t) => {
  const one = writeTinyModel(tempDir(t), "maverick", { dtype: "bf16" });
  const sharded = writeTinyModel(tempDir(t), "maverick", { dtype: "bf16", shardBytes: 20_000 });
  const shards = readdirSync(sharded).filter((f) => f.endsWith(".safetensors"));
  assert.ok(shards.length > 3, `expected several shards, got ${shards.length}`);
  const a = loadHfModel(one);
  const b = loadHfModel(sharded);
  const tokens = [1, 5, 9, 13, 17, 21];
  assert.deepEqual(evalLogits(new Llama4TextModel(b.config, b.weights), tokens), evalLogits(new Llama4TextModel(a.config, a.weights), tokens));
  assert.equal(a.weightBytes, b.weightBytes);
});

test("configs that contradict the weights are refused with the tensor or field named", (t) => {
  const fresh = () => writeTinyModel(tempDir(t));

  let dir = fresh();
  editConfig(dir, (c) => { c.num_hidden_layers = 3; c.no_rope_layers = [1, 1, 0]; c.moe_layers = [0, 1, 2]; });
  expectLoadError(dir, "layers.3.", "is not part of the model");

  dir = fresh();
  editConfig(dir, (c) => { c.num_hidden_layers = 5; c.no_rope_layers = [1, 1, 1, 0, 1]; c.moe_layers = [0, 1, 2, 3, 4]; });
  expectLoadError(dir, "language_model.model.layers.4.", "missing");

  dir = fresh();
  editConfig(dir, (c) => { c.hidden_size = 48; });
  expectLoadError(dir, "embed_tokens.weight", "has shape [97, 32] but config.json implies [97, 48]");

  dir = fresh();
  editConfig(dir, (c) => { c.moe_layers = [0, 1, 3]; });
  expectLoadError(dir, "layers.2.feed_forward.router.weight", "dense layer");

  dir = fresh();
  editConfig(dir, (c) => { c.num_local_experts = 5; });
  expectLoadError(dir, "router.weight", "[4, 32]", "[5, 32]");

  dir = fresh();
  editConfig(dir, (c) => { c.hidden_size = "32"; });
  expectLoadError(dir, "config.json", "text_config.hidden_size", "expected an integer");

  dir = fresh();
  editConfig(dir, (c) => { c.no_rope_layers = [1, 0]; });
  expectLoadError(dir, "text_config.no_rope_layers", "expected num_hidden_layers = 4");

  dir = fresh();
  writeFileSync(join(dir, "config.json"), "{ oops");
  expectLoadError(dir, "config.json", "not valid JSON");

  const empty = tempDir(t);
  expectLoadError(empty, "config.json", "not found");

  dir = tempDir(t);
  mkdirSync(dir, { recursive: true });
  writeTinyModel(dir);
  const f = SafetensorsFile.open(join(dir, "model.safetensors"));
  const tensors = [...f.tensors.values()].map((info) => ({
    name: info.name, dtype: info.dtype as SafetensorsDType, shape: info.shape, data: readTensor(f, info.name).data,
  }));
  f.close();
  const norm = tensors.find((x) => x.name.endsWith("model.norm.weight"))!;
  writeSafetensors(join(dir, "model.safetensors"), [
    ...tensors.filter((x) => x !== norm),
    { name: norm.name, dtype: "I32", shape: norm.shape, data: new Int32Array(norm.shape[0]!) },
  ]);
  expectLoadError(dir, "model.norm.weight", "dtype I32", "F32, F16 or BF16");
});

test("F16 and BF16 checkpoints give the same logits as F32 holding the same values", (t) => {
  const src = writeTinyModel(tempDir(t), "maverick", { dtype: "f32" });
  const f = SafetensorsFile.open(join(src, "model.safetensors"));
  const infos = [...f.tensors.values()];
  const tokens = [4, 8, 15, 16, 23, 42];
  for (const [dtype, round, unround] of [
    ["F16", f32ToF16, f16ToF32],
    ["BF16", f32ToBf16, bf16ToF32],
  ] as const) {
    const half = tempDir(t);
    const widened = tempDir(t);
    for (const d of [half, widened]) writeFileSync(join(d, "config.json"), readFileSync(join(src, "config.json")));
    const halfTensors = infos.map((info) => ({
      name: info.name, dtype, shape: info.shape, data: Uint16Array.from(readTensor(f, info.name).data as Float32Array, round),
    }));
    writeSafetensors(join(half, "model.safetensors"), halfTensors);
    writeSafetensors(join(widened, "model.safetensors"), halfTensors.map((x) => ({
      ...x, dtype: "F32" as const, data: Float32Array.from(x.data, unround),
    })));
    const a = loadHfModel(half);
    const b = loadHfModel(widened);
    assert.equal(a.weights.embed.dtype, dtype.toLowerCase());
    assert.equal(a.weightBytes * 2, b.weightBytes);
    const la = evalLogits(new Llama4TextModel(a.config, a.weights), tokens);
    const lb = evalLogits(new Llama4TextModel(b.config, b.weights), tokens);
    assert.ok(maxAbsDiff(la, lb) < 1e-5, `${dtype} vs widened F32: ${maxAbsDiff(la, lb)}`);
  }
  f.close();
});
