// The app through app.inject with a scripted scheduler: replies that ARE tool calls (which a
// random-weight model never produces) come back as OpenAI tool_calls, streaming and not;
// plus the loading and draining phases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { requireShared } from "../../test/support.js";
import type { GenerationEvent } from "../runtime/generator.js";
import { openModel } from "../runtime/load.js";
import type { SchedulerStats, SequenceRequest } from "../runtime/scheduler.js";
import { Tokenizer } from "../tokenizer/index.js";
import { buildApp, ServerState, type RequestScheduler, type ServingModel } from "./app.js";

/** Answers every request with the same text, token by token, ending on <|eot|>. */
class ScriptedScheduler implements RequestScheduler {
  readonly stats: SchedulerStats = { active: 0, queued: 0, promptTokens: 0, generatedTokens: 0, steps: 0, requestsCompleted: 0, requestsCancelled: 0 };
  readonly kvBytes = 0;
  readonly requests: SequenceRequest[] = [];

  constructor(private readonly tokenizer: Tokenizer, private readonly reply: string) {}

  submit(request: SequenceRequest): AsyncIterable<GenerationEvent> {
    this.requests.push(request);
    const ids = this.tokenizer.encode(this.reply);
    const eot = this.tokenizer.tokenId("<|eot|>");
    const tokenizer = this.tokenizer;
    const reply = this.reply;
    return (async function* () {
      for (const id of ids) yield { type: "token" as const, token: id, text: tokenizer.decode([id]) };
      yield { type: "token" as const, token: eot, text: "" };
      yield {
        type: "done" as const, finishReason: "stop" as const, stoppedBy: eot, tokens: [...ids, eot], text: reply,
        promptTokens: request.prompt.length, promptSeconds: 0, decodeSeconds: 0,
      };
    })();
  }

  async close(): Promise<void> {}
}

const TOOLS = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];

interface ChatResponse {
  choices: { message: { content: string | null; tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[] }; finish_reason: string }[];
}

interface Chunk {
  choices: { delta: { content?: string; tool_calls?: { index: number; id: string; function: { name: string; arguments: string } }[] }; finish_reason: string | null }[];
}

function sseChunks(body: string): Chunk[] {
  const events = body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
  assert.equal(events.at(-1), "[DONE]");
  return events.slice(0, -1).map((e) => JSON.parse(e) as Chunk);
}

async function scriptedApp(t: import("node:test").TestContext, reply: string) {
  const modelDir = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  const tokPath = requireShared(t, "llama4/tokenizer.model");
  if (!modelDir || !tokPath) return undefined;
  const tokenizer = Tokenizer.load(tokPath);
  const scheduler = new ScriptedScheduler(tokenizer, reply);
  const { model } = openModel(modelDir);
  const served: ServingModel = {
    id: "scripted", model, tokenizer, stopTokens: tokenizer.eosIds, suppress: undefined, scheduler, contextLength: 4096, created: 0, vision: undefined,
  };
  const state = new ServerState();
  state.ready(served);
  const app = buildApp({ state });
  t.after(() => app.close());
  return { app, scheduler };
}

