// The vision tower and early fusion against Meta's reference (tiny-vision goldens): every
// stage from the golden pixel values, the merged input embeddings, and the multimodal logits
// of the text model. Plus fixture-free checks of the pieces (erf/GELU, unfold, pixel shuffle,
// RoPE tables, merge, config parsing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireShared, tempDir } from "../../test/support.js";
import { maxAbsDiff } from "../../test/golden.js";
import { SafetensorsFile, readTensor } from "../formats/safetensors.js";
import { loadVisionWeights } from "../formats/hf-vision.js";
import { openModel } from "../runtime/load.js";
import { SequenceKVCache } from "../runtime/kvcache.js";
import { argmax } from "../kernels/ref/ops.js";
import { ConfigError } from "./config.js";
import { countPatchTokens, mergeImageEmbeddings, multimodalEmbeddings } from "./multimodal.js";
import {
  erf,
  gelu,
  Llama4VisionModel,
  parseVisionConfig,
  pixelShuffle,
  unfoldPatches,
  visionGeometry,
  visionRopeTables,
  type VisionStage,
} from "./vision.js";

const FIXTURE = "fixtures/llama4/tiny-vision";
const STAGES: readonly VisionStage[] = [
  "patch_embeds", "encoder_input", "encoder_output", "vision_tokens", "pixel_shuffle", "adapter_output", "projected",
];
const STAGE_ATOL = 1e-4;
const EMBEDS_ATOL = 1e-5;
const LOGITS_ATOL = 1e-3;

interface GoldenJson {
  images: { file: string; num_tiles_total: number; image_token_ids: number[]; aspect_ratio_rows_cols: [number, number] }[];
  prompts: { input_ids: number[]; images_in_order: number[]; argmax_per_position: number[]; patch_positions: number[] }[];
}

test("tiny-vision: every vision stage from the golden pixel values", (t) => {
  const dir = requireShared(t, FIXTURE);
  if (!dir) return;
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as GoldenJson;
  const { config, weights } = loadVisionWeights(dir);
  const vision = new Llama4VisionModel(config, weights);
  const file = SafetensorsFile.open(join(dir, "golden.safetensors"));
  try {
    for (const [k, info] of golden.images.entries()) {
      const pixels = readTensor(file, `image${k}.pixel_values`);
      const N = pixels.shape[0]!;
      assert.equal(N, info.num_tiles_total);
      const got = new Map<VisionStage, Float32Array[]>();
      const rows = vision.embedTiles(pixels.data as Float32Array, N, {
        onStage(stage, tile, data) {
          const list = got.get(stage) ?? [];
          list[tile] = data;
          got.set(stage, list);
        },
      });
      const errors: string[] = [];
      for (const stage of STAGES) {
        const ref = readTensor(file, `image${k}.${stage}`);
        const tiles = got.get(stage);
        assert.ok(tiles && tiles.length === N, `image${k}.${stage}: one output per tile`);
        const flat = new Float32Array(ref.data.length);
        tiles.forEach((a, i) => flat.set(a, i * a.length));
        assert.equal(tiles[0]!.length * N, ref.data.length, `image${k}.${stage} shape [${ref.shape.join(", ")}]`);
        const err = maxAbsDiff(flat, ref.data as Float32Array);
        errors.push(`${stage} ${err.toExponential(1)}`);
        assert.ok(err <= STAGE_ATOL, `image${k}.${stage}: max abs error ${err}`);
      }
      assert.ok(maxAbsDiff(rows, readTensor(file, `image${k}.projected`).data as Float32Array) <= STAGE_ATOL);
      t.diagnostic(`image${k}: ${errors.join(", ")}`);
    }
  } finally {
    file.close();
  }
});

