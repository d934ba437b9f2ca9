// Tools: the request → prompt rendering (HF Llama 4 template layout) and the reply → OpenAI
// tool_calls mapping. Random-weight models never emit a call, so parsing is tested here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeMessages } from "../chat/index.js";
import { mayBecomeToolCall, replyToToolCalls, toolsOffered, withToolPrompt, type FunctionTool } from "./tools.js";

const WEATHER: FunctionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } }, required: ["city"] },
  },
};
const TIME: FunctionTool = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } };

test("tool definitions go where the HF Llama 4 template puts them", () => {
  const messages = normalizeMessages([
    { role: "system", content: "  Be brief.  " },
    { role: "user", content: "  Weather in Paris?\n" },
    { role: "assistant", content: "ok" },
    { role: "user", content: "and Rome?" },
  ]);
  const out = withToolPrompt(messages, [WEATHER, TIME]);
  assert.equal(out[0]!.content, "Environment: ipython\nBe brief.", "system: environment line, trimmed text");
  const expectedUser =
    "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n" +
    'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n' +
    '{\n    "type": "function",\n    "function": {\n        "name": "get_weather",\n        "description": "Current weather in a city",\n' +
    '        "parameters": {\n            "type": "object",\n            "properties": {\n                "city": {\n                    "type": "string"\n                },\n' +
    '                "unit": {\n                    "type": "string",\n                    "enum": [\n                        "c",\n                        "f"\n                    ]\n                }\n            },\n' +
    '            "required": [\n                "city"\n            ]\n        }\n    }\n}\n\n' +
    '{\n    "type": "function",\n    "function": {\n        "name": "get_time",\n        "parameters": {\n            "type": "object",\n            "properties": {}\n        }\n    }\n}\n\n' +
    "Weather in Paris?";
  assert.equal(out[1]!.content, expectedUser, "first user message: instructions, tools as indent-4 JSON, trimmed question");
  assert.equal(out[3]!.content, "and Rome?", "later user messages untouched");
  assert.equal(messages[1]!.content, "  Weather in Paris?\n", "the input is not modified");
});

test("without a system message there is no environment line; parts get a leading text part", () => {
  const out = withToolPrompt(normalizeMessages([{ role: "user", content: [{ type: "text", text: " hi" }] }]), [TIME]);
  assert.equal(out.length, 1);
  const parts = out[0]!.content;
  assert.ok(Array.isArray(parts));
  assert.equal(parts.length, 2);
  assert.deepEqual(parts[1], { type: "text", text: "hi" });
  assert.ok(parts[0]!.type === "text" && parts[0].text.startsWith("Given the following functions"));
  assert.throws(() => withToolPrompt(normalizeMessages([{ role: "system", content: "x" }]), [TIME]), /user message/);
  assert.deepEqual(withToolPrompt(normalizeMessages([{ role: "system", content: " x " }]), []), normalizeMessages([{ role: "system", content: " x " }]));
});

test("tool_choice decides which tools are offered", () => {
  assert.deepEqual(toolsOffered([WEATHER, TIME], "auto"), [WEATHER, TIME]);
  assert.deepEqual(toolsOffered([WEATHER, TIME], "required"), [WEATHER, TIME]);
  assert.deepEqual(toolsOffered([WEATHER, TIME], "none"), []);
  assert.deepEqual(toolsOffered([WEATHER, TIME], { name: "get_time" }), [TIME]);
});

test("replies in the Llama 4 tool formats become OpenAI tool_calls", () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}', "get_weather", { city: "Paris", unit: "c" }],
    ['  {"type": "function", "name": "get_weather", "parameters": {"city": "Rome"}}', "get_weather", { city: "Rome" }],
    ['<function=get_weather>{"city": "Oslo"}</function>', "get_weather", { city: "Oslo" }],
    ['[get_weather(city="Lima", unit="f")]', "get_weather", { city: "Lima", unit: "f" }],
    ['{"name": "get_time"}', "get_time", {}],
  ];
  for (const [text, name, args] of cases) {
    const r = replyToToolCalls(text, "end_of_turn", [WEATHER, TIME]);
    assert.equal(r.content, null, text);
    assert.equal(r.toolCalls.length, 1, text);
    const call = r.toolCalls[0]!;
    assert.match(call.id, /^call_[0-9a-f]{32}$/);
    assert.equal(call.type, "function");
    assert.equal(call.function.name, name);
    assert.deepEqual(JSON.parse(call.function.arguments), args, text);
  }
});

test("plain text, undeclared tools and no offered tools stay content", () => {
  for (const text of ["It is sunny in Paris.", '{"name": "launch_rockets", "parameters": {}}', "brave_search.call(query=\"x\")", '{"city": "Paris"}', ""]) {
    const r = replyToToolCalls(text, "end_of_turn", [WEATHER]);
    assert.equal(r.content, text);
    assert.deepEqual(r.toolCalls, []);
  }
  assert.equal(replyToToolCalls('{"name": "get_weather", "parameters": {}}', "end_of_turn", []).content, '{"name": "get_weather", "parameters": {}}');
});

test("streamed text is held back only while it could still be a tool call", () => {
  for (const t of ["", "  ", ' {"na', "[get_", "<function=", "<|python_start|>"]) assert.equal(mayBecomeToolCall(t), true, t);
  for (const t of ["Hello", " The", "1 {"]) assert.equal(mayBecomeToolCall(t), false, t);
});
