// Forced tool calls: the top-level key restriction of the JSON scanner, the call constraint
// (prefix with one of the names, parameters object, closing brace) under a token budget, the
// candidate tokens it hands the generator, and the masked draw in DecodeState.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../runtime/rng.js";
import { DecodeState } from "../runtime/generator.js";
import { candidateTokens, JsonPrefixScanner, TokenBytesCache, type TokenByteSource } from "./json-constraint.js";
import { declaredKeys, ToolCallConstraint } from "./tool-constraint.js";
import { replyToToolCalls, type FunctionTool } from "./tools.js";

const enc = new TextEncoder();

/** Tokens are the given strings; the 256 single bytes come first, as in byte-level BPE. */
function vocab(pieces: readonly string[], special: readonly string[] = []): TokenByteSource & { ids: Map<string, number> } {
  const table: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  for (const p of [...pieces, ...special]) table.push(enc.encode(p));
  const ids = new Map([...pieces, ...special].map((p, i) => [p, 256 + i]));
  const specialIds = new Set(special.map((p) => ids.get(p)!));
  return { ids, vocabSize: table.length, decodeBytes: (list) => table[list[0]!]!, isSpecial: (id) => specialIds.has(id) };
}

function scan(text: string, keys?: string[]): JsonPrefixScanner | undefined {
  const s = new JsonPrefixScanner();
  if (keys) s.restrictKeys(keys);
  for (const b of enc.encode(text)) if (!s.push(b)) return undefined;
  return s;
}

const WEATHER: FunctionTool = {
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string" }, units: { type: "string" } }, required: ["city"] } },
};
const TIME: FunctionTool = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } };
const ANY: FunctionTool = { type: "function", function: { name: "get_weather_any", parameters: { type: "object", additionalProperties: true, properties: { q: {} } } } };

test("declared keys: a plain object schema restricts keys; extra properties allowed or no schema do not", () => {
  assert.deepEqual(declaredKeys(WEATHER), ["city", "unit", "units"]);
  assert.deepEqual(declaredKeys(TIME), []);
  assert.equal(declaredKeys(ANY), undefined);
  assert.equal(declaredKeys({ type: "function", function: { name: "f" } }), undefined);
  assert.equal(declaredKeys({ type: "function", function: { name: "f", parameters: { type: "object" } } }), undefined);
  assert.deepEqual(declaredKeys({ type: "function", function: { name: "f", parameters: { properties: { a: {} }, additionalProperties: false } } }), ["a"]);
});

test("restricted keys: only declared top-level keys, each once; nested objects are free", () => {
  const keys = ["city", "unit", "units"];
  for (const ok of ['{"city": "Paris"}', '{"unit": "c", "units": 1, "city": {"any": [1, {"thing": 2}]}}', "{}", '{ "city" : "x" }']) {
    assert.ok(scan(ok, keys)?.done, ok);
  }
  const refused: [string, string][] = [
    ['{"town": 1}', '{"t'],
    ['{"cityx": 1}', '{"cityx'],
    ['{"cit": 1}', '{"cit"'],
    ['{"city": 1, "city": 2}', '{"city": 1, "c'],
    ['{"\\u0063ity": 1}', '{"\\'],
  ];
  for (const [text, breaksAt] of refused) {
    assert.ok(scan(breaksAt.slice(0, -1), keys), `${text}: ${breaksAt.slice(0, -1)} is a prefix`);
    assert.equal(scan(breaksAt, keys), undefined, `${text}: breaks at ${breaksAt}`);
  }
  // Every key used: no comma; no keys at all: only {}.
  assert.equal(scan('{"a": 1,', ["a"]), undefined);
  assert.ok(scan('{"a": 1}', ["a"])?.done);
  assert.equal(scan('{"', []), undefined);
  assert.ok(scan("{}", [])?.done);
  // Following the closing bytes spells the shortest completion, one distance unit per byte.
  for (const [prefix, completion] of [["{\"", 'city":0}'], ['{"u', 'nit":0}'], ['{"unit', '":0}'], ['{"unit": 1, "', 'city":0}'], ['{"unit": 1,', '"city":0}']]) {
    const s = scan(prefix!, keys)!;
    assert.ok(s, prefix);
    assert.equal(s.distance(), completion!.length, prefix);
    let text = prefix!;
    for (let d = s.distance(); d > 0; d--) {
      const b = s.nextClosingByte()!;
      text += String.fromCharCode(b);
      assert.ok(s.push(b), text);
      assert.equal(s.distance(), d - 1, text);
    }
    assert.equal(text, prefix! + completion!);
  }
});