test("tiny-vision: merged input embeddings and multimodal logits match the reference", (t) => {
  const dir = requireShared(t, FIXTURE);
  if (!dir) return;
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as GoldenJson;
  const { config, weights } = loadVisionWeights(dir);
  const vision = new Llama4VisionModel(config, weights);
  // The text half of the multimodal checkpoint loads on its own (dense + MoE layers).
  const { model } = openModel(dir);
  assert.equal(vision.outputDim, model.config.hiddenSize);
  const V = model.config.vocabSize;
  const file = SafetensorsFile.open(join(dir, "golden.safetensors"));
  try {
    for (const [i, prompt] of golden.prompts.entries()) {
      const tokens = prompt.input_ids;
      assert.deepEqual(Array.from(readTensor(file, `prompt${i}.input_ids`).data as BigInt64Array, Number), tokens);
      const parts = prompt.images_in_order.map((k) => {
        const px = readTensor(file, `image${k}.pixel_values`);
        return vision.embedTiles(px.data as Float32Array, px.shape[0]!);
      });
      const imageRows = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (imageRows.set(p, at), at + p.length), 0);
      assert.equal(countPatchTokens(tokens, config.imageTokenIndex), prompt.patch_positions.length);

      const embeddings = multimodalEmbeddings(model, tokens, imageRows, config.imageTokenIndex);
      const embedErr = maxAbsDiff(embeddings, readTensor(file, `prompt${i}.inputs_embeds`).data as Float32Array);
      assert.ok(embedErr <= EMBEDS_ATOL, `prompt${i} inputs_embeds: max abs error ${embedErr}`);

      // forward() adds into the embeddings it is given, so it gets a copy.
      const logits = model.forward(tokens, new SequenceKVCache(model.config), { logits: "all", embeddings: embeddings.slice() });
      const logitErr = maxAbsDiff(logits, readTensor(file, `prompt${i}.logits`).data as Float32Array);
      assert.ok(logitErr <= LOGITS_ATOL, `prompt${i} logits: max abs error ${logitErr}`);
      const top = tokens.map((_, p) => argmax(logits, p * V, V));
      assert.deepEqual(top, prompt.argmax_per_position, `prompt${i} argmax per position`);
      t.diagnostic(`prompt${i}: inputs_embeds ${embedErr.toExponential(1)}, logits ${logitErr.toExponential(1)}, argmax ${top.length}/${top.length}`);
    }
  } finally {
    file.close();
  }
});

test("erf and exact GELU agree with reference values to 1e-15", () => {
  // math.erf / 0.5·x·(1 + erf(x/√2)) from CPython.
  const erfs: [number, number][] = [
    [0, 0], [1e-8, 1.1283791670955126e-8], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465],
    [1, 0.8427007929497149], [1.5, 0.9661051464753108], [2, 0.9953222650189527], [2.4999, 0.9995928300996666],
    [2.5, 0.999593047982555], [3, 0.9999779095030014], [4, 0.9999999845827421], [5.5, 0.9999999999999927],
    [5.99, 1], [6.5, 1], [-0.7, -0.6778011938374184], [-3.2, -0.9999939742388483],
  ];
  for (const [x, want] of erfs) assert.ok(Math.abs(erf(x) - want) < 1e-15, `erf(${x}) = ${erf(x)}, want ${want}`);
  const gelus: [number, number][] = [
    [-3, -0.00404969409489031], [-1, -0.15865525393145707], [-0.1, -0.0460172162722971], [0, 0],
    [0.3, 0.18537342665668577], [1, 0.8413447460685429], [2, 1.9544997361036416], [10, 10],
  ];
  for (const [x, want] of gelus) assert.ok(Math.abs(gelu(x) - want) < 1e-15, `gelu(${x}) = ${gelu(x)}, want ${want}`);
  // Odd, monotone and bounded across the branch boundaries.
  let prev = -1;
  for (let x = -7; x <= 7; x += 0.001) {
    const e = erf(x);
    assert.ok(e >= prev - 1e-16 && Math.abs(e + erf(-x)) < 1e-16 && Math.abs(e) <= 1, `erf at ${x}`);
    prev = e;
  }
});

