// `llama4 eval --image`: a tiny-vision golden prompt from the PNG file to the logits, as a
// user would run it, plus the errors for a wrong placeholder count and a bad image.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { requireShared, tempDir } from "../../test/support.js";
import { runCli } from "../../test/cli.js";
import { maxAbsDiff } from "../../test/golden.js";
import { SafetensorsFile, readTensor } from "../formats/safetensors.js";
import { argmax } from "../kernels/ref/ops.js";

interface GoldenPrompt {
  input_ids: number[];
  images_in_order: number[];
  argmax_per_position: number[];
}

test("eval --image reproduces the tiny-vision prompt logits from the PNG", (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-vision");
  if (!dir) return;
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as { prompts: GoldenPrompt[] };
  const p = golden.prompts[0]!;
  const images = p.images_in_order.flatMap((k) => ["--image", join(dir, `image${k}.png`)]);
  const ref = SafetensorsFile.open(join(dir, "golden.safetensors"));
  const want = readTensor(ref, "prompt0.logits");
  ref.close();
  const V = want.shape[1]!;
  const out = tempDir(t);
  // Whole prompt in one block, and blocks of 5 (image rows split across forward calls).
  for (const extra of [[], ["--block-size", "5"]]) {
    const path = join(out, `logits${extra.length}.safetensors`);
    const r = runCli(["eval", "--model", dir, "--tokens", p.input_ids.join(","), ...images, "--out", path, ...extra]);
    assert.equal(r.status, 0, r.stderr);
    const f = SafetensorsFile.open(path);
    const logits = readTensor(f, "logits");
    f.close();
    assert.deepEqual(logits.shape, [p.input_ids.length, V]);
    const got = logits.data as Float32Array;
    const err = maxAbsDiff(got, want.data as Float32Array);
    assert.ok(err <= 1e-3, `max abs logit error ${err} (${extra.join(" ") || "one block"})`);
    assert.deepEqual(p.input_ids.map((_, i) => argmax(got, i * V, V)), p.argmax_per_position);
  }
});

test("eval --image: wrong placeholder count and unreadable images are one-line errors", (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-vision");
  if (!dir) return;
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as { prompts: GoldenPrompt[] };
  const tokens = golden.prompts[0]!.input_ids.join(",");
  const out = join(tempDir(t), "x.safetensors");

  // image0 is one tile (4 rows) but the prompt spells image1's 3-tile layout (12 <|patch|>).
  const wrong = runCli(["eval", "--model", dir, "--tokens", tokens, "--image", join(dir, "image0.png"), "--out", out]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /--tokens has 12 <\|patch\|> tokens \(id 200092\) but the images need 4 \(.*image0\.png: 1×1 tiles → 4\)/);
  assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);

  const bad = join(tempDir(t), "broken.png");
  const missing = runCli(["eval", "--model", dir, "--tokens", tokens, "--image", bad, "--out", out]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /broken\.png: cannot read/);
});