test("a reply that is a tool call becomes tool_calls with finish_reason tool_calls", async (t) => {
  const s = await scriptedApp(t, '{"name": "get_weather", "parameters": {"city": "Paris"}}');
  if (!s) return;
  const res = await s.app.inject({ method: "POST", url: "/v1/chat/completions", payload: { messages: [{ role: "user", content: "Weather?" }], tools: TOOLS } });
  assert.equal(res.statusCode, 200);
  const body = res.json() as ChatResponse;
  const choice = body.choices[0]!;
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls!.length, 1);
  assert.equal(choice.message.tool_calls![0]!.type, "function");
  assert.equal(choice.message.tool_calls![0]!.function.name, "get_weather");
  assert.deepEqual(JSON.parse(choice.message.tool_calls![0]!.function.arguments), { city: "Paris" });

  // Streaming: the call's JSON is never streamed as text; one tool_calls delta, then the finish.
  const stream = await s.app.inject({ method: "POST", url: "/v1/chat/completions", payload: { messages: [{ role: "user", content: "Weather?" }], tools: TOOLS, stream: true } });
  assert.match(String(stream.headers["content-type"]), /^text\/event-stream/);
  const chunks = sseChunks(stream.body);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  assert.equal(text, "");
  const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.index, 0);
  assert.equal(calls[0]!.function.name, "get_weather");
  assert.deepEqual(JSON.parse(calls[0]!.function.arguments), { city: "Paris" });
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, "tool_calls");

  // Without tools in the request the same text is just content.
  const plain = (await s.app.inject({ method: "POST", url: "/v1/chat/completions", payload: { messages: [{ role: "user", content: "Weather?" }] } })).json() as ChatResponse;
  assert.equal(plain.choices[0]!.finish_reason, "stop");
  assert.equal(plain.choices[0]!.message.content, '{"name": "get_weather", "parameters": {"city": "Paris"}}');
});

test("with tools offered, ordinary text still streams as content", async (t) => {
  const s = await scriptedApp(t, "It is sunny in Paris today.");
  if (!s) return;
  const stream = await s.app.inject({ method: "POST", url: "/v1/chat/completions", payload: { messages: [{ role: "user", content: "Weather?" }], tools: TOOLS, stream: true } });
  const chunks = sseChunks(stream.body);
  const pieces = chunks.map((c) => c.choices[0]?.delta.content ?? "").filter((p) => p !== "");
  assert.ok(pieces.length > 1, "streamed in pieces, not held to the end");
  assert.equal(pieces.join(""), "It is sunny in Paris today.");
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, "stop");
  // The request carried the tool list in its prompt.
  const withTools = s.scheduler.requests[0]!.prompt.length;
  await s.app.inject({ method: "POST", url: "/v1/chat/completions", payload: { messages: [{ role: "user", content: "Weather?" }] } });
  assert.ok(withTools > s.scheduler.requests[1]!.prompt.length + 20);
});

test("/health and the API say 503 while the model loads and while draining", async () => {
  const state = new ServerState();
  const app = buildApp({ state });
  const health = await app.inject({ method: "GET", url: "/health" });
  assert.equal(health.statusCode, 503);
  assert.deepEqual(health.json(), { status: "loading" });
  const chat = await app.inject({ method: "POST", url: "/v1/chat/completions", payload: { messages: [{ role: "user", content: "hi" }] } });
  assert.equal(chat.statusCode, 503);
  assert.equal((chat.json() as { error: { code: string } }).error.code, "model_loading");
  assert.match((await app.inject({ method: "GET", url: "/metrics" })).body, /^llama4_model_loaded 0$/m);
  state.drain();
  assert.deepEqual((await app.inject({ method: "GET", url: "/health" })).json(), { status: "shutting_down" });
  const late = await app.inject({ method: "GET", url: "/v1/models" });
  assert.equal(late.statusCode, 503);
  assert.equal((late.json() as { error: { code: string } }).error.code, "shutting_down");
  await app.close();
});

test("the API key guards /v1 only, compared in full", async () => {
  const app = buildApp({ state: new ServerState(), apiKey: "secret" });
  for (const authorization of [undefined, "Bearer secre", "Bearer secret2", "Basic secret", "secret"]) {
    const r = await app.inject({ method: "GET", url: "/v1/models", ...(authorization && { headers: { authorization } }) });
    assert.equal(r.statusCode, 401, String(authorization));
    assert.equal(r.headers["www-authenticate"], 'Bearer realm="llama4"');
  }
  const ok = await app.inject({ method: "GET", url: "/v1/models", headers: { authorization: "Bearer secret" } });
  assert.equal(ok.statusCode, 503, "past the key check (still loading)");
  assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 503, "health needs no key");
  await app.close();
});
