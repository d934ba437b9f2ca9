import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test, type TestContext } from "node:test";
import { requireShared } from "../../test/support.js";
import { Tokenizer } from "../tokenizer/index.js";
import { encodeContent, encodeDialog } from "./format.js";
import { ChatFormatError, type ChatMessage, type ContentPart, type MessageContent, type OpenAIToolCall } from "./messages.js";
import { PyFloat } from "./python-values.js";
import type { ToolPromptFormat } from "./tool-calls.js";
import { ToyByteTokenizer } from "./toy-tokenizer.js";

interface GoldenDialog {
  name: string;
  toolPromptFormat: ToolPromptFormat;
  messages: ChatMessage[];
  ids: number[];
  text: string;
  imageTensorShapes: number[][];
}

interface GoldenContent {
  name: string;
  content: MessageContent;
  ids: number[];
  text: string;
}

interface ChatGolden {
  dialogs: GoldenDialog[];
  encodeContent: GoldenContent[];
}

const GOLDEN = "fixtures/llama4/chat/golden.json";
const TOKENIZER = "llama4/tokenizer.model";

let cachedTokenizer: Tokenizer | undefined;

/** Golden data and the real tokenizer, or undefined (test skipped) when they are missing. */
function goldenSetup(t: TestContext): { golden: ChatGolden; tokenizer: Tokenizer } | undefined {
  const goldenPath = requireShared(t, GOLDEN);
  if (!goldenPath) return undefined;
  const tokenizerPath = requireShared(t, TOKENIZER);
  if (!tokenizerPath) return undefined;
  cachedTokenizer ??= Tokenizer.load(tokenizerPath);
  return { golden: JSON.parse(readFileSync(goldenPath, "utf8")) as ChatGolden, tokenizer: cachedTokenizer };
}

test("golden dialogs: ids, text and image tensors match the reference ChatFormat", (t) => {
  const setup = goldenSetup(t);
  if (!setup) return;
  const { golden, tokenizer } = setup;
  assert.equal(golden.dialogs.length, 19);
  for (const d of golden.dialogs) {
    const prompt = encodeDialog(d.messages, { tokenizer, toolPromptFormat: d.toolPromptFormat });
    assert.deepEqual(prompt.tokens, d.ids, `${d.name}: ids`);
    assert.equal(prompt.text, d.text, `${d.name}: text`);
    assert.equal(tokenizer.decode(prompt.tokens), d.text, `${d.name}: decode(ids)`);
    assert.deepEqual(
      prompt.images.map((img) => [img.chunks, 3, 336, 336]),
      d.imageTensorShapes,
      `${d.name}: image tensor shapes`,
    );
  }
});

test("golden encodeContent: BOS then the content, no headers", (t) => {
  const setup = goldenSetup(t);
  if (!setup) return;
  const { golden, tokenizer } = setup;
  assert.equal(golden.encodeContent.length, 3);
  for (const c of golden.encodeContent) {
    const encoded = encodeContent(c.content, { tokenizer });
    assert.deepEqual(encoded.tokens, c.ids, `${c.name}: ids`);
    assert.equal(encoded.text, c.text, `${c.name}: text`);
  }
});

/** The same message written OpenAI-style: tool_calls with JSON-text arguments, image_url parts. */
function toOpenAIStyle(message: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: message.role };
  const content = message.content;
  out.content = Array.isArray(content)
    ? content.map((part: ContentPart) =>
        part.type === "image"
          ? { type: "image_url", image_url: { url: "data:image/png;base64,", width: part.width, height: part.height } }
          : part,
      )
    : content;
  if (message.context !== undefined) out.context = message.context;
  if (message.stopReason !== undefined) out.stop_reason = message.stopReason;
  if (message.toolCalls !== undefined) {
    out.content = message.content === "" ? null : out.content;
    out.tool_calls = message.toolCalls.map(
      (call, i): OpenAIToolCall => ({
        id: call.callId ?? `call_${i}`,
        type: "function",
        function: { name: call.toolName, arguments: JSON.stringify(call.arguments) },
      }),
    );
  }
  return out;
}