test("the call constraint spells {\"name\": <offered tool>, \"parameters\": {…}} and completes", () => {
  const v = vocab(['{"name": "', "get_", "weather", "time", '", "parameters": ', '{"city": "Paris"}', "}", '{"town": 1}'], ["<|eot|>"]);
  const cache = new TokenBytesCache(v);
  const id = (p: string) => v.ids.get(p)!;
  const c = new ToolCallConstraint(cache, [WEATHER, TIME]);
  assert.equal(c.allows(id("<|eot|>")), false, "no stopping before the call is written");
  assert.equal(c.allows(id("get_")), false);
  for (const p of ['{"name": "', "get_", "weather", '", "parameters": ']) {
    assert.equal(c.allows(id("time")), p === "weather", `time is allowed only where weather is, not before ${p}`);
    assert.ok(c.allows(id(p)), p);
    c.accept(id(p));
  }
  assert.equal(c.allows(id('{"town": 1}')), false, "undeclared parameter");
  c.accept(id('{"city": "Paris"}'));
  assert.equal(c.complete, false);
  c.accept(id("}"));
  assert.equal(c.complete, true);
  assert.equal(c.budgetForcedClose, false);
  // Only the named tool (the app passes just that one for a named choice).
  const named = new ToolCallConstraint(cache, [TIME]);
  for (const p of ['{"name": "', "get_"]) named.accept(id(p));
  assert.equal(named.allows(id("weather")), false);
  assert.equal(named.allows(id("time")), true);
});

test("with a budget, random allowed choices always give a parsable call of an offered tool in time", () => {
  const pieces = ['{"name": "', '{"', "name", '":', ' "', "get", "_", "weather", "time", "weather_any", '",', " \"parameters", '": ', " {", "{}", "}}", '"}}',
    "city", "unit", "units", "q", "town", '":', '"', ", ", "Paris", " Rome", "[", "]", "{", "}", ",", "true", "-1", ".5", "null", "é", " ", "\n"];
  const v = vocab(pieces, ["<|eot|>"]);
  const cache = new TokenBytesCache(v);
  const tools = [WEATHER, TIME, ANY];
  const rng = new Rng(7);
  const all = [...Array.from({ length: 128 }, (_, b) => b), ...v.ids.values()];
  for (let trial = 0; trial < 200; trial++) {
    const budget = 40 + (trial % 30);
    const c = new ToolCallConstraint(cache, tools, { maxTokens: budget });
    const out: number[] = [];
    while (!c.complete) {
      assert.ok(out.length < budget, `trial ${trial}: over budget`);
      const allowed = all.filter((t) => c.allows(t));
      assert.ok(allowed.length > 0, `trial ${trial}: stuck`);
      // The candidates handed to the generator include every allowed token.
      const cands = new Set(c.candidates() ?? all);
      for (const t of allowed) assert.ok(cands.has(t), `trial ${trial}: candidate ${t} missing`);
      // Prefer multi-byte pieces, as a model would.
      const multi = allowed.filter((t) => t >= 256);
      const pool = multi.length > 0 && rng.next() < 0.8 ? multi : allowed;
      const t = pool[Math.floor(rng.next() * pool.length)]!;
      c.accept(t);
      out.push(t);
    }
    const text = new TextDecoder().decode(Uint8Array.from(out.flatMap((t) => [...cache.get(t)!])));
    const reply = replyToToolCalls(text, "end_of_turn", tools);
    assert.equal(reply.toolCalls.length, 1, text);
    const call = reply.toolCalls[0]!;
    const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
    const keys = declaredKeys(tools.find((t) => t.function.name === call.function.name)!);
    if (keys) for (const k of Object.keys(args)) assert.ok(keys.includes(k), `${text}: ${k}`);
  }
});

