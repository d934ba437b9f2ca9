// The demo model: our own tokenizer round-trips text, and `llama4 run` with no --model
// builds the demo model once and replies with it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, tempDir } from "../../test/support.js";
import { trainByteLevelBpe, writeDemoTokenizer } from "./demo-tokenizer.js";

test("BPE training learns merges for frequent pairs; the demo tokenizer round-trips any text", (t) => {
  const ranks = trainByteLevelBpe("the the the then there", 10);
  assert.ok(ranks.length > 256);
  // "t h" and "h e" both occur 5 times; ties go to the smaller pair of ids ("h" = 104 < "t" = 116).
  assert.equal(new TextDecoder().decode(ranks[256]), "he");
  assert.equal(new TextDecoder().decode(ranks[257]), "the");
  const { tokenizer, vocabSize } = writeDemoTokenizer(tempDir(t));
  assert.equal(tokenizer.vocabSize, vocabSize);
  for (const text of ["Hello, llama!", "日本語 🦙 e\u0301", "  spaces\tand\nlines  "]) {
    assert.equal(tokenizer.decode(tokenizer.encode(text)), text);
  }
  assert.ok(tokenizer.encode("the llama").length < "the llama".length, "merges shorten common text");
  assert.equal(tokenizer.tokenId("<|eot|>"), vocabSize - 2048 + 8);
});

test("`llama4 run` without --model creates the demo model once and says its weights are random", { timeout: 120_000 }, (t) => {
  const home = tempDir(t);
  const run = () => spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "src/cli/main.ts"), "run", "--max-tokens", "8", "--seed", "1", "Hello"], {
    cwd: repoRoot, encoding: "utf8", env: { ...process.env, LLAMA4_HOME: home },
  });
  const first = run();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /creating the demo model/);
  assert.match(first.stderr, /RANDOM weights/);
  assert.match(first.stderr, /generated \d+ tok/);
  assert.ok(existsSync(join(home, "demo-scout-v1", "tokenizer.json")));
  const second = run();
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /creating the demo model/);
  assert.equal(second.stdout, first.stdout, "same seed, same reply");
});
