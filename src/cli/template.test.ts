// `llama4 template` from the command line: golden dialogs, options, and error reporting.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli } from "../../test/cli.js";
import { requireShared, tempDir } from "../../test/support.js";

interface GoldenDialog {
  name: string;
  toolPromptFormat: string;
  messages: unknown[];
  ids: number[];
  text: string;
}

test("template prints the golden text and ids for a few dialogs", (t) => {
  const goldenPath = requireShared(t, "fixtures/llama4/chat/golden.json");
  if (!goldenPath) return;
  const tokenizer = requireShared(t, "llama4/tokenizer.model");
  if (!tokenizer) return;
  const golden = JSON.parse(readFileSync(goldenPath, "utf8")) as { dialogs: GoldenDialog[] };
  const dir = tempDir(t);
  const names = ["system_and_user", "custom_tool_call_function_tag", "custom_tool_calls_python_list_two_calls", "user_one_small_image"];
  for (const name of names) {
    const d = golden.dialogs.find((x) => x.name === name);
    assert.ok(d, name);
    const file = join(dir, `${name}.json`);
    // Alternate the two accepted file shapes.
    writeFileSync(file, JSON.stringify(name.includes("tool") ? { messages: d.messages } : d.messages));
    const r = runCli(["template", "--tokenizer", tokenizer, "--messages", file, "--tool-format", d.toolPromptFormat]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { text: d.text, tokens: d.ids }, name);
  }

  // --no-generation-prompt drops the trailing assistant header (4 ids); the directory form works.
  const single = golden.dialogs.find((x) => x.name === "single_user_turn")!;
  const file = join(dir, "single.json");
  writeFileSync(file, JSON.stringify(single.messages));
  const r = runCli(["template", "--tokenizer", join(tokenizer, ".."), "--messages", file, "--no-generation-prompt"]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { text: string; tokens: number[] };
  assert.deepEqual(out.tokens, single.ids.slice(0, -4));
  assert.equal(out.text, single.text.slice(0, -"<|header_start|>assistant<|header_end|>\n\n".length));

  // --chat-template renders a Jinja template and parses its special tokens.
  const templateFile = join(dir, "chat.jinja");
  writeFileSync(
    templateFile,
    "{{- bos_token }}{% for m in messages %}{{ '<|header_start|>' + m.role + '<|header_end|>\\n\\n' + m.content + '<|eot|>' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|header_start|>assistant<|header_end|>\\n\\n' }}{% endif %}",
  );
  const withTemplate = runCli(["template", "--tokenizer", tokenizer, "--messages", file, "--chat-template", templateFile]);
  assert.equal(withTemplate.status, 0, withTemplate.stderr);
  assert.deepEqual(JSON.parse(withTemplate.stdout), { text: single.text, tokens: single.ids });
});

test("template reports bad message files as `llama4: <message>` with exit code 1", (t) => {
  const dir = tempDir(t);
  // Messages are checked before the tokenizer is loaded, so no real tokenizer is needed here.
  const tokenizer = join(dir, "no-such-tokenizer.model");
  const cases: [string, RegExp][] = [
    ["{not json", /bad\.json: invalid JSON/],
    ['{"msgs": []}', /bad\.json: expected a JSON array of messages or an object/],
    ['[{"role": "bot", "content": "x"}]', /bad\.json: messages\[0\]\.role: unknown role "bot"/],
    ['[{"role": "user", "content": [{"type": "audio"}]}]', /bad\.json: messages\[0\]\.content\[0\]\.type: invalid content part type/],
    ['[{"role": "assistant", "content": null, "tool_calls": [{"function": {"arguments": "{}"}}]}]', /tool_calls\[0\]\.function\.name: tool call without a name/],
  ];
  const file = join(dir, "bad.json");
  for (const [content, expected] of cases) {
    writeFileSync(file, content);
    const r = runCli(["template", "--tokenizer", tokenizer, "--messages", file]);
    assert.equal(r.status, 1, content);
    assert.match(r.stderr, /^llama4: /, content);
    assert.match(r.stderr, expected, content);
    assert.equal(r.stdout, "");
  }
  const missing = runCli(["template", "--tokenizer", tokenizer, "--messages", join(dir, "absent.json")]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^llama4: cannot read messages file .*absent\.json/);
  writeFileSync(file, '[{"role": "user", "content": "hi"}]');
  const noTokenizer = runCli(["template", "--tokenizer", tokenizer, "--messages", file]);
  assert.equal(noTokenizer.status, 1);
  assert.match(noTokenizer.stderr, /^llama4: cannot read tokenizer/);
});