test("a budget too small for any call is not enforced (the reply is cut), and a tight one is reported", () => {
  const v = vocab(['{"name": "get_time", "parameters": {}']);
  const cache = new TokenBytesCache(v);
  const tiny = new ToolCallConstraint(cache, [TIME], { maxTokens: 3 });
  assert.ok(tiny.allows(0x7b), "one byte at a time is still allowed");
  const whole = new ToolCallConstraint(cache, [TIME], { maxTokens: 3 });
  whole.accept(v.ids.get('{"name": "get_time", "parameters": {}')!);
  assert.equal(whole.complete, false);
  whole.accept(0x7d);
  assert.equal(whole.complete, true);
  assert.equal(whole.budgetForcedClose, false);
  // Parameters must close with exactly the tokens left: cut short.
  const prefix = '{"name": "get_weather", "parameters": {"city": "';
  const tight = new ToolCallConstraint(cache, [WEATHER], { maxTokens: prefix.length + 3 });
  for (const b of enc.encode(prefix)) tight.accept(b);
  assert.equal(tight.budgetForcedClose, false);
  assert.equal(tight.allows(0x78), false, "no room left to write more of the value");
  for (const b of enc.encode('"}}')) {
    assert.ok(tight.allows(b));
    tight.accept(b);
  }
  assert.equal(tight.complete, true);
  assert.equal(tight.budgetForcedClose, true);
});

test("candidates split big first-byte groups by second byte and stay a superset", () => {
  // 5000 tokens that start with a space, as " word" tokens do in the real vocabulary.
  const rng = new Rng(3);
  const words = Array.from({ length: 5000 }, (_, i) => " " + String.fromCharCode(0x21 + Math.floor(rng.next() * 90)) + i.toString(36));
  const v = vocab([...new Set([...words, ' "', " {", " }", "  ", ' "city'])]);
  const cache = new TokenBytesCache(v);
  assert.ok(cache.isSplit(0x20));
  for (const text of ["{", '{"city": ', '{"city": 1', '{"name": "get_weather", "parameters": {']) {
    const s = new JsonPrefixScanner();
    for (const b of enc.encode(text)) s.push(b);
    const fork = new JsonPrefixScanner();
    const cands = candidateTokens(cache, { fork: () => (fork.copyFrom(s), fork), feed: (f, b) => f.push(b) });
    assert.ok(cands, text);
    const set = new Set(cands);
    for (let t = 0; t < v.vocabSize; t++) {
      const bytes = cache.get(t)!;
      const f = new JsonPrefixScanner();
      f.copyFrom(s);
      if ([...bytes].every((b) => f.push(b))) assert.ok(set.has(t), `${text}: token ${JSON.stringify(new TextDecoder().decode(bytes))}`);
    }
    assert.ok(cands.length < v.vocabSize / 2, `${text}: ${cands.length} candidates`);
  }
});

test("DecodeState draws a constrained token from the masked logits in one go", () => {
  const v = vocab(['{"name": "', "get_", "time", "weather", '", "parameters": ', "{}", "}", "hello"]);
  const cache = new TokenBytesCache(v);
  for (const temperature of [0, 0.8]) {
    const c = new ToolCallConstraint(cache, [TIME, WEATHER]);
    const state = new DecodeState([1], 100, { maxTokens: 100, constraint: c, sampling: { temperature, seed: 1 } });
    // The model loves "hello" and the single bytes; the constraint must still win, fast.
    const logits = new Float32Array(v.vocabSize).fill(0);
    logits[v.ids.get("hello")!] = 50;
    for (let b = 0; b < 256; b++) logits[b] = 5;
    logits[v.ids.get("weather")!] = 3;
    let text = "";
    while (!state.finished) {
      for (const ev of state.step(logits)) if (ev.type === "token") text += new TextDecoder().decode(cache.get(ev.token));
    }
    assert.ok(c.complete);
    assert.equal(state.finished!.finishReason, "stop");
    const reply = replyToToolCalls(text, "end_of_turn", [TIME, WEATHER]);
    assert.equal(reply.toolCalls.length, 1, text);
  }
});
