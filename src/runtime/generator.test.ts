// The streaming loop: stop tokens, stop strings split across tokens (never streamed),
// token limits, aborts, seeded sampling, and greedy == the plain greedy loop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "../../test/support.js";
import { writeTinyModel } from "../../test/tiny.js";
import { openModel } from "./load.js";
import { generate, generateAll, type GenerationEvent } from "./generator.js";
import { generateGreedy } from "./generate.js";

/** Every token id decodes to a letter, so stop strings can be placed exactly. */
const letters = {
  createStreamDecoder: () => ({ push: (id: number) => String.fromCharCode(97 + (id % 26)), flush: () => "" }),
};

async function collect(it: AsyncGenerator<GenerationEvent>): Promise<GenerationEvent[]> {
  const out: GenerationEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

test("greedy streaming equals the plain greedy loop; text is the concatenation of the pieces", async (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  const prompt = [5, 6, 7, 8, 9];
  const want = generateGreedy(model, prompt, { maxTokens: 10 });
  const events = await collect(generate(model, prompt, { maxTokens: 10, sampling: { temperature: 0 }, tokenizer: letters }));
  const last = events.at(-1)!;
  assert.equal(last.type, "done");
  if (last.type !== "done") return;
  assert.deepEqual(last.tokens, want);
  assert.equal(last.finishReason, "length");
  assert.equal(last.text, want.map((id) => String.fromCharCode(97 + (id % 26))).join(""));
  assert.equal(events.filter((e) => e.type === "token").map((e) => (e.type === "token" ? e.text : "")).join(""), last.text);
});

test("stop tokens and stop strings end generation; the stop string is never streamed", async (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  const prompt = [5, 6, 7, 8, 9];
  const free = await generateAll(model, prompt, { maxTokens: 12, sampling: { temperature: 0 }, tokenizer: letters });
  // Stop at the 4th generated token id.
  const stopToken = free.tokens[3]!;
  const byToken = await generateAll(model, prompt, { maxTokens: 12, sampling: { temperature: 0 }, stopTokens: [stopToken], tokenizer: letters });
  assert.equal(byToken.finishReason, "stop");
  assert.equal(byToken.stoppedBy, stopToken);
  assert.deepEqual(byToken.tokens, free.tokens.slice(0, free.tokens.indexOf(stopToken) + 1));

  // A two-letter stop string made of generated letters 5 and 6 spans two tokens.
  const stop = free.text.slice(5, 7);
  const events = await collect(generate(model, prompt, { maxTokens: 12, sampling: { temperature: 0 }, stopStrings: [stop], tokenizer: letters }));
  const done = events.at(-1)!;
  assert.ok(done.type === "done" && done.finishReason === "stop" && done.stoppedBy === stop);
  const streamed = events.map((e) => (e.type === "token" ? e.text : "")).join("");
  assert.equal(streamed, free.text.slice(0, free.text.indexOf(stop)));
  assert.ok(!streamed.includes(stop));
});

test("same seed, same sample; abort stops between steps", async (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  const run = (seed: number) => generateAll(model, [1, 2, 3], { maxTokens: 8, sampling: { temperature: 1, seed } });
  assert.deepEqual((await run(4)).tokens, (await run(4)).tokens);
  const ac = new AbortController();
  let n = 0;
  let finish: string | undefined;
  for await (const e of generate(model, [1, 2, 3], { maxTokens: 50, signal: ac.signal, sampling: { temperature: 0 } })) {
    if (e.type === "token" && ++n === 3) ac.abort();
    if (e.type === "done") finish = e.finishReason;
  }
  assert.equal(n, 3);
  assert.equal(finish, "abort");
  await assert.rejects(generateAll(model, [], { maxTokens: 1 }), /prompt is empty/);
});
