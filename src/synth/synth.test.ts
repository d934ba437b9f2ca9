// synth: deterministic values, and the vision tower in the layout the loader expects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/support.js";
import { synthCheckpoint } from "./synth.js";
import { loadVisionWeights } from "../formats/hf-vision.js";
import { Llama4VisionModel } from "../model/vision.js";

const text = { hidden: 32, layers: 2, experts: 2, heads: 4, kvHeads: 2, headDim: 8, expertHidden: 32, vocab: 64, chunk: 8 };

test("same seed, same bytes; another seed, other bytes", (t) => {
  const write = (seed: number) => {
    const out = tempDir(t);
    synthCheckpoint({ preset: "scout", dtype: "bf16", seed, out, overrides: text });
    return readFileSync(join(out, "model.safetensors"));
  };
  const a = write(1);
  assert.deepEqual(write(1), a);
  assert.notDeepEqual(write(2), a);
});

test("--vision writes a tower the vision loader reads and runs", (t) => {
  const out = tempDir(t);
  synthCheckpoint({
    preset: "maverick", dtype: "f32", seed: 3, out, overrides: { ...text, denseHidden: 48 },
    vision: { hidden: 32, layers: 2, heads: 2, intermediate: 64, imageSize: 56, patchSize: 14, projectorDim: 48 },
  });
  const pre = JSON.parse(readFileSync(join(out, "preprocessor_config.json"), "utf8")) as { size: { height: number } };
  assert.equal(pre.size.height, 56);
  const { config, weights } = loadVisionWeights(out);
  assert.equal(config.numLayers, 2);
  const vision = new Llama4VisionModel(config, weights);
  const rows = vision.embedTiles(new Float32Array(3 * 56 * 56), 1);
  assert.equal(rows.length, 4 * 32); // 16 patches, pixel shuffle 0.5 → 4 rows of the text width
  assert.ok(rows.every(Number.isFinite));
});