test("unfold: patches row-major, features channel-major then kernel row then column", () => {
  const C = 2, S = 4, P = 2;
  const tile = Float32Array.from({ length: C * S * S }, (_, i) => i); // value = (c·S + y)·S + x
  const patches = unfoldPatches(tile, C, S, P); // [4, 8]
  const value = (c: number, y: number, x: number) => (c * S + y) * S + x;
  for (let py = 0; py < 2; py++) {
    for (let px = 0; px < 2; px++) {
      for (let c = 0; c < C; c++) {
        for (let ky = 0; ky < P; ky++) {
          for (let kx = 0; kx < P; kx++) {
            assert.equal(patches[(py * 2 + px) * 8 + c * 4 + ky * 2 + kx], value(c, py * P + ky, px * P + kx));
          }
        }
      }
    }
  }
});

test("pixel shuffle: token (i, j) is the channel concat of the 2×2 block, row by row", () => {
  // A 4×4 grid of 2-channel patches whose values say where they came from: [10·y + x, −(10·y + x)].
  const side = 4, D = 2;
  const grid = new Float32Array(side * side * D);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) grid.set([10 * y + x, -(10 * y + x)], (y * side + x) * D);
  const out = pixelShuffle(grid, side, D, 2); // [4, 8]
  const expectToken = (i: number, j: number) =>
    [[2 * i, 2 * j], [2 * i, 2 * j + 1], [2 * i + 1, 2 * j], [2 * i + 1, 2 * j + 1]].flatMap(([y, x]) => [10 * y! + x!, -(10 * y! + x!)]);
  assert.deepEqual([...out.subarray(0, 8)], expectToken(0, 0));
  assert.deepEqual([...out.subarray(8, 16)], expectToken(0, 1));
  assert.deepEqual([...out.subarray(16, 24)], expectToken(1, 0));
  assert.deepEqual([...out.subarray(24, 32)], expectToken(1, 1));
  assert.deepEqual([...out.subarray(8, 16)], [2, -2, 3, -3, 12, -12, 13, -13]);
  assert.throws(() => pixelShuffle(new Float32Array(9 * D), 3, D, 2), /does not divide/);
});

test("2D RoPE tables: x frequencies first, +1 offsets, CLS (last row) unrotated", () => {
  const c = parseVisionConfig({ vision_config: { hidden_size: 32, num_attention_heads: 2, image_size: 56, patch_size: 14, vision_output_dim: 4096 } }, "config.json");
  const { cos, sin } = visionRopeTables(c); // [17, 8]
  const pairs = 8;
  const f = (m: number) => Math.fround(1 / 10000 ** ((2 * m) / pairs));
  // Patch 6 sits at x = 2, y = 1 in the 4×4 grid.
  for (let m = 0; m < 4; m++) {
    assert.ok(Math.abs(sin[6 * pairs + m]! - Math.sin(3 * f(m))) < 1e-7);
    assert.ok(Math.abs(sin[6 * pairs + 4 + m]! - Math.sin(2 * f(m))) < 1e-7);
  }
  for (let m = 0; m < pairs; m++) {
    assert.equal(cos[16 * pairs + m], 1);
    assert.equal(sin[16 * pairs + m], 0);
  }
});

test("merge replaces the k-th <|patch|> row with image row k and checks counts", () => {
  const PATCH = 200092;
  const tokens = [1, PATCH, 2, PATCH, PATCH];
  const D = 2;
  const emb = Float32Array.from({ length: tokens.length * D }, (_, i) => i);
  const rows = Float32Array.from([100, 101, 200, 201, 300, 301]);
  const merged = mergeImageEmbeddings(emb, tokens, rows, PATCH);
  assert.deepEqual([...merged], [0, 1, 100, 101, 4, 5, 200, 201, 300, 301]);
  assert.deepEqual([...emb], Array.from({ length: 10 }, (_, i) => i), "the input is not modified");
  assert.throws(() => mergeImageEmbeddings(emb, tokens, rows.subarray(0, 4), PATCH),
    /3 <\|patch\|> tokens \(id 200092\) but the images give 2 embedding rows/);
  assert.throws(() => mergeImageEmbeddings(emb, [1, 2, 3, 4, 5], rows, PATCH), /0 <\|patch\|> tokens/);
  assert.throws(() => mergeImageEmbeddings(emb, tokens, rows.subarray(0, 5), PATCH), /not \[R, 2\]/);
});

