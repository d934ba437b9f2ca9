// `llama4 tokenize` / `llama4 detokenize` as a user runs them (child process, stdin/stdout).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { runCli } from "../../test/cli.js";
import { requireShared } from "../../test/support.js";
import { parseTokenIds } from "./tokenize.js";

interface GoldenCase {
  text: string;
  ids: number[];
  allowSpecial: boolean;
}

test("tokenize and detokenize reproduce golden cases", (t) => {
  const model = requireShared(t, "llama4/tokenizer.model");
  const golden = requireShared(t, "fixtures/llama4/tokenizer/golden.json");
  if (!model || !golden) return;
  const cases = JSON.parse(readFileSync(golden, "utf8")) as GoldenCase[];
  const code = cases.find((c) => c.text.startsWith("def foo(bar):"))!; // ends with "\n": kept
  const special = cases.find((c) => c.allowSpecial && c.text.startsWith("<|header_start|>"))!;

  const r1 = runCli(["tokenize", "--tokenizer", model], code.text);
  assert.equal(r1.status, 0, r1.stderr);
  assert.equal(r1.stdout, JSON.stringify(code.ids) + "\n");

  const r2 = runCli(["tokenize", "--tokenizer", model, "--allow-special"], special.text);
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepEqual(JSON.parse(r2.stdout), special.ids);

  const r3 = runCli(["detokenize", "--tokenizer", model], JSON.stringify(special.ids));
  assert.equal(r3.status, 0, r3.stderr);
  assert.equal(r3.stdout, special.text);

  const bad = runCli(["detokenize", "--tokenizer", model], "[1, 202048]");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^llama4: invalid token id 202048: valid ids are integers 0\.\.202047/);
});

test("detokenize input validation", () => {
  assert.deepEqual(parseTokenIds(" [1, 2, 3]\n"), [1, 2, 3]);
  assert.throws(() => parseTokenIds("[1,"), /stdin is not valid JSON/);
  assert.throws(() => parseTokenIds('{"ids": [1]}'), /expected a JSON array of token ids/);
  assert.throws(() => parseTokenIds('[1, "2"]'), /element 1 is not an integer token id: "2"/);
  assert.throws(() => parseTokenIds("[1.5]"), /element 0 is not an integer token id: 1.5/);
});
