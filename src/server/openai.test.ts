// Request validation: every bad field is a 400 naming the field; good requests become typed
// parameters with OpenAI's defaults.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, completionLogprobs, parseChatRequest, parseCompletionRequest } from "./openai.js";

const V = 1000;
const user = [{ role: "user", content: "hi" }];

function rejects(fn: () => unknown, param: string | null, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.param, param, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test("a minimal chat request gets OpenAI's defaults", () => {
  const p = parseChatRequest({ model: "m", messages: user }, V);
  assert.equal(p.model, "m");
  assert.equal(p.stream, false);
  assert.equal(p.includeUsage, false);
  assert.equal(p.maxTokens, undefined);
  assert.deepEqual(p.sampling, { temperature: 1, topP: 1 });
  assert.deepEqual(p.stop, []);
  assert.equal(p.topLogprobs, undefined);
  assert.equal(p.jsonMode, false);
  assert.equal(p.toolChoice, "auto");
  assert.equal(p.messages[0]!.role, "user");
});

test("chat fields are read and converted", () => {
  const p = parseChatRequest({
    messages: [{ role: "developer", content: "sys" }, ...user],
    stream: true, stream_options: { include_usage: true },
    max_tokens: 7, max_completion_tokens: 9, temperature: 0, top_p: 0.5, seed: 42, stop: "END",
    presence_penalty: 0.5, frequency_penalty: -1, logit_bias: { "5": 3, "7": -100 },
    logprobs: true, top_logprobs: 3, response_format: { type: "json_object" }, n: 1,
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }], tool_choice: { type: "function", function: { name: "f" } },
  }, V);
  assert.equal(p.messages[0]!.role, "system", "developer is read as system");
  assert.equal(p.stream, true);
  assert.equal(p.includeUsage, true);
  assert.equal(p.maxTokens, 9, "max_completion_tokens wins");
  assert.deepEqual(p.stop, ["END"]);
  assert.equal(p.topLogprobs, 3);
  assert.equal(p.jsonMode, true);
  assert.deepEqual(p.toolChoice, { name: "f" });
  assert.equal(p.sampling.temperature, 0);
  assert.equal(p.sampling.topP, 0.5);
  assert.equal(p.sampling.seed, 42);
  assert.equal(p.sampling.presencePenalty, 0.5);
  assert.equal(p.sampling.frequencyPenalty, -1);
  assert.deepEqual([...(p.sampling.logitBias as Map<number, number>)], [[5, 3], [7, -Infinity]]);
  assert.equal(parseChatRequest({ messages: user, logprobs: true }, V).topLogprobs, 0);
  assert.equal(parseChatRequest({ messages: user, stream_options: { include_usage: true } }, V).includeUsage, false, "usage chunk only when streaming");
});

test("bad chat requests are 400s that name the field", () => {
  rejects(() => parseChatRequest([], V), null, /JSON object/);
  rejects(() => parseChatRequest({}, V), "messages");
  rejects(() => parseChatRequest({ messages: [] }, V), "messages");
  rejects(() => parseChatRequest({ messages: [{ role: "robot", content: "x" }] }, V), "messages[0].role");
  rejects(() => parseChatRequest({ messages: [{ role: "user", content: [{ type: "audio" }] }] }, V), "messages[0].content[0].type");
  rejects(() => parseChatRequest({ messages: [{ role: "user" }] }, V), "messages[0].content");
  rejects(() => parseChatRequest({ messages: user, n: 2 }, V), "n");
  rejects(() => parseChatRequest({ messages: user, temperature: 2.5 }, V), "temperature");
  rejects(() => parseChatRequest({ messages: user, temperature: "hot" }, V), "temperature");
  rejects(() => parseChatRequest({ messages: user, top_p: 0 }, V), "top_p");
  rejects(() => parseChatRequest({ messages: user, max_tokens: 0 }, V), "max_tokens");
  rejects(() => parseChatRequest({ messages: user, max_tokens: 1.5 }, V), "max_tokens");
  rejects(() => parseChatRequest({ messages: user, seed: 0.5 }, V), "seed");
  rejects(() => parseChatRequest({ messages: user, stop: [1] }, V), "stop");
  rejects(() => parseChatRequest({ messages: user, stream: "yes" }, V), "stream");
  rejects(() => parseChatRequest({ messages: user, presence_penalty: 3 }, V), "presence_penalty");
  rejects(() => parseChatRequest({ messages: user, logit_bias: { "abc": 1 } }, V), "logit_bias");
  rejects(() => parseChatRequest({ messages: user, logit_bias: { "1000": 1 } }, V), "logit_bias", /0\.\.999/);
  rejects(() => parseChatRequest({ messages: user, logit_bias: { "1": 101 } }, V), "logit_bias");
  rejects(() => parseChatRequest({ messages: user, top_logprobs: 2 }, V), "top_logprobs", /logprobs: true/);
  rejects(() => parseChatRequest({ messages: user, logprobs: true, top_logprobs: 21 }, V), "top_logprobs");
  rejects(() => parseChatRequest({ messages: user, response_format: { type: "json_schema" } }, V), "response_format.type");
  rejects(() => parseChatRequest({ messages: user, tools: {} }, V), "tools");
  rejects(() => parseChatRequest({ messages: user, tools: [{ type: "function", function: { name: "bad name" } }] }, V), "tools[0].function.name");
  rejects(() => parseChatRequest({ messages: user, tool_choice: "required" }, V), "tool_choice");
  rejects(() => parseChatRequest({ messages: user, tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } }, V), "tool_choice");
  rejects(() => parseChatRequest({ messages: [{ role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: "{oops" } }] }] }, V), "messages[0].tool_calls[0].function.arguments");
});

test("completion requests: text or token ids, one prompt, defaults left to the server", () => {
  const p = parseCompletionRequest({ prompt: "Once", logprobs: 2 }, V);
  assert.equal(p.prompt, "Once");
  assert.equal(p.maxTokens, undefined);
  assert.equal(p.topLogprobs, 2);
  assert.deepEqual(parseCompletionRequest({ prompt: [1, 2, 3] }, V).prompt, [1, 2, 3]);
  assert.equal(parseCompletionRequest({ prompt: ["one"] }, V).prompt, "one");
  rejects(() => parseCompletionRequest({ prompt: ["a", "b"] }, V), "prompt", /one prompt/);
  rejects(() => parseCompletionRequest({ prompt: [1, 1000] }, V), "prompt");
  rejects(() => parseCompletionRequest({ prompt: 5 }, V), "prompt");
  rejects(() => parseCompletionRequest({ prompt: "x", echo: true }, V), "echo");
  rejects(() => parseCompletionRequest({ prompt: "x", best_of: 3 }, V), "best_of");
});

test("completion logprobs list tokens, their logprobs, the alternatives and text offsets", () => {
  const text = (id: number) => ["a", "bc", "d"][id]!;
  const lp = completionLogprobs(
    [{ chosen: { token: 1, logprob: -0.5 }, top: [{ token: 0, logprob: -0.1 }] }, { chosen: { token: 2, logprob: -2 }, top: [] }],
    { text, bytes: (id) => [...new TextEncoder().encode(text(id))] },
    4,
  );
  assert.deepEqual(lp, { tokens: ["bc", "d"], token_logprobs: [-0.5, -2], top_logprobs: [{ a: -0.1 }, {}], text_offset: [4, 6] });
});