test("golden dialogs written OpenAI-style encode to the same ids", (t) => {
  const setup = goldenSetup(t);
  if (!setup) return;
  const { golden, tokenizer } = setup;
  for (const d of golden.dialogs) {
    const openai = d.messages.map(toOpenAIStyle) as unknown as ChatMessage[];
    const prompt = encodeDialog(openai, { tokenizer, toolPromptFormat: d.toolPromptFormat });
    assert.deepEqual(prompt.tokens, d.ids, d.name);
  }
});

// ---- Fixture-free tests: a byte-level toy tokenizer, checked on text (and its own ids). ----

const toy = new ToyByteTokenizer();
const HEADER = (role: string): string => `<|header_start|>${role}<|header_end|>\n\n`;

function render(messages: ChatMessage[], toolPromptFormat: ToolPromptFormat = "json"): string {
  const prompt = encodeDialog(messages, { tokenizer: toy, toolPromptFormat });
  // The text is always what the ids decode to.
  assert.equal(toy.decode(prompt.tokens), prompt.text);
  return prompt.text;
}

test("layout: BOS once, headers, generation prompt", () => {
  assert.equal(render([]), `<|begin_of_text|>${HEADER("assistant")}`);
  assert.equal(
    render([
      { role: "system", content: "S" },
      { role: "user", content: "U" },
    ]),
    `<|begin_of_text|>${HEADER("system")}S<|eot|>${HEADER("user")}U<|eot|>${HEADER("assistant")}`,
  );
  const noPrompt = encodeDialog([{ role: "user", content: "U" }], { tokenizer: toy, addGenerationPrompt: false });
  assert.equal(noPrompt.text, `<|begin_of_text|>${HEADER("user")}U<|eot|>`);
  assert.equal(noPrompt.tokens.filter((id) => id === 200000).length, 1);
});

test("terminators: eom after tool calls, end_of_message and tool results; eot otherwise", () => {
  const cases: [ChatMessage, string][] = [
    [{ role: "assistant", content: "a" }, "<|eot|>"],
    [{ role: "assistant", content: "a", stopReason: "end_of_turn" }, "<|eot|>"],
    [{ role: "assistant", content: "a", stopReason: "out_of_tokens" }, "<|eot|>"],
    [{ role: "assistant", content: "a", stopReason: "end_of_message" }, "<|eom|>"],
    [{ role: "assistant", content: "", stopReason: "end_of_turn", toolCalls: [{ toolName: "f", arguments: {} }] }, "<|eom|>"],
    [{ role: "tool", content: "r" }, "<|eom|>"],
    [{ role: "ipython", content: "r" }, "<|eom|>"],
    [{ role: "user", content: "u" }, "<|eot|>"],
    [{ role: "system", content: "s", stopReason: "end_of_message" }, "<|eot|>"],
  ];
  for (const [message, terminator] of cases) {
    const text = encodeDialog([message], { tokenizer: toy, addGenerationPrompt: false }).text;
    assert.ok(text.endsWith(terminator), `${JSON.stringify(message)} should end with ${terminator}: ${text}`);
  }
  assert.ok(render([{ role: "tool", content: "r" }]).includes(`${HEADER("ipython")}r<|eom|>`));
});

test("user text is not parsed for special tokens, nor trimmed", () => {
  const prompt = encodeDialog([{ role: "user", content: " <|eot|> \n" }], { tokenizer: toy });
  assert.ok(prompt.text.includes(`${HEADER("user")} <|eot|> \n<|eot|>`));
  // Only the real terminator is the special id; the typed one is bytes.
  assert.equal(prompt.tokens.filter((id) => id === 200008).length, 1);
});

test("context is appended to user messages only", () => {
  assert.equal(
    render([{ role: "user", content: "Q", context: "C" }]),
    `<|begin_of_text|>${HEADER("user")}Q\n\nC<|eot|>${HEADER("assistant")}`,
  );
  assert.equal(
    render([{ role: "system", content: "S", context: "C" }]),
    `<|begin_of_text|>${HEADER("system")}S<|eot|>${HEADER("assistant")}`,
  );
});

