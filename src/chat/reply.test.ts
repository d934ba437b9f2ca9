import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { requireShared } from "../../test/support.js";
import { Tokenizer } from "../tokenizer/index.js";
import type { StopReason } from "./messages.js";
import type { JsonObject } from "./python-values.js";
import {
  extractBuiltinToolCall,
  extractCustomToolCall,
  parseAssistantReply,
  parseAssistantTokens,
  type ParsedAssistantReply,
} from "./reply.js";

interface ExpectedReply {
  role: "assistant";
  content: string;
  stopReason: StopReason;
  toolCalls: { toolName: string; toolNameIsBuiltin: boolean; arguments: JsonObject; argumentsJson: string }[];
}

interface GoldenDecode {
  name: string;
  content: string;
  tokens: number[];
  stopReason: StopReason;
  expected: ExpectedReply;
}

interface GoldenReferenceTest {
  name: string;
  content: string;
  stopReason: StopReason;
  mockedCustomToolCall: [string, JsonObject] | null;
  mockedBuiltinToolCall: [string, string] | null;
  expected: ExpectedReply;
}

interface ChatGolden {
  decodeAssistant: GoldenDecode[];
  referenceTestChatFormat: GoldenReferenceTest[];
}

const GOLDEN = "fixtures/llama4/chat/golden.json";

/** The reply without the random call ids, which the goldens leave out. */
function withoutCallIds(reply: ParsedAssistantReply): ExpectedReply {
  for (const call of reply.toolCalls) assert.match(call.callId, /^[0-9a-f-]{36}$/);
  return { ...reply, toolCalls: reply.toolCalls.map(({ callId: _callId, ...rest }) => rest) };
}

test("golden decodeAssistant: reply text parsed like the reference", (t) => {
  const p = requireShared(t, GOLDEN);
  if (!p) return;
  const golden = JSON.parse(readFileSync(p, "utf8")) as ChatGolden;
  assert.equal(golden.decodeAssistant.length, 18);
  for (const c of golden.decodeAssistant) {
    assert.deepEqual(withoutCallIds(parseAssistantReply(c.content, c.stopReason)), c.expected, c.name);
  }
});

test("golden decodeAssistant: the same from token ids", (t) => {
  const p = requireShared(t, GOLDEN);
  if (!p) return;
  const tokenizerPath = requireShared(t, "llama4/tokenizer.model");
  if (!tokenizerPath) return;
  const tokenizer = Tokenizer.load(tokenizerPath);
  const golden = JSON.parse(readFileSync(p, "utf8")) as ChatGolden;
  for (const c of golden.decodeAssistant) {
    // The golden ids are the reply encoded with special tokens enabled.
    assert.deepEqual(tokenizer.encode(c.content, { allowSpecial: true }), c.tokens, `${c.name}: ids`);
    assert.deepEqual(withoutCallIds(parseAssistantTokens(c.tokens, c.stopReason, tokenizer)), c.expected, c.name);
  }
});

test("golden referenceTestChatFormat: the reference unit tests, detectors mocked", (t) => {
  const p = requireShared(t, GOLDEN);
  if (!p) return;
  const golden = JSON.parse(readFileSync(p, "utf8")) as ChatGolden;
  assert.equal(golden.referenceTestChatFormat.length, 5);
  for (const c of golden.referenceTestChatFormat) {
    const reply = parseAssistantReply(c.content, c.stopReason, {
      extractCustomToolCall: () => c.mockedCustomToolCall ?? undefined,
      extractBuiltinToolCall: () => c.mockedBuiltinToolCall ?? undefined,
    });
    assert.deepEqual(withoutCallIds(reply), c.expected, c.name);
  }
});

// ---- Fixture-free ----

test("plain replies: spaces and header stripped, stop reason from the terminator", () => {
  assert.deepEqual(parseAssistantReply("  hi  ", "out_of_tokens"), {
    role: "assistant",
    content: "hi",
    stopReason: "out_of_tokens",
    toolCalls: [],
  });
  assert.equal(parseAssistantReply("hi<|eom|>", "end_of_turn").stopReason, "end_of_message");
  assert.equal(parseAssistantReply("hi<|eot|>", "out_of_tokens").stopReason, "end_of_turn");
  // Only ' ' is stripped: a newline stays.
  assert.equal(parseAssistantReply("\nhi\n", "end_of_turn").content, "\nhi\n");
  assert.equal(parseAssistantReply("<|header_start|>assistant<|header_end|>\n\nok", "end_of_turn").content, "ok");
});

test("tool call detection order and argument spelling", () => {
  const call = (text: string): [string, boolean, string] | undefined => {
    const reply = parseAssistantReply(text, "end_of_turn");
    const c = reply.toolCalls[0];
    if (!c) return undefined;
    assert.equal(reply.content, "");
    return [c.toolName, c.toolNameIsBuiltin, c.argumentsJson];
  };
  // Function tag anywhere in the text; JSON kept as Python prints it (floats, order, escapes).
  assert.deepEqual(call('Sure: <function=f>{"b": 1.0, "a": "é"}</function>'), ["f", false, '{"b": 1.0, "a": "\\u00e9"}']);
  // Nested objects stop at the first "}" and fail to parse: no tool call.
  assert.equal(call('<function=f>{"a": {"b": 1}}</function>'), undefined);
  // Whole-text JSON with a name; "parameters" missing reads as none.
  assert.deepEqual(call('{"name": "g"}'), ["g", false, "{}"]);
  assert.deepEqual(call('{"type": "function", "name": "g", "parameters": {"x": [1, 2]}}'), ["g", false, '{"x": [1, 2]}']);
  assert.equal(call('{"type": "function"}'), undefined);
  // Python list: first call only, literals converted.
  assert.deepEqual(call("[a(x=1.5, y=None), b(z=2)]"), ["a", false, '{"x": 1.5, "y": null}']);
  assert.equal(call("[a(1)]"), undefined);
  // A custom call naming a built-in: its first argument becomes the query.
  assert.deepEqual(call("[wolfram_alpha(q='2+2', other=1)]"), ["wolfram_alpha", true, '{"query": "2+2"}']);
  // NAME.call(query=...) anywhere.
  assert.deepEqual(call('I will look. photogen.call(query="a cat")'), ["photogen", true, '{"query": "a cat"}']);
  // Code after <|python_start|>, with every <|python_end|> removed.
  assert.deepEqual(call("<|python_start|>x = 1<|python_end|>\nprint(x)<|python_end|><|eom|>"), [
    "code_interpreter",
    true,
    '{"code": "x = 1\\nprint(x)"}',
  ]);
  // Without <|python_start|> plain code is just text.
  assert.equal(call("print(1)"), undefined);
});

test("detectors on their own", () => {
  assert.deepEqual(extractBuiltinToolCall('x brave_search.call(query="q") y'), ["brave_search", "q"]);
  assert.equal(extractBuiltinToolCall('xbrave_search .call(query="q")'), undefined);
  assert.deepEqual(extractBuiltinToolCall('über_tool.call(query="q")'), ["über_tool", "q"]);
  assert.equal(extractCustomToolCall("hello"), undefined);
  const tag = extractCustomToolCall("<function=f>{'k': 'v'}</function>");
  assert.ok(tag);
  assert.equal(tag[0], "f");
  assert.deepEqual([...(tag[1] as Map<string, unknown>)], [["k", "v"]]);
});
