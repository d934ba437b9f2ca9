// `llama4 serve` end to end: a real server process on loopback, driven with the official
// `openai` client (and plain fetch where the client cannot make the request), on the
// tiny-scout-fullvocab fixture with the real Llama 4 tokenizer. (The loading phase, too short
// to catch in a process, and scripted tool-call replies are tested in app.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import OpenAI from "openai";
import { request as httpRequest } from "node:http";
import { encodeDialog, normalizeMessages } from "../chat/index.js";
import { Tokenizer } from "../tokenizer/index.js";
import { repoRoot, requireShared } from "../../test/support.js";
import { withToolPrompt, type FunctionTool } from "./tools.js";

const MODEL = "fixtures/llama4/tiny-scout-fullvocab";
const TOKENIZER = "llama4/tokenizer.model";
const MODEL_ID = "tiny-scout-fullvocab";
const KEY = "test-key-123";

interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

/** Spawns `llama4 serve --port 0` and waits for the URL it prints once the weights are loaded. */
async function startServer(args: readonly string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "src/cli/main.ts"), "serve", "--port", "0", "--quiet", ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 30 s:\n${stderr}`)), 30_000);
    child.stderr!.on("data", (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${stderr}`));
    });
  });
  return { url, child, exited, stderr: () => stderr };
}

function client(url: string, apiKey = KEY): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
}

