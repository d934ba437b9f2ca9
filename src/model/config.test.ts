// config.json parsing: HF defaults, explicit lists, the derived layer table, bad fields.
import { test } from "node:test";
import assert from "node:assert/strict";
import { layerKinds, parseLlama4Config, ConfigError } from "./config.js";
import { countTextParameters } from "./params.js";
import { PRESETS, hfConfigJson } from "./presets.js";

test("an empty text config takes transformers' defaults (Scout's shape)", () => {
  const c = parseLlama4Config({ text_config: {} }, "config.json");
  assert.equal(c.hiddenSize, 5120);
  assert.equal(c.numLayers, 48);
  assert.equal(c.headDim, 128);
  assert.equal(c.numExperts, 16);
  assert.equal(c.attentionChunkSize, 8192);
  assert.equal(c.floorScale, 8192);
  assert.equal(c.attnTemperatureTuning, true);
  assert.equal(c.moeLayers.length, 48);
  const kinds = layerKinds(c);
  const nope = kinds.flatMap((k, i) => (k.rope ? [] : [i]));
  assert.deepEqual(nope, [3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47]);
  assert.ok(kinds.every((k) => k.chunked === k.rope && k.qkNorm === k.rope && k.temperatureTuning === !k.rope));
});

test("the released shapes give the published parameter counts", () => {
  const scout = countTextParameters(parseLlama4Config(hfConfigJson(PRESETS.scout, "bfloat16"), "scout"));
  assert.ok(Math.abs(scout.total / 1e9 - 107.8) < 0.1, `Scout text params ${scout.total}`);
  assert.ok(Math.abs(scout.activePerToken / 1e9 - 16.1) < 0.2, `Scout active ${scout.activePerToken}`);
  const maverick = countTextParameters(parseLlama4Config(hfConfigJson(PRESETS.maverick, "bfloat16"), "maverick"));
  assert.ok(Math.abs(maverick.total / 1e9 - 400) < 3, `Maverick text params ${maverick.total}`);
});

test("Maverick: MoE on odd layers from interleave_moe_layer_step, no QK-norm", () => {
  const c = parseLlama4Config(hfConfigJson(PRESETS.maverick, "bfloat16"), "m");
  const kinds = layerKinds(c);
  assert.deepEqual(kinds.slice(0, 4).map((k) => k.moe), [false, true, false, true]);
  assert.ok(kinds.every((k) => !k.qkNorm));
  const derived = parseLlama4Config({ text_config: { interleave_moe_layer_step: 2, num_hidden_layers: 6 } }, "m");
  assert.deepEqual(derived.moeLayers, [1, 3, 5]);
});

test("explicit lists, temperature flag as an integer, rope_parameters, and no chunking", () => {
  const c = parseLlama4Config({
    text_config: {
      num_hidden_layers: 4, moe_layers: [2], no_rope_layers: [0, 1, 1, 1], attn_temperature_tuning: 4,
      rope_parameters: { rope_type: "default", rope_theta: 10000 }, attention_chunk_size: null,
    },
  }, "c");
  assert.deepEqual(c.moeLayers, [2]);
  assert.deepEqual(c.nopeLayers, [true, false, false, false]);
  assert.equal(c.attnTemperatureTuning, true);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.ropeScaling, null);
  assert.equal(c.attentionChunkSize, null);
  assert.ok(layerKinds(c).every((k) => !k.chunked));
});

test("bad fields name the file and field", () => {
  const bad: [unknown, string][] = [
    [{ text_config: { hidden_size: -1 } }, "text_config.hidden_size"],
    [{ text_config: { num_attention_heads: 6, num_key_value_heads: 4 } }, "text_config.num_key_value_heads"],
    [{ text_config: { moe_layers: [0, 99], num_hidden_layers: 4 } }, "text_config.moe_layers"],
    [{ text_config: { layer_types: ["full_attention"], num_hidden_layers: 2 } }, "text_config.layer_types"],
    [{ text_config: { rope_scaling: { rope_type: "yarn" } } }, "text_config.rope_scaling.rope_type"],
    [{ text_config: { model_type: "llama" } }, "text_config.model_type"],
    [{ text_config: { num_experts_per_tok: 3, num_local_experts: 2 } }, "text_config.num_experts_per_tok"],
    [[], "(root)"],
  ];
  for (const [raw, field] of bad) {
    assert.throws(() => parseLlama4Config(raw, "x/config.json"), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.field, field);
      assert.ok(e.message.startsWith("x/config.json: "));
      return true;
    });
  }
});