test("vision config: HF defaults, Scout-shaped geometry, and named errors", () => {
  const d = parseVisionConfig({ vision_config: { vision_output_dim: 4096 } }, "config.json");
  assert.deepEqual(
    [d.hiddenSize, d.numLayers, d.numHeads, d.intermediateSize, d.imageSize, d.patchSize, d.pixelShuffleRatio, d.projectorInputDim,
      d.normEps, d.ropeTheta, d.multiModalProjectorBias, d.imageTokenIndex],
    [768, 34, 16, 5632, 448, 14, 0.5, 4096, 1e-5, 10000, false, 200092]);
  // transformers' own defaults do not chain (vision_output_dim 7680 vs projector_output_dim 4096).
  assert.throws(() => parseVisionConfig({ vision_config: {} }, "config.json"),
    /config\.json: vision_config\.vision_output_dim: 7680 must equal projector_output_dim 4096/);
  const scout = parseVisionConfig({
    image_token_index: 200092,
    vision_config: {
      hidden_size: 1408, num_hidden_layers: 34, num_attention_heads: 16, intermediate_size: 5632, image_size: 336, patch_size: 14,
      pixel_shuffle_ratio: 0.5, projector_input_dim: 4096, projector_output_dim: 4096, vision_output_dim: 4096, rope_theta: 10000,
    },
  }, "config.json");
  assert.deepEqual(visionGeometry(scout), {
    patchesPerSide: 24, numPatches: 576, patchDim: 588, shuffleBlock: 2, tokensPerTile: 144, shuffleWidth: 5632,
  });
  assert.equal(scout.headDim, 88);
  assert.throws(() => parseVisionConfig({ model_type: "llama4_text" }, "config.json"), /config\.json: vision_config: is missing/);
  assert.throws(() => parseVisionConfig({ vision_config: { patch_size: 15 } }, "c.json"), (e: unknown) =>
    e instanceof ConfigError && /c\.json: vision_config\.patch_size: 15 does not divide image_size 448/.test(e.message));
  assert.throws(() => parseVisionConfig({ vision_config: { hidden_act: "gelu_pytorch_tanh" } }, "c.json"), /hidden_act/);
  assert.throws(() => parseVisionConfig({ vision_config: { pixel_shuffle_ratio: 0.3 } }, "c.json"), /pixel_shuffle_ratio/);
});

test("vision weights: shapes are checked against config.json, errors name file and tensor", (t) => {
  const dir = requireShared(t, FIXTURE);
  if (!dir) return;
  const raw = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { vision_config: Record<string, unknown> };
  const variant = (patch: Record<string, unknown>): string => {
    const d = tempDir(t);
    writeFileSync(join(d, "config.json"), JSON.stringify({ ...raw, vision_config: { ...raw.vision_config, ...patch } }));
    symlinkSync(join(dir, "model.safetensors"), join(d, "model.safetensors"));
    return d;
  };
  assert.throws(() => loadVisionWeights(variant({ intermediate_size: 64 })),
    /model\.safetensors: tensor vision_model\.model\.layers\.0\.mlp\.fc1\.weight: has shape \[128, 32\] but config\.json implies \[64, 32\]/);
  assert.throws(() => loadVisionWeights(variant({ num_hidden_layers: 1 })), /tensor vision_model\.model\.layers\.1\..*is not part of the model/);
  assert.throws(() => loadVisionWeights(variant({ multi_modal_projector_bias: true })),
    /tensor multi_modal_projector\.linear_1\.bias: is missing from the checkpoint/);
  const scout = requireShared(t, "fixtures/llama4/tiny-scout");
  // A text checkpoint whose config.json still carries a vision_config, but no vision tensors.
  if (scout) assert.throws(() => loadVisionWeights(scout), /tensor vision_model\.patch_embedding\.linear\.weight: is missing from the checkpoint/);
});
