// The command-line forms other tools rely on: inspect, eval, generate, synth.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { requireShared, tempDir } from "../../test/support.js";
import { runCli } from "../../test/cli.js";
import { maxAbsDiffAtRows, readGoldenPrompts } from "../../test/golden.js";
import { SafetensorsFile, readTensor } from "../formats/safetensors.js";

test("eval and generate reproduce the tiny-scout goldens from the command line", (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-scout");
  if (!dir) return;
  const { file, prompts } = readGoldenPrompts(join(dir, "golden.safetensors"));
  file.close();
  const p = prompts[3]!;
  const out = tempDir(t);
  for (const extra of [[], ["--incremental"]]) {
    const logitsPath = join(out, `logits${extra.length}.safetensors`);
    const r = runCli(["eval", "--model", dir, "--tokens", p.tokens.join(","), "--out", logitsPath, ...extra]);
    assert.equal(r.status, 0, r.stderr);
    const f = SafetensorsFile.open(logitsPath);
    const logits = readTensor(f, "logits");
    f.close();
    assert.deepEqual(logits.shape, [p.tokens.length, 1024]);
    assert.equal(logits.dtype, "F32");
    assert.ok(maxAbsDiffAtRows(logits.data as Float32Array, p.logits, p.logitRows, 1024) < 2e-4);
  }
  const g = runCli(["generate", "--model", dir, "--tokens", p.tokens.join(","), "--max-tokens", "20", "--temperature", "0", "--json"]);
  assert.equal(g.status, 0, g.stderr);
  assert.deepEqual(JSON.parse(g.stdout), { tokens: p.greedy });
});

test("synth writes a checkpoint that inspect describes", (t) => {
  const out = join(tempDir(t), "m");
  const s = runCli(["synth", "--preset", "maverick", "--hidden", "32", "--layers", "4", "--experts", "4", "--heads", "4",
    "--kv-heads", "2", "--head-dim", "8", "--expert-hidden", "16", "--dense-hidden", "24", "--vocab", "50", "--chunk", "4",
    "--dtype", "bf16", "--seed", "3", "--out", out]);
  assert.equal(s.status, 0, s.stderr);
  assert.ok(existsSync(join(out, "config.json")) && existsSync(join(out, "model.safetensors")));
  assert.match(s.stderr, /random weights/);

  const text = runCli(["inspect", out]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /0 {2}dense rope chunked/);
  assert.match(text.stdout, /3 {2}moe {3}nope global/);
  const r = JSON.parse(runCli(["inspect", out, "--json"]).stdout) as {
    tensorCount: number; parameters: { total: number; text: number; textFromConfig: number }; dtypes: Record<string, unknown>;
  };
  assert.equal(r.parameters.text, r.parameters.textFromConfig);
  assert.deepEqual(Object.keys(r.dtypes), ["BF16"]);
  assert.equal(r.tensorCount, 2 + 4 * 6 + 2 * 3 + 2 * 6 + 1);

  const g = runCli(["generate", "--model", out, "--tokens", "1,2,3", "--max-tokens", "5", "--json"]);
  assert.equal(g.status, 0, g.stderr);
  assert.equal((JSON.parse(g.stdout) as { tokens: number[] }).tokens.length, 5);

  // The same model as GGUF: inspect reads its header and counts the same parameters.
  const gguf = join(out, "..", "m.gguf");
  const c = runCli(["convert", "--model", out, "--out", gguf, "--type", "f32"]);
  assert.equal(c.status, 0, c.stderr);
  const rg = JSON.parse(runCli(["inspect", gguf, "--json"]).stdout) as typeof r;
  assert.equal(rg.parameters.total, r.parameters.text);
  assert.equal(rg.parameters.textFromConfig, r.parameters.textFromConfig);
  const gg = runCli(["generate", "--model", gguf, "--tokens", "1,2,3", "--max-tokens", "5", "--json"]);
  assert.deepEqual(JSON.parse(gg.stdout), JSON.parse(g.stdout), "the GGUF generates what the safetensors model does");
});

test("bad arguments and missing models fail with a one-line message, no stack trace", (t) => {
  const dir = tempDir(t);
  for (const [args, pattern] of [
    [["eval", "--model", dir, "--tokens", "1,x", "--out", join(dir, "o")], /--tokens: "x" is not a token id/],
    [["generate", "--model", join(dir, "nope"), "--tokens", "1"], /config\.json: not found/],
    [["inspect", join(dir, "nope")], /does not exist|no such file/i],
    [["synth", "--preset", "llama2", "--out", dir], /unknown preset "llama2"/],
  ] as const) {
    const r = runCli(args);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test("run on a GGUF uses the vocabulary stored in the file, and replies as the safetensors model does", (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!dir || !tok) return;
  const gguf = join(tempDir(t), "m.gguf");
  const c = runCli(["convert", "--model", dir, "--out", gguf, "--type", "f32", "--tokenizer", tok]);
  assert.equal(c.status, 0, c.stderr);
  const args = ["--temperature", "0", "--max-tokens", "6", "--json", "Hello there"];
  const fromGguf = runCli(["run", "--model", gguf, ...args]);
  assert.equal(fromGguf.status, 0, fromGguf.stderr);
  const fromHf = runCli(["run", "--model", dir, "--tokenizer", tok, ...args]);
  const a = JSON.parse(fromGguf.stdout) as { tokens: number[]; usage: unknown };
  const b = JSON.parse(fromHf.stdout) as { tokens: number[]; usage: unknown };
  assert.deepEqual(a.usage, b.usage);
  assert.deepEqual(a.tokens, b.tokens);
});
