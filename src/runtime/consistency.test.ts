// Prefill, decode and mixed block sizes must agree at every position, across chunk
// boundaries, on synthetic Scout- and Maverick-shaped models (no fixtures needed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/support.js";
import { writeTinyModel } from "../../test/tiny.js";
import { maxAbsDiff } from "../../test/golden.js";
import { openModel } from "./load.js";
import { evalLogits, generateGreedy } from "./generate.js";
import { SequenceKVCache } from "./kvcache.js";
import { argmax } from "../kernels/ref/ops.js";
import type { Llama4TextModel } from "../model/llama4.js";

const TOKENS = [3, 17, 42, 8, 91, 5, 60, 33, 2, 77, 14, 29, 50, 66, 1, 88, 23, 9, 71]; // 19 tokens, chunk 4

function assertSameAtEveryPosition(model: Llama4TextModel, label: string): void {
  const full = evalLogits(model, TOKENS);
  for (const opts of [{ incremental: true }, { blockSize: 3 }, { blockSize: 4 }, { blockSize: 7 }]) {
    const other = evalLogits(model, TOKENS, opts);
    assert.ok(maxAbsDiff(full, other) < 1e-5, `${label}: ${JSON.stringify(opts)} differs by ${maxAbsDiff(full, other)}`);
  }
}

/** Greedy decoding the way the goldens were made: a full forward over the prefix each step. */
function greedyByFullPasses(model: Llama4TextModel, prompt: number[], steps: number): number[] {
  const seq = [...prompt];
  const V = model.config.vocabSize;
  for (let i = 0; i < steps; i++) {
    const logits = evalLogits(model, seq, { blockSize: seq.length });
    seq.push(argmax(logits, (seq.length - 1) * V, V));
  }
  return seq.slice(prompt.length);
}

for (const preset of ["scout", "maverick"] as const) {
  for (const dtype of ["f32", "bf16"] as const) {
    test(`${preset}-shaped ${dtype}: prefill == decode == mixed blocks; cached greedy == full-pass greedy`, (t) => {
      const { model } = openModel(writeTinyModel(tempDir(t), preset, { dtype }));
      assertSameAtEveryPosition(model, `${preset} ${dtype}`);
      assert.deepEqual(generateGreedy(model, TOKENS.slice(0, 6), { maxTokens: 12 }), greedyByFullPasses(model, TOKENS.slice(0, 6), 12));
    });
  }
}

test("top-2 routing and a checkpoint without chunking stay consistent too", (t) => {
  for (const edit of [
    (c: Record<string, unknown>) => { c.num_experts_per_tok = 2; },
    (c: Record<string, unknown>) => { c.attention_chunk_size = null; },
  ]) {
    const dir = writeTinyModel(tempDir(t));
    const path = join(dir, "config.json");
    const root = JSON.parse(readFileSync(path, "utf8")) as { text_config: Record<string, unknown> };
    edit(root.text_config);
    writeFileSync(path, JSON.stringify(root));
    const { model } = openModel(dir);
    assertSameAtEveryPosition(model, JSON.stringify(root.text_config.num_experts_per_tok));
  }
});

test("chunked layers keep at most one chunk of keys; global layers keep every position", (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  const cache = new SequenceKVCache(model.config, { maxBlock: 1 });
  for (const tok of TOKENS) model.forward([tok], cache, { logits: "none" });
  const C = model.config.attentionChunkSize!;
  model.kinds.forEach((kind, i) => {
    const l = cache.layer(i);
    if (kind.chunked) {
      assert.ok(l.capacity <= C, `layer ${i} allocated ${l.capacity} rows`);
      assert.equal(l.start, Math.floor((TOKENS.length - 1) / C) * C);
    } else {
      assert.equal(l.length, TOKENS.length);
      assert.equal(l.start, 0);
    }
  });
  assert.equal(cache.position, TOKENS.length);
});

test("out-of-range token ids are refused before any work", (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  assert.throws(() => evalLogits(model, [1, model.config.vocabSize]), /token 1 has id 97, outside the vocabulary 0\.\.96/);
  assert.throws(() => evalLogits(model, [-1]), /outside the vocabulary/);
});

test("a batched forward over several sequences equals running each alone", (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t), "maverick", { dtype: "bf16" }));
  // Three sequences at different positions: one fresh, two continuing across chunk edges.
  const prefixes = [[], TOKENS.slice(0, 3), TOKENS.slice(0, 9)];
  const steps = [TOKENS.slice(3, 8), [TOKENS[3]!], TOKENS.slice(9, 12)];
  const solo = prefixes.map((prefix, i) => {
    const cache = new SequenceKVCache(model.config);
    if (prefix.length) model.forward(prefix, cache, { logits: "none" });
    return model.forward(steps[i]!, cache, { logits: "all" });
  });
  const caches = prefixes.map((prefix) => {
    const cache = new SequenceKVCache(model.config);
    if (prefix.length) model.forward(prefix, cache, { logits: "none" });
    return cache;
  });
  const batched = model.forwardBatch(steps.map((tokens, i) => ({ tokens, cache: caches[i]!, logits: "all" as const })));
  batched.forEach((l, i) => assert.ok(maxAbsDiff(l, solo[i]!) < 1e-5, `sequence ${i}`));
  caches.forEach((c, i) => assert.equal(c.position, prefixes[i]!.length + steps[i]!.length));
});