test("tool calls in each format, and built-in tools whatever the format", () => {
  const args = { city: "Zürich", days: 3, metric: true, x: null, l: [1, 2.5], d: { k: "v" } };
  const message: ChatMessage = { role: "assistant", content: "", toolCalls: [{ toolName: "get_weather", arguments: args }] };
  const body = (format: ToolPromptFormat): string =>
    render([message], format).split(HEADER("assistant"))[1]!.split("<|eom|>")[0]!;
  assert.equal(
    body("json"),
    '{"type": "function", "name": "get_weather", "parameters": {"city": "Z\\u00fcrich", "days": 3, "metric": true, "x": null, "l": [1, 2.5], "d": {"k": "v"}}}',
  );
  assert.equal(
    body("function_tag"),
    '<function=get_weather>{"city": "Z\\u00fcrich", "days": 3, "metric": true, "x": null, "l": [1, 2.5], "d": {"k": "v"}}</function>',
  );
  assert.equal(body("python_list"), '[get_weather(city="Zürich", days=3, metric=True, x=None, l=[1, 2.5], d={k="v"})]');

  for (const format of ["json", "function_tag", "python_list"] as const) {
    const text = render(
      [
        {
          role: "assistant",
          content: "Sure. ",
          toolCalls: [
            { toolName: "brave_search", arguments: { query: "a b" } },
            { toolName: "photogen", arguments: { query: "cat" } },
            { toolName: "code_interpreter", arguments: { code: "print(1)" } },
          ],
        },
      ],
      format,
    );
    assert.ok(
      text.includes(`Sure. brave_search.call(query="a b")photogen.call(query="cat")print(1)<|eom|>`),
      `${format}: ${text}`,
    );
  }
});

test("OpenAI-style messages: tool_calls with JSON-text arguments keep ints, floats and key order", () => {
  const messages: ChatMessage[] = [
    { role: "user", content: [{ type: "text", text: "hi" }] },
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"b": 3.0, "2": 1, "1": 2}' } }],
    },
    { role: "tool", tool_call_id: "c1", content: "ok" },
  ];
  const text = render(messages, "function_tag");
  assert.ok(text.includes('<function=f>{"b": 3.0, "2": 1, "1": 2}</function><|eom|>'), text);
  assert.ok(text.includes(`${HEADER("ipython")}ok<|eom|>`), text);
  // A Map or PyFloat given directly is printed the same way.
  const direct = render(
    [
      {
        role: "assistant",
        content: "",
        toolCalls: [{ toolName: "f", arguments: new Map<string, PyFloat | number>([["b", new PyFloat(3)], ["2", 1], ["1", 2]]) }],
      },
    ],
    "function_tag",
  );
  assert.ok(direct.includes('<function=f>{"b": 3.0, "2": 1, "1": 2}</function>'), direct);
});

test("images are laid out inline where they appear, and reported in order", () => {
  const prompt = encodeDialog(
    [
      {
        role: "user",
        content: [
          { type: "text", text: "A" },
          { type: "image", width: 672, height: 336 },
          { type: "image_url", image_url: { url: "file:///x.png", width: 10, height: 10 } },
          { type: "text", text: "B" },
        ],
      },
    ],
    { tokenizer: toy, vision: { tileSize: 336, patchSize: 168, pixelShuffleRatio: 1 } },
  );
  // patchSize 168 makes 4 patches per tile, so the layout stays readable.
  const p4 = "<|patch|>".repeat(4);
  assert.equal(
    prompt.text,
    `<|begin_of_text|>${HEADER("user")}A` +
      `<|image_start|>${p4}<|tile_x_separator|>${p4}<|tile_y_separator|><|image|>${p4}<|image_end|>` +
      `<|image_start|><|image|>${p4}<|image_end|>B<|eot|>${HEADER("assistant")}`,
  );
  assert.deepEqual(
    prompt.images.map((img) => [img.path, img.grid.rows, img.grid.cols, img.chunks]),
    [
      ["messages[0].content[1]", 1, 2, 3],
      ["messages[0].content[2]", 1, 1, 1],
    ],
  );
});