/** Runs a request that must fail; returns the client's error. */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${String(err)}`);
    return err;
  }
  assert.fail("the request succeeded");
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * POST announcing `body`'s length but sending the body only if the server has not answered
 * within a second: an oversized request is refused from its Content-Length alone, and the
 * 413 is read before the connection closes (fetch would report only the cut-off upload).
 */
function postRaw(base: string, body: string, key: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
    }, (res) => {
      clearTimeout(timer);
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => { text += d; });
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: text });
        req.destroy();
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.flushHeaders();
    const timer = setTimeout(() => req.end(body), 1000);
  });
}

const ask = (content: string) => [{ role: "user" as const, content }];

test("llama4 serve answers the official OpenAI client", async (t) => {
  const model = requireShared(t, MODEL);
  const tokPath = requireShared(t, TOKENIZER);
  if (!model || !tokPath) return;
  const server = await startServer(["--model", model, "--tokenizer", tokPath, "--api-key", KEY, "--parallel", "4", "--max-queue", "8", "--ctx", "512"]);
  t.after(() => server.child.kill("SIGKILL"));
  const { url } = server;
  const openai = client(url);

  await t.test("health and models", async () => {
    assert.equal((await fetch(`${url}/health`)).status, 200, "/health needs no key");
    const list = await openai.models.list();
    assert.deepEqual(list.data.map((m) => m.id), [MODEL_ID]);
    assert.equal((await openai.models.retrieve(MODEL_ID)).id, MODEL_ID);
    assert.equal((await apiError(openai.models.retrieve("gpt-4o"))).status, 404);
  });

  await t.test("chat, non-streaming and streaming, agree for the same seed", async () => {
    const req = { model: MODEL_ID, messages: ask("Hello there"), max_tokens: 6, temperature: 0.8, seed: 11 };
    const full = await openai.chat.completions.create(req);
    const choice = full.choices[0]!;
    assert.equal(full.object, "chat.completion");
    assert.equal(choice.message.role, "assistant");
    assert.equal(typeof choice.message.content, "string");
    assert.equal(choice.finish_reason, "length");
    assert.equal(full.usage?.completion_tokens, 6);
    assert.ok((full.usage?.prompt_tokens ?? 0) > 3);

    const stream = await openai.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usageSeen: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usageSeen = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      text += c.delta.content ?? "";
      finish = c.finish_reason ?? finish;
    }
    assert.equal(text, choice.message.content);
    assert.equal(finish, "length");
    assert.deepEqual(usageSeen, full.usage);
  });

  await t.test("same seed, same output: alone and under concurrent load", async () => {
    const req = { model: MODEL_ID, messages: ask("Tell me a story"), max_tokens: 8, temperature: 1, top_p: 0.95, seed: 1234 };
    const alone = (await openai.chat.completions.create(req)).choices[0]!.message.content;
    const others = [1, 2, 3].map((i) => openai.chat.completions.create({ model: MODEL_ID, messages: ask(`noise ${i}`), max_tokens: 10 + i, temperature: 1 }));
    const [loaded] = await Promise.all([openai.chat.completions.create(req), ...others]);
    assert.equal(loaded.choices[0]!.message.content, alone);
  });

  await t.test("stop strings end the reply before them, with finish_reason stop", async () => {
    const req = { model: MODEL_ID, messages: ask("Count"), max_tokens: 8, temperature: 0 };
    const text = (await openai.chat.completions.create(req)).choices[0]!.message.content!;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    const cut = await openai.chat.completions.create({ ...req, stop: [stop] });
    assert.equal(cut.choices[0]!.finish_reason, "stop");
    assert.equal(cut.choices[0]!.message.content, text.slice(0, text.indexOf(stop)));
  });

  await t.test("logprobs: one entry per generated token, with the alternatives asked for", async () => {
    const r = await openai.chat.completions.create({ model: MODEL_ID, messages: ask("hi"), max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
    const entries = r.choices[0]!.logprobs!.content!;
    assert.equal(entries.length, 4);
    for (const e of entries) {
      assert.equal(e.top_logprobs.length, 3);
      assert.ok(e.logprob <= 0);
      // Greedy: the chosen token is the most likely one.
      assert.equal(e.token, e.top_logprobs[0]!.token);
      assert.ok(Math.abs(e.logprob - e.top_logprobs[0]!.logprob) < 1e-9);
    }
    assert.equal(entries.map((e) => e.token).join(""), r.choices[0]!.message.content);
  });

  await t.test("json_object output parses as a JSON object", async () => {
    for (const temperature of [0, 1]) {
      const r = await openai.chat.completions.create({ model: MODEL_ID, messages: ask("Reply in JSON."), max_tokens: 12, temperature, seed: 5, response_format: { type: "json_object" } });
      const content = r.choices[0]!.message.content!;
      const parsed = JSON.parse(content) as unknown;
      assert.ok(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), content);
      assert.ok(["stop", "length"].includes(r.choices[0]!.finish_reason));
    }
  });

  await t.test("tools are rendered into the prompt the way tools.ts says", async () => {
    const tools: FunctionTool[] = [{ type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const messages = [{ role: "system" as const, content: "Be brief." }, ...ask("Weather in Paris?")];
    const r = await openai.chat.completions.create({ model: MODEL_ID, messages, tools: tools as OpenAI.ChatCompletionTool[], max_tokens: 3, temperature: 0 });
    const tokenizer = Tokenizer.load(tokPath);
    const expected = encodeDialog(withToolPrompt(normalizeMessages(messages), tools), { tokenizer }).tokens.length;
    assert.equal(r.usage!.prompt_tokens, expected);
    assert.ok(["stop", "length", "tool_calls"].includes(r.choices[0]!.finish_reason));
    const none = await openai.chat.completions.create({ model: MODEL_ID, messages, tools: tools as OpenAI.ChatCompletionTool[], tool_choice: "none", max_tokens: 1 });
    assert.equal(none.usage!.prompt_tokens, encodeDialog(normalizeMessages(messages), { tokenizer }).tokens.length);
  });

  await t.test("tool_choice required and a named tool force a call to an offered tool, streaming and not", async () => {
    // Random weights never write a tool call on their own: these pass only because the
    // reply is constrained.
    const tools: FunctionTool[] = [
      { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } }, required: ["city"] } } },
      { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } },
      { type: "function", function: { name: "get_news", parameters: { type: "object" } } },
    ];
    const declared = new Map([["get_weather", ["city", "unit"]], ["get_time", []], ["get_news", undefined]]);
    const messages = ask("What is the weather in Paris?");
    const choices: [OpenAI.ChatCompletionToolChoiceOption, string | undefined][] = [
      ["required", undefined],
      [{ type: "function", function: { name: "get_time" } }, "get_time"],
      [{ type: "function", function: { name: "get_weather" } }, "get_weather"],
    ];
    const checkCall = (call: { function: { name: string; arguments: string } }, want: string | undefined) => {
      assert.ok(declared.has(call.function.name), call.function.name);
      if (want !== undefined) assert.equal(call.function.name, want);
      const args = JSON.parse(call.function.arguments) as unknown;
      assert.ok(typeof args === "object" && args !== null && !Array.isArray(args), call.function.arguments);
      const keys = declared.get(call.function.name);
      if (keys) for (const k of Object.keys(args)) assert.ok(keys.includes(k), `undeclared parameter ${k}`);
    };
    for (const [tool_choice, want] of choices) {
      for (const temperature of [0, 1]) {
        const req = { model: MODEL_ID, messages, tools: tools as OpenAI.ChatCompletionTool[], tool_choice, max_tokens: 40, temperature, seed: 9 };
        const r = await openai.chat.completions.create(req);
        const choice = r.choices[0]!;
        const what = `${JSON.stringify(tool_choice)} T=${temperature}`;
        assert.equal(choice.message.content, null, what);
        assert.equal(choice.message.tool_calls?.length, 1, what);
        const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
        checkCall(call, want);
        // The budget may cut a long argument (then "length"); a fully forced call never is.
        assert.ok(choice.finish_reason === "tool_calls" || (choice.finish_reason === "length" && want !== "get_time"), `${what}: ${choice.finish_reason}`);
        if (want === "get_time") assert.equal(choice.finish_reason, "tool_calls");

        const stream = await openai.chat.completions.create({ ...req, stream: true });
        let content = "";
        let finish: string | null = null;
        const streamed: { name: string; arguments: string }[] = [];
        for await (const chunk of stream) {
          const c = chunk.choices[0];
          if (!c) continue;
          content += c.delta.content ?? "";
          for (const tc of c.delta.tool_calls ?? []) streamed[tc.index] = { name: tc.function?.name ?? "", arguments: tc.function?.arguments ?? "" };
          finish = c.finish_reason ?? finish;
        }
        assert.equal(content, "", what);
        assert.equal(finish, choice.finish_reason, what);
        assert.deepEqual(streamed, [{ name: call.function.name, arguments: call.function.arguments }], what);
      }
    }
  });

  await t.test("completions: text and token prompts, streaming, logprobs", async () => {
    const r = await openai.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 5, temperature: 0, logprobs: 2 });
    assert.equal(r.object, "text_completion");
    assert.equal(r.choices[0]!.finish_reason, "length");
    assert.equal(r.usage?.completion_tokens, 5);
    assert.equal(r.choices[0]!.logprobs!.tokens!.join(""), r.choices[0]!.text);
    assert.equal(r.choices[0]!.logprobs!.top_logprobs!.length, 5);
    const byIds = await openai.completions.create({ model: MODEL_ID, prompt: [200000, 1000, 2000], max_tokens: 3, temperature: 0 });
    assert.equal(byIds.usage?.prompt_tokens, 3);
    const stream = await openai.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 5, temperature: 0, stream: true });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.text ?? "";
    assert.equal(text, r.choices[0]!.text);
    const dflt = await openai.completions.create({ model: MODEL_ID, prompt: "x", temperature: 0 });
    assert.equal(dflt.usage?.completion_tokens, 16, "OpenAI's default max_tokens");
  });

  await t.test("errors: 401, 400s, 404s, 413, all in OpenAI's shape", async () => {
    assert.equal((await apiError(client(url, "wrong").models.list())).status, 401);
    const noKey = await fetch(`${url}/v1/models`);
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as { error: { code: string } }).error.code, "invalid_api_key");

    const post = (body: string, path = "/v1/chat/completions") =>
      fetch(`${url}${path}`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body });
    const badJson = await post("{not json");
    assert.equal(badJson.status, 400);
    const body = (await badJson.json()) as { error: { message: string; type: string; param: unknown; code: unknown } };
    assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
    assert.equal(body.error.type, "invalid_request_error");

    const e400 = async (p: Promise<unknown>, param: string | null, code?: string) => {
      const e = await apiError(p);
      assert.equal(e.status, 400, e.message);
      assert.equal(e.param, param, e.message);
      if (code) assert.equal(e.code, code);
    };
    await e400(openai.chat.completions.create({ model: MODEL_ID, messages: ask("x"), n: 2 }), "n");
    await e400(openai.chat.completions.create({ model: MODEL_ID, messages: ask("x"), temperature: 3 }), "temperature");
    await e400(openai.chat.completions.create({ model: MODEL_ID, messages: [] }), "messages");
    await e400(openai.chat.completions.create({ model: MODEL_ID, messages: ask("x"), max_tokens: 600 }), "max_tokens", "context_length_exceeded");
    await e400(openai.completions.create({ model: MODEL_ID, prompt: "word ".repeat(600) }), "messages", "context_length_exceeded");
    const image = (u: string): OpenAI.ChatCompletionMessageParam[] => [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: u } }] }];
    await e400(openai.chat.completions.create({ model: MODEL_ID, messages: image("data:image/png;base64,iVBORw0KGgo=") }), "messages[0].content[1]", "vision_not_supported");
    await e400(openai.chat.completions.create({ model: MODEL_ID, messages: image("https://example.com/cat.png") }), "messages[0].content[1]", "remote_images_disabled");

    const e404 = await apiError(openai.chat.completions.create({ model: "gpt-4o", messages: ask("x") }));
    assert.equal(e404.status, 404);
    assert.equal(e404.code, "model_not_found");
    const route = await fetch(`${url}/v1/nope`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(route.status, 404);

    const huge = await postRaw(url, JSON.stringify({ messages: ask("a".repeat(21 * 1024 * 1024)) }), KEY);
    assert.equal(huge.status, 413);
    assert.equal((JSON.parse(huge.body) as { error: { code: string } }).error.code, "request_too_large");
  });

  await t.test("a client that disconnects mid-stream frees its sequence and KV cache", async () => {
    const ac = new AbortController();
    const stream = await openai.chat.completions.create({ model: MODEL_ID, messages: ask("go on forever"), max_tokens: 400, stream: true }, { signal: ac.signal });
    const cancelledBefore = await metric(url, "llama4_cancelled_requests_total");
    let chunks = 0;
    // The client ends the iteration quietly when its signal aborts.
    for await (const _chunk of stream) {
      if (++chunks === 3) {
        assert.equal(await metric(url, "llama4_active_sequences"), 1);
        assert.ok((await metric(url, "llama4_kv_cache_bytes")) > 0);
        ac.abort();
      }
    }
    assert.ok(chunks < 50, `stopped reading after ${chunks} chunks`);
    await waitFor("the sequence and its cache to be dropped", async () =>
      (await metric(url, "llama4_active_sequences")) === 0 && (await metric(url, "llama4_kv_cache_bytes")) === 0);
    assert.equal(await metric(url, "llama4_cancelled_requests_total"), cancelledBefore + 1);
  });

  await t.test("/metrics counts requests by route and status", async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.match(text, /^llama4_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} \d+$/m);
    assert.match(text, /^llama4_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="400"\} \d+$/m);
    assert.match(text, /^llama4_http_requests_total\{method="GET",route="\/v1\/models",status="401"\} \d+$/m);
    assert.ok((await metric(url, "llama4_prompt_tokens_total")) > 0);
    assert.ok((await metric(url, "llama4_tokens_per_second")) >= 0);
    assert.equal(await metric(url, "llama4_queue_depth"), 0);
    assert.equal(await metric(url, "llama4_model_loaded"), 1);
  });

  await t.test("SIGTERM lets an in-flight request finish within the grace period, then exits 0", async () => {
    const inFlight = await openStream(openai, 12);
    server.child.kill("SIGTERM");
    const done = await inFlight.rest;
    assert.equal(done.finish, "length", "completed, not cancelled");
    assert.equal(await server.exited, 0, server.stderr());
  });
});

/** Opens a chat stream and resolves once content arrives; `rest` reads the remainder. */
async function openStream(openai: OpenAI, maxTokens: number): Promise<{ rest: Promise<{ text: string; finish: string | null }> }> {
  const stream = await openai.chat.completions.create({ model: MODEL_ID, messages: ask("long"), max_tokens: maxTokens, temperature: 0, stream: true });
  const it = stream[Symbol.asyncIterator]();
  let text = "";
  let finish: string | null = null;
  while (text === "") {
    const r = await it.next();
    assert.ok(!r.done, "the stream ended before any content");
    text += r.value.choices[0]?.delta.content ?? "";
  }
  const rest = (async () => {
    for (let r = await it.next(); !r.done; r = await it.next()) {
      text += r.value.choices[0]?.delta.content ?? "";
      finish = r.value.choices[0]?.finish_reason ?? finish;
    }
    return { text, finish };
  })();
  rest.catch(() => {}); // the caller inspects it
  return { rest };
}

test("a full queue is 429; SIGTERM drains (503 for new work), cancels what outlives the grace period, exits 0", async (t) => {
  const model = requireShared(t, MODEL);
  const tokPath = requireShared(t, TOKENIZER);
  if (!model || !tokPath) return;
  const server = await startServer(["--model", model, "--tokenizer", tokPath, "--parallel", "1", "--max-queue", "0", "--shutdown-grace-ms", "1000"]);
  t.after(() => server.child.kill("SIGKILL"));
  const openai = client(server.url, "unused");

  const long = await openStream(openai, 3000);
  const busy = await apiError(openai.chat.completions.create({ model: MODEL_ID, messages: ask("one more"), max_tokens: 2 }));
  assert.equal(busy.status, 429);
  assert.equal(busy.code, "queue_full");

  server.child.kill("SIGTERM");
  await waitFor("draining", async () => (await fetch(`${server.url}/health`)).status === 503, 5000);
  const refused = await apiError(openai.chat.completions.create({ model: MODEL_ID, messages: ask("too late"), max_tokens: 2 }));
  assert.equal(refused.status, 503);
  assert.equal(refused.code, "shutting_down");

  const longError = await long.rest.then(() => undefined, (err: unknown) => err);
  assert.ok(longError instanceof OpenAI.APIError, `the long stream ends with an error event, got ${String(longError)}`);
  assert.match(longError.message, /shutting down/);
  assert.equal(await server.exited, 0, server.stderr());
  assert.match(server.stderr(), /SIGTERM: draining/);
});

test("images: a data: URL on a vision model is seen (same first token as the reference prompt)", async (t) => {
  const model = requireShared(t, "fixtures/llama4/tiny-vision");
  const tokPath = requireShared(t, TOKENIZER);
  if (!model || !tokPath) return;
  const server = await startServer(["--model", model, "--tokenizer", tokPath]);
  t.after(async () => {
    server.child.kill("SIGTERM");
    await server.exited;
  });
  const { readFileSync } = await import("node:fs");
  const url = `data:image/png;base64,${readFileSync(join(model, "image1.png")).toString("base64")}`;
  const openai = client(server.url);
  const r = await openai.chat.completions.create({
    model: "tiny-vision", temperature: 0, max_tokens: 1, logprobs: true,
    messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }, { type: "text", text: "What is it?" }] }],
  });
  // The golden prompt0 is exactly this conversation: 31 tokens, image1 as a 1×2 grid + global tile.
  assert.equal(r.usage!.prompt_tokens, 31);
  const { SafetensorsFile, readTensor } = await import("../formats/safetensors.js");
  const { Tokenizer } = await import("../tokenizer/index.js");
  const { argmax } = await import("../kernels/ref/ops.js");
  const g = SafetensorsFile.open(join(model, "golden.safetensors"));
  const logits = readTensor(g, "prompt0.logits");
  g.close();
  const [T, V] = logits.shape as [number, number];
  const want = Tokenizer.load(tokPath).decode([argmax(logits.data as Float32Array, (T - 1) * V, V)]);
  assert.equal(r.choices[0]!.logprobs!.content![0]!.token, want);
  const bad = await apiError(openai.chat.completions.create({
    model: "tiny-vision", max_tokens: 1,
    messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }],
  }));
  assert.equal(bad.status, 400);
});
