// The same GGUF in llama.cpp (node-llama-cpp 3.21.1) and in llama4.ts: next-token
// distributions agree at every prompt position (top-1 identical, log-probabilities of the
// top tokens within 5e-3). The model is a synthetic Scout with llama.cpp's fixed settings
// (chunk 8192, temperature floor 8192) so both engines compute the same function.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot, requireShared, tempDir } from "../../test/support.js";
import { synthCheckpoint } from "../synth/synth.js";
import { convertHfToGguf } from "./gguf-llama4.js";
import { openModel } from "../runtime/load.js";
import { evalLogits } from "../runtime/generate.js";

test("llama.cpp and llama4.ts agree on an f32 GGUF", { timeout: 120_000 }, (t) => {
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!tok) return;
  const hf = join(tempDir(t), "m");
  synthCheckpoint({
    preset: "scout", dtype: "f32", seed: 5, out: hf,
    overrides: { hidden: 64, layers: 4, experts: 4, heads: 4, kvHeads: 2, headDim: 16, expertHidden: 64, vocab: 202048 },
  });
  const gguf = join(tempDir(t), "m.gguf");
  convertHfToGguf(hf, gguf, { type: "f32", tokenizer: tok });
  const tokens = [200000, 19873, 24, 3817, 13, 1556, 373, 536, 43, 200008, 9012, 17, 88, 4021, 300, 77];
  const K = 5;
  const r = spawnSync(process.execPath, [join(repoRoot, "test/llamacpp-probe.mjs"), gguf, tokens.join(","), String(K)], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const theirs = JSON.parse(r.stdout) as [number, number][][];
  const { model } = openModel(gguf);
  const V = model.config.vocabSize;
  const logits = evalLogits(model, tokens);
  let worst = 0;
  tokens.forEach((_, pos) => {
    const row = logits.subarray(pos * V, (pos + 1) * V);
    let max = -Infinity;
    for (const x of row) if (x > max) max = x;
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    const top = theirs[pos]!;
    let best = 0;
    for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
    assert.equal(best, top[0]![0], `top-1 at position ${pos}`);
    for (const [id, p] of top) {
      const diff = Math.abs(row[id]! - lse - Math.log(p));
      worst = Math.max(worst, diff);
      assert.ok(diff < 5e-3, `position ${pos}, token ${id}: log-prob ${row[id]! - lse} vs llama.cpp ${Math.log(p)}`);
    }
  });
  t.diagnostic(`largest log-probability difference over ${tokens.length} positions × top ${K}: ${worst.toExponential(2)}`);
});
