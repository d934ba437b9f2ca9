// The engine against Meta's reference: every text fixture's golden logits (full pass,
// token-by-token and mixed blocks), greedy continuations, and per-layer debug tensors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { requireShared } from "../../test/support.js";
import { maxAbsDiff, maxAbsDiffAtRows, readGoldenPrompts } from "../../test/golden.js";
import { readTensor } from "../formats/safetensors.js";
import { openModel } from "./load.js";
import { evalLogits, generateGreedy } from "./generate.js";
import { SequenceKVCache } from "./kvcache.js";

const LOGIT_ATOL = 2e-4; // the fixtures' README tolerance for the f32 reference

for (const fixture of ["tiny-scout", "tiny-maverick", "tiny-scout-fullvocab"]) {
  test(`${fixture}: logits, incremental decoding and greedy match Meta's reference`, (t) => {
    const dir = requireShared(t, `fixtures/llama4/${fixture}`);
    if (!dir) return;
    const { model } = openModel(dir);
    const V = model.config.vocabSize;
    const { file, prompts } = readGoldenPrompts(join(dir, "golden.safetensors"));
    try {
      for (const p of prompts) {
        const full = evalLogits(model, p.tokens);
        assert.ok(maxAbsDiffAtRows(full, p.logits, p.logitRows, V) < LOGIT_ATOL, `${p.name} full pass`);

        const incremental = evalLogits(model, p.tokens, { incremental: true });
        assert.ok(maxAbsDiffAtRows(incremental, p.logits, p.logitRows, V) < LOGIT_ATOL, `${p.name} incremental`);

        // Blocks of 3 and 5 straddle the fixtures' chunk size of 8 at different offsets.
        for (const blockSize of [3, 5]) {
          const mixed = evalLogits(model, p.tokens, { blockSize });
          assert.ok(maxAbsDiffAtRows(mixed, p.logits, p.logitRows, V) < LOGIT_ATOL, `${p.name} blocks of ${blockSize}`);
        }

        const greedy = generateGreedy(model, p.tokens, { maxTokens: p.greedy.length });
        assert.deepEqual(greedy, p.greedy, `${p.name} greedy`);
      }

      // Per-layer residual stream and router logits, where the fixture has them.
      if (file.tensors.has("p2.debug.hidden.0")) {
        const p2 = prompts[2]!;
        const cache = new SequenceKVCache(model.config);
        let checked = 0;
        model.forward(p2.tokens, cache, {
          logits: "none",
          onLayer(layer, hidden, routerLogits) {
            const h = readTensor(file, `p2.debug.hidden.${layer}`).data as Float32Array;
            assert.ok(maxAbsDiff(hidden, h) < 1e-4, `hidden after layer ${layer}`);
            if (routerLogits) {
              const r = readTensor(file, `p2.debug.router_logits.${layer}`).data as Float32Array;
              assert.ok(maxAbsDiff(routerLogits, r) < 1e-4, `router logits of layer ${layer}`);
            }
            checked++;
          },
        });
        assert.equal(checked, model.config.numLayers);
      }
    } finally {
      file.close();
    }
  });
}
