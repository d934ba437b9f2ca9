import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { requireShared } from "../../test/support.js";
import { Tokenizer } from "../tokenizer/index.js";
import { encodeDialog } from "./format.js";
import type { ChatMessage } from "./messages.js";
import { renderChatTemplate } from "./template.js";
import { ToyByteTokenizer } from "./toy-tokenizer.js";

// A small template in the style of the Llama 4 HF chat template, for plain turns: BOS, each
// message as header + content + <|eot|>, text parts concatenated, optional generation prompt.
const LLAMA4_STYLE_TEMPLATE = `{{- bos_token }}
{%- for message in messages %}
    {{- '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' }}
    {%- if message['content'] is string %}
        {{- message['content'] }}
    {%- else %}
        {%- for part in message['content'] %}
            {%- if part['type'] == 'text' %}
                {{- part['text'] }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {{- '<|eot|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|header_start|>assistant<|header_end|>\\n\\n' }}
{%- endif %}`;

const PLAIN_DIALOGS: ChatMessage[][] = [
  [],
  [{ role: "user", content: "What is the capital of France?" }],
  [
    { role: "system", content: "You are a concise assistant." },
    { role: "user", content: "Hi! What's 2+2?" },
    { role: "assistant", content: "2+2 = 4.", stopReason: "end_of_turn" },
    { role: "user", content: [{ type: "text", text: "And times" }, { type: "text", text: " 10?" }] },
  ],
  [{ role: "user", content: "  Héllo 世界 🙂\n\n" }],
];

test("a Llama-4-style Jinja template renders the same text as the built-in format", () => {
  const toy = new ToyByteTokenizer();
  for (const messages of PLAIN_DIALOGS) {
    for (const addGenerationPrompt of [true, false]) {
      const rendered = renderChatTemplate(LLAMA4_STYLE_TEMPLATE, messages, { addGenerationPrompt });
      const builtIn = encodeDialog(messages, { tokenizer: toy, addGenerationPrompt });
      assert.equal(rendered, builtIn.text);
      assert.deepEqual(toy.encode(rendered, { allowSpecial: true }), builtIn.tokens);
    }
  }
});

test("with the real tokenizer the template's tokens equal encodeDialog's (golden plain dialogs too)", (t) => {
  const tokenizerPath = requireShared(t, "llama4/tokenizer.model");
  if (!tokenizerPath) return;
  const goldenPath = requireShared(t, "fixtures/llama4/chat/golden.json");
  if (!goldenPath) return;
  const tokenizer = Tokenizer.load(tokenizerPath);
  const golden = JSON.parse(readFileSync(goldenPath, "utf8")) as {
    dialogs: { name: string; messages: ChatMessage[]; ids: number[] }[];
  };
  const plainNames = ["single_user_turn", "system_and_user", "empty_dialog", "multi_turn", "user_text_items_list", "unicode_and_whitespace_preserved"];
  const goldenPlain = golden.dialogs.filter((d) => plainNames.includes(d.name));
  assert.equal(goldenPlain.length, plainNames.length);
  for (const d of goldenPlain) {
    const rendered = renderChatTemplate(LLAMA4_STYLE_TEMPLATE, d.messages, { bosToken: "<|begin_of_text|>" });
    // The rendered text holds special tokens as text: encode with them enabled, no extra BOS.
    assert.deepEqual(tokenizer.encode(rendered, { allowSpecial: true }), d.ids, d.name);
  }
  for (const messages of PLAIN_DIALOGS) {
    const rendered = renderChatTemplate(LLAMA4_STYLE_TEMPLATE, messages);
    assert.deepEqual(tokenizer.encode(rendered, { allowSpecial: true }), encodeDialog(messages, { tokenizer }).tokens);
  }
});

test("template context: tools, tool calls as OpenAI objects, extra variables", () => {
  const template =
    "{{ tools | length }}|{{ greeting }}|{% for m in messages %}{{ m.role }}:" +
    "{% if m.tool_calls %}{{ m.tool_calls[0].function.name }}({{ m.tool_calls[0].function.arguments.city }}){% endif %}" +
    "{{ m.tool_call_id }};{% endfor %}{{ bos_token }}{{ add_generation_prompt }}";
  const rendered = renderChatTemplate(
    template,
    [
      { role: "assistant", content: null, tool_calls: [{ id: "c1", function: { name: "w", arguments: '{"city": "SF"}' } }] },
      { role: "tool", tool_call_id: "c1", content: "sunny" },
    ],
    { tools: [{ type: "function" }], variables: { greeting: "hi" }, bosToken: "<s>", addGenerationPrompt: false },
  );
  assert.equal(rendered, "1|hi|assistant:w(SF);tool:c1;<s>false");
});

test("renderChatTemplate validates messages like encodeDialog", () => {
  assert.throws(() => renderChatTemplate("{{ messages }}", [{ role: "robot", content: "x" }] as unknown as ChatMessage[]), /messages\[0\]\.role: unknown role/);
});
