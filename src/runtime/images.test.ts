// Images in conversations, end to end on the tiny-vision fixture: the chat prompt with an
// image part gives Meta's token ids and input embeddings, and `llama4 run --image` replies
// from them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { requireShared } from "../../test/support.js";
import { runCli } from "../../test/cli.js";
import { maxAbsDiff } from "../../test/golden.js";
import { SafetensorsFile, readTensor } from "../formats/safetensors.js";
import { Tokenizer } from "../tokenizer/index.js";
import { openModel } from "./load.js";
import { encodeMultimodalDialog, openVision, ImageInputError } from "./images.js";
import { decodeImage } from "../image/decode.js";
import { argmax } from "../kernels/ref/ops.js";

test("a user message with an image part gives the reference prompt ids and merged embeddings", async (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-vision");
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!dir || !tok) return;
  const { model } = openModel(dir);
  const vision = openVision(dir, model.kernels);
  assert.ok(vision, "tiny-vision has a vision tower");
  const tokenizer = Tokenizer.load(tok);
  const golden = SafetensorsFile.open(join(dir, "golden.safetensors"));
  t.after(() => golden.close());
  const messages = [{ role: "user" as const, content: [{ type: "image" as const, path: join(dir, "image1.png") }, { type: "text" as const, text: "What is it?" }] }];
  const p = await encodeMultimodalDialog(model, vision, messages, { tokenizer });
  assert.deepEqual(p.tokens, Array.from(readTensor(golden, "prompt0.input_ids").data as BigInt64Array, Number));
  assert.ok(maxAbsDiff(p.embeddings!, readTensor(golden, "prompt0.inputs_embeds").data as Float32Array) < 1e-5);

  // The same image as a data: URL (OpenAI style) gives the same embeddings.
  const url = `data:image/png;base64,${readFileSync(join(dir, "image1.png")).toString("base64")}`;
  const q = await encodeMultimodalDialog(model, vision, [{ role: "user", content: [{ type: "image_url", image_url: { url } }, { type: "text", text: "What is it?" }] }], { tokenizer });
  assert.deepEqual(q.embeddings, p.embeddings);

  // Decoded pixels (library callers who already hold an image) give the same embeddings too.
  const rgb = await decodeImage(join(dir, "image1.png"));
  const r = await encodeMultimodalDialog(model, vision, [{ role: "user", content: [{ type: "image", pixels: rgb }, { type: "text", text: "What is it?" }] }], { tokenizer });
  assert.deepEqual(r.embeddings, p.embeddings);
  await assert.rejects(encodeMultimodalDialog(model, vision, [{ role: "user", content: [{ type: "image", pixels: { width: 2, height: 2, data: new Uint8Array(5) } }] }], { tokenizer }), /image data has 5 bytes, expected 2×2×3/);

  await assert.rejects(encodeMultimodalDialog(model, vision, [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png" } }] }], { tokenizer }), ImageInputError);
  await assert.rejects(encodeMultimodalDialog(model, vision, [{ role: "user", content: [{ type: "image", path: join(dir, "image0.png") }, { type: "image", path: join(dir, "image2.png") }] }], { tokenizer, maxImages: 1 }), /too many images: 2, the limit is 1/);
  await assert.rejects(encodeMultimodalDialog(model, undefined, messages, { tokenizer }), /no vision weights/);
});

test("llama4 run --image replies from the image (greedy first token = the golden argmax)", (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-vision");
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!dir || !tok) return;
  const golden = SafetensorsFile.open(join(dir, "golden.safetensors"));
  const logits = readTensor(golden, "prompt0.logits");
  golden.close();
  const V = logits.shape[1]!;
  const T = logits.shape[0]!;
  const want = argmax(logits.data as Float32Array, (T - 1) * V, V);
  const r = runCli(["run", "--model", dir, "--tokenizer", tok, "--image", join(dir, "image1.png"), "--temperature", "0", "--max-tokens", "1", "--json", "What is it?"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { tokens: number[]; usage: { prompt_tokens: number } };
  assert.equal(j.usage.prompt_tokens, T);
  assert.equal(j.tokens[0], want);
  const noVision = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  if (!noVision) return;
  const bad = runCli(["run", "--model", noVision, "--tokenizer", tok, "--image", join(dir, "image1.png"), "hi"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no vision weights/);
});
