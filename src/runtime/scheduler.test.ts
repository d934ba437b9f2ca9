// Continuous batching: results identical to running alone, bounded queue, cancellation
// that frees the KV cache at once, and shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "../../test/support.js";
import { writeTinyModel } from "../../test/tiny.js";
import { openModel } from "./load.js";
import { generateAll, type GenerationEvent } from "./generator.js";
import { BatchScheduler, QueueFullError, SchedulerClosedError } from "./scheduler.js";

async function drain(it: AsyncIterable<GenerationEvent>): Promise<Extract<GenerationEvent, { type: "done" }>> {
  let done: Extract<GenerationEvent, { type: "done" }> | undefined;
  for await (const ev of it) if (ev.type === "done") done = ev;
  assert.ok(done, "stream ended without a done event");
  return done;
}

test("batched requests give exactly what each gives alone (same seed, same output)", async (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t), "scout", { dtype: "bf16" }));
  const requests = [
    { prompt: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], maxTokens: 9, sampling: { temperature: 0.8, seed: 1 } },
    { prompt: [11, 12], maxTokens: 14, sampling: { temperature: 0 } },
    { prompt: [20, 21, 22, 23, 24], maxTokens: 5, sampling: { temperature: 1, topK: 5, seed: 9 } },
    { prompt: [30, 31, 32], maxTokens: 11, sampling: { temperature: 0.5, seed: 3 } },
  ];
  const alone = await Promise.all(requests.map((r) => generateAll(model, r.prompt, r)));
  // maxBatchTokens 6 forces prompts to be fed in chunks interleaved with decoding.
  const scheduler = new BatchScheduler(model, { parallel: 3, maxQueue: 4, maxBatchTokens: 6 });
  const together = await Promise.all(requests.map((r) => drain(scheduler.submit(r))));
  together.forEach((d, i) => assert.deepEqual(d.tokens, alone[i]!.tokens, `request ${i}`));
  const generated = together.reduce((s, d) => s + d.tokens.length, 0);
  assert.ok(scheduler.stats.steps < generated, `batched: ${scheduler.stats.steps} steps for ${generated} tokens`);
  assert.equal(scheduler.stats.requestsCompleted, 4);
  assert.equal(scheduler.kvBytes, 0);
});

test("a full queue refuses; cancelling frees the sequence and its cache at once; close cancels stragglers", async (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  const scheduler = new BatchScheduler(model, { parallel: 1, maxQueue: 1 });
  const ac = new AbortController();
  const long = scheduler.submit({ prompt: [1, 2, 3], maxTokens: 10_000, signal: ac.signal });
  scheduler.submit({ prompt: [4, 5], maxTokens: 2 });
  assert.throws(() => scheduler.submit({ prompt: [6], maxTokens: 1 }), QueueFullError);

  let seen = 0;
  let finish: string | undefined;
  for await (const ev of long) {
    if (ev.type === "token" && ++seen === 5) {
      assert.ok(scheduler.kvBytes > 0);
      ac.abort();
    }
    if (ev.type === "done") finish = ev.finishReason;
  }
  assert.equal(finish, "abort");
  assert.ok(seen < 10, `stopped after ${seen} tokens`);
  await scheduler.whenIdle();
  assert.equal(scheduler.kvBytes, 0);
  assert.equal(scheduler.stats.requestsCancelled, 1);

  const straggler = drain(scheduler.submit({ prompt: [7, 8], maxTokens: 100_000 }));
  await scheduler.close(50);
  assert.equal((await straggler).finishReason, "abort");
  assert.throws(() => scheduler.submit({ prompt: [1], maxTokens: 1 }), SchedulerClosedError);
});

test("a request that fails mid-step ends with its error; the others finish", async (t) => {
  const { model } = openModel(writeTinyModel(tempDir(t)));
  const scheduler = new BatchScheduler(model, { parallel: 2, maxQueue: 2 });
  const impossible = { allows: () => false, accept: () => {}, complete: false };
  const bad = drain(scheduler.submit({ prompt: [1, 2, 3], maxTokens: 5, constraint: impossible }));
  const good = drain(scheduler.submit({ prompt: [4, 5, 6], maxTokens: 5, sampling: { temperature: 0 } }));
  await assert.rejects(bad, /no token satisfies the output constraint|every token is banned/);
  assert.equal((await good).tokens.length, 5);
  await scheduler.whenIdle();
  assert.equal(scheduler.kvBytes, 0);
});
