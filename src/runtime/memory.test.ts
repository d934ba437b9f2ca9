// Memory: a Scout-shaped checkpoint with realistic widths (the benchmark model: vocab
// 202048, hidden 1024, 12 layers, 16 experts; 2.2 GB of bf16 in two shards) must load and
// run with peak RSS under 1.3× its weight bytes: shards are read tensor by tensor (experts
// one at a time), never whole, and weights stay bf16.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { readdirSync } from "node:fs";
import { repoRoot, tempDir } from "../../test/support.js";
import { synthCheckpoint } from "../synth/synth.js";

test("benchmark-shaped Scout checkpoint: peak RSS < 1.3× weight bytes", { timeout: 300_000 }, (t) => {
  const dir = join(tempDir(t), "scout-1b");
  synthCheckpoint({
    preset: "scout", dtype: "bf16", seed: 1, out: dir,
    overrides: { hidden: 1024, layers: 12, heads: 16, kvHeads: 8, headDim: 64, experts: 16, expertHidden: 1024, vocab: 202048 },
  });
  assert.equal(readdirSync(dir).filter((f) => f.endsWith(".safetensors")).length, 2, "expected a sharded checkpoint");
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "test/rss-probe.ts"), dir], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const { maxRssBytes, weightBytes, tokens } = JSON.parse(r.stdout) as { maxRssBytes: number; weightBytes: number; tokens: number[] };
  assert.equal(tokens.length, 4);
  assert.ok(weightBytes > 2e9, `weights ${weightBytes}`);
  const ratio = maxRssBytes / weightBytes;
  t.diagnostic(`peak RSS ${(maxRssBytes / 1e6).toFixed(0)} MB for ${(weightBytes / 1e6).toFixed(0)} MB of weights: ${ratio.toFixed(3)}x`);
  assert.ok(ratio < 1.3, `peak RSS is ${ratio.toFixed(3)}x the weight bytes`);
});