test("imageGrid sizes images that carry no width/height", () => {
  const seen: string[] = [];
  const prompt = encodeDialog([{ role: "user", content: [{ type: "image_url", image_url: "https://x/y.png" }] }], {
    tokenizer: toy,
    imageGrid: (image, path) => {
      seen.push(`${path} ${image.url ?? ""}`);
      return { rows: 2, cols: 1 };
    },
  });
  assert.deepEqual(seen, ["messages[0].content[0] https://x/y.png"]);
  assert.equal(prompt.images[0]!.chunks, 3);
  assert.equal(prompt.tokens.filter((id) => id === 200092).length, 3 * 144);
});

test("encodeContent: BOS before the first item, even an image; nothing for an empty list", () => {
  assert.equal(encodeContent("Hi", { tokenizer: toy }).text, "<|begin_of_text|>Hi");
  const withImage = encodeContent([{ type: "image", width: 5, height: 5 }, { type: "text", text: "x" }], { tokenizer: toy });
  assert.ok(withImage.text.startsWith("<|begin_of_text|><|image_start|><|image|><|patch|>"));
  assert.ok(withImage.text.endsWith("<|image_end|>x"));
  assert.deepEqual(encodeContent([], { tokenizer: toy }).tokens, []);
});

function assertFormatError(messages: unknown, path: string, problem: RegExp): void {
  assert.throws(
    () => encodeDialog(messages as ChatMessage[], { tokenizer: toy }),
    (err: unknown) => {
      assert.ok(err instanceof ChatFormatError, String(err));
      assert.equal(err.path, path);
      assert.match(err.message, problem);
      assert.ok(err.message.startsWith(`${path}: `));
      return true;
    },
  );
}

test("clear errors naming the message index and field", () => {
  assertFormatError("hello", "messages", /expected a list of messages/);
  assertFormatError([null], "messages[0]", /expected a message object/);
  assertFormatError([{ role: "user", content: "a" }, { role: "bot", content: "b" }], "messages[1].role", /unknown role "bot"/);
  assertFormatError([{ role: "user" }], "messages[0].content", /missing content/);
  assertFormatError([{ role: "user", content: 5 }], "messages[0].content", /string or a list of content parts/);
  assertFormatError([{ role: "user", content: ["x"] }], "messages[0].content[0]", /invalid content part/);
  assertFormatError([{ role: "user", content: [{ type: "audio" }] }], "messages[0].content[0].type", /invalid content part type "audio"/);
  assertFormatError([{ role: "user", content: [{ type: "text" }] }], "messages[0].content[0].text", /needs a string "text"/);
  assertFormatError([{ role: "user", content: [{ type: "image_url", image_url: {} }] }], "messages[0].content[0].image_url", /url/);
  assertFormatError([{ role: "user", content: [{ type: "image", width: 3 }] }], "messages[0].content[0]", /both width and height/);
  assertFormatError([{ role: "user", content: [{ type: "image", width: -1, height: 2 }] }], "messages[0].content[0].width", /positive integer/);
  assertFormatError([{ role: "user", content: [{ type: "image", url: "x.png" }] }], "messages[0].content[0]", /image without size info/);
  assertFormatError(
    [{ role: "assistant", content: "", toolCalls: [{ arguments: {} }] }],
    "messages[0].toolCalls[0].toolName",
    /tool call without a name/,
  );
  assertFormatError(
    [{ role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "", arguments: "{}" } }] }],
    "messages[0].tool_calls[0].function.name",
    /tool call without a name/,
  );
  assertFormatError(
    [{ role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: "{oops" } }] }],
    "messages[0].tool_calls[0].function.arguments",
    /invalid JSON/,
  );
  assertFormatError(
    [{ role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: "[1]" } }] }],
    "messages[0].tool_calls[0].function.arguments",
    /must be an object/,
  );
  assertFormatError(
    [{ role: "assistant", content: "", toolCalls: [{ toolName: "brave_search", arguments: { q: "x" } }] }],
    "messages[0].toolCalls[0].arguments.query",
    /needs an argument "query"/,
  );
  assertFormatError([{ role: "assistant", content: "a", stopReason: "done" }], "messages[0].stopReason", /unknown stop reason "done"/);
});
