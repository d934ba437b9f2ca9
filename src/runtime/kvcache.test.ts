// KV caches stored as f32, f16 and q8_0: what a layer cache stores (encoded on append, read
// back decoded), prefill == incremental decoding at every position across chunk boundaries
// for each type, WASM kernels == reference kernels, the goldens with an f16 cache, kernel
// memory reused after dispose(), and the q8_0 head_dim check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { requireShared, tempDir } from "../../test/support.js";
import { writeTinyModel } from "../../test/tiny.js";
import { maxAbsDiff, maxAbsDiffAtRows, readGoldenPrompts } from "../../test/golden.js";
import { runCli } from "../../test/cli.js";
import { openModel } from "./load.js";
import { evalLogits, generateGreedy } from "./generate.js";
import { GrowingLayerCache, SequenceKVCache, modelKVType } from "./kvcache.js";
import { createFastKernels, type FastKernels } from "../kernels/fast.js";
import { f16ToF32, f32ToF16 } from "../kernels/dtype.js";
import { dequantizeRowQ8_0, quantizeRowQ8_0 } from "../kernels/quant/block32.js";
import { splitmix32 } from "../synth/synth.js";
import type { KVType } from "../model/kv.js";
import type { Llama4TextModel } from "../model/llama4.js";

const TOKENS = [3, 17, 42, 8, 91, 5, 60, 33, 2, 77, 14, 29, 50, 66, 1, 88, 23, 9, 71]; // 19 tokens, chunk 4
/** The tiny Scout shape with head_dim 32, so every KV type applies. */
const HD32 = { headDim: 32, hidden: 64 };

/** What a value reads back as after being stored as `type` (rows of kvDim values). */
function roundTrip(type: KVType, x: Float32Array): Float32Array {
  if (type === "f32") return x.slice();
  if (type === "f16") return x.map((v) => f16ToF32(f32ToF16(v)));
  const bytes = new Uint8Array((x.length / 32) * 34);
  quantizeRowQ8_0(x, bytes);
  const out = new Float32Array(x.length);
  dequantizeRowQ8_0(bytes, 0, out, x.length);
  return out;
}

test("a layer cache stores rows encoded as its type and reads them back through growth, drops and truncation", async () => {
  const rand = splitmix32(3);
  const kvDim = 64;
  const k = createFastKernels({ threads: 1 });
  for (const type of ["f32", "f16", "q8_0"] as const) {
    for (const buffers of [undefined, { alloc: (b: number) => k.attention.allocKV(b), free: (v: Uint8Array) => k.attention.freeKV(v) }]) {
      const label = `${type} ${buffers ? "kernel memory" : "plain"}`;
      const cache = new GrowingLayerCache(kvDim, 2, Infinity, { kvType: type, ...(buffers && { buffers }) });
      const K = Float32Array.from({ length: 40 * kvDim }, () => rand() * 4 - 2);
      const V = Float32Array.from({ length: 40 * kvDim }, () => rand() * 4 - 2);
      for (const [a, b] of [[0, 1], [1, 4], [4, 21], [21, 40]] as const) {
        cache.append(K.subarray(a * kvDim), V.subarray(a * kvDim), b - a);
      }
      assert.equal(cache.length, 40);
      assert.ok(cache.capacity >= 40);
      assert.deepEqual(cache.keys(), roundTrip(type, K), `${label}: keys`);
      assert.deepEqual(cache.values(), roundTrip(type, V), `${label}: values`);
      const rows = cache.rows();
      assert.equal(rows.type, type);
      assert.equal(rows.k.length, 40 * rows.rowBytes);
      assert.equal(!!k.arena.locate(rows.k), !!buffers, `${label}: where the rows live`);
      cache.dropBefore(24);
      assert.equal(cache.start, 24);
      assert.deepEqual(cache.keys(), roundTrip(type, K.subarray(24 * kvDim)), `${label}: keys after a drop`);
      assert.deepEqual(cache.values(), roundTrip(type, V.subarray(24 * kvDim)), `${label}: values after a drop`);
      assert.equal(cache.truncate(30), true);
      assert.equal(cache.length, 6);
      assert.equal(cache.truncate(10), false);
      const held = cache.allocatedBytes;
      assert.ok(held >= 2 * cache.capacity * rows.rowBytes);
      cache.dispose();
      assert.equal(cache.allocatedBytes, 0);
      assert.equal(cache.length, 0);
      cache.append(K, V, 1); // usable again after dispose
      assert.deepEqual(cache.keys(), roundTrip(type, K.subarray(0, kvDim)));
      cache.dispose();
    }
  }
  assert.deepEqual(k.attention.kvMemory().inUse, 0);
  await k.close();
});

function assertConsistent(model: Llama4TextModel, kvType: KVType, label: string): Float32Array {
  const full = evalLogits(model, TOKENS, { kvType });
  for (const opts of [{ incremental: true }, { blockSize: 3 }, { blockSize: 4 }, { blockSize: 7 }]) {
    const other = evalLogits(model, TOKENS, { ...opts, kvType });
    const diff = maxAbsDiff(full, other);
    assert.ok(diff < 1e-5, `${label}: ${JSON.stringify(opts)} differs from the full pass by ${diff}`);
  }
  return full;
}

test("f16 and q8_0 caches: prefill == incremental == mixed blocks at every position across chunk boundaries; WASM == reference kernels", (t) => {
  const dir = writeTinyModel(tempDir(t), "scout", { overrides: HD32 });
  const wasm = openModel(dir, { threads: 2 }).model;
  const ref = openModel(dir, { kernels: "ref" }).model;
  const f32 = evalLogits(wasm, TOKENS);
  const notes: string[] = [];
  for (const kvType of ["f32", "f16", "q8_0"] as const) {
    const a = assertConsistent(wasm, kvType, `${kvType} wasm`);
    const b = assertConsistent(ref, kvType, `${kvType} ref`);
    const kernelsDiff = maxAbsDiff(a, b);
    // f16/q8_0: a K or V value that differs by float noise between the kernel sets may round
    // to the neighbouring f16 value or q8_0 step (measured: f16 6.8e-5, q8_0 8.3e-7).
    const allowed = { f32: 1e-4, f16: 5e-4, q8_0: 5e-3 }[kvType];
    assert.ok(kernelsDiff < allowed, `${kvType}: WASM vs reference kernels differ by ${kernelsDiff}`);
    const vsF32 = maxAbsDiff(a, f32);
    if (kvType === "f32") assert.equal(vsF32, 0);
    // Logits here have rms ≈ 1; measured max differences: f16 9.2e-4, q8_0 3.3e-2.
    else assert.ok(vsF32 > 0 && vsF32 < (kvType === "f16" ? 2e-3 : 6e-2), `${kvType} vs f32 cache: ${vsF32}`);
    notes.push(`${kvType}: wasm-ref ${kernelsDiff.toExponential(2)}, vs f32 KV ${vsF32.toExponential(2)}`);
    // Greedy decoding through the cache equals greedy by full passes with the same cache type.
    const greedy = generateGreedy(wasm, TOKENS.slice(0, 5), { maxTokens: 10, kvType });
    const seq = TOKENS.slice(0, 5);
    for (let i = 0; i < 10; i++) {
      const logits = evalLogits(wasm, seq, { blockSize: seq.length, kvType });
      const V = wasm.config.vocabSize;
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[(seq.length - 1) * V + v]! > logits[(seq.length - 1) * V + best]!) best = v;
      seq.push(best);
    }
    assert.deepEqual(greedy, seq.slice(5), `${kvType} greedy`);
  }
  t.diagnostic(notes.join("; "));
});

test("openModel's kvType reaches the caches made for the model; q8_0 needs head_dim a multiple of 32", (t) => {
  const dir = writeTinyModel(tempDir(t), "scout", { overrides: HD32 });
  const { model } = openModel(dir, { kvType: "q8_0", threads: 1 });
  assert.equal(modelKVType(model), "q8_0");
  const cache = SequenceKVCache.forModel(model);
  assert.equal(cache.kvType, "q8_0");
  assert.equal(SequenceKVCache.forModel(model, { kvType: "f16" }).kvType, "f16");
  assert.equal(modelKVType(openModel(dir, { threads: 1 }).model), "f32");
  const small = writeTinyModel(tempDir(t)); // head_dim 8
  assert.throws(() => openModel(small, { kvType: "q8_0" }), /KV cache type q8_0 .* multiple of 32; this model's head_dim is 8/);
  const m8 = openModel(small, { kernels: "ref" }).model;
  assert.throws(() => new SequenceKVCache(m8.config, { kvType: "q8_0" }), /head_dim is 8/);
  assert.throws(() => new SequenceKVCache(m8.config, { kvType: "q4_0" as KVType }), /must be f32, f16 or q8_0, got "q4_0"/);
});

test("KV memory in the kernel arena is reused: allocate, dispose, allocate again without growth", (t) => {
  const { model, kernels } = openModel(writeTinyModel(tempDir(t), "scout", { overrides: HD32 }), { threads: 1 });
  const arena = (kernels as FastKernels).arena;
  const ak = kernels.attention!;
  for (const kvType of ["f32", "f16", "q8_0"] as const) {
    const feed = () => {
      const cache = SequenceKVCache.forModel(model, { kvType, maxBlock: 8 });
      for (let s = 0; s < 40; s += 8) model.forward(TOKENS.concat(TOKENS, TOKENS).slice(s, s + 8), cache, { logits: "none" });
      return cache;
    };
    const first = feed();
    const held = first.allocatedBytes;
    assert.ok(held > 0);
    assert.equal(ak.kvMemory().inUse, held, "allocatedBytes counts the blocks held");
    first.dispose();
    assert.equal(first.allocatedBytes, 0);
    assert.equal(ak.kvMemory().inUse, 0);
    const before = arena.bytesAllocated;
    for (let i = 0; i < 3; i++) {
      const again = feed();
      assert.equal(again.allocatedBytes, held);
      again.dispose();
    }
    assert.equal(arena.bytesAllocated, before, `${kvType}: the arena did not grow`);
    assert.equal(ak.kvMemory().inUse, 0);
  }
});

test("golden tiny-scout / tiny-maverick with an f16 KV cache: logits close to the f32 cache and to Meta's reference", (t) => {
  const notes: string[] = [];
  for (const fixture of ["tiny-scout", "tiny-maverick"]) {
    const dir = requireShared(t, `fixtures/llama4/${fixture}`);
    if (!dir) return;
    const { model } = openModel(dir, { kvType: "f16" });
    assert.throws(() => openModel(dir, { kvType: "q8_0" }), /head_dim is 16/);
    const V = model.config.vocabSize;
    const { file, prompts } = readGoldenPrompts(join(dir, "golden.safetensors"));
    try {
      let worstGolden = 0, worstF32 = 0;
      for (const p of prompts) {
        const f16 = evalLogits(model, p.tokens);
        const incremental = evalLogits(model, p.tokens, { incremental: true });
        assert.ok(maxAbsDiff(f16, incremental) < 1e-5, `${fixture} ${p.name}: f16 cache, prefill vs incremental`);
        worstGolden = Math.max(worstGolden, maxAbsDiffAtRows(f16, p.logits, p.logitRows, V));
        worstF32 = Math.max(worstF32, maxAbsDiff(f16, evalLogits(model, p.tokens, { kvType: "f32" })));
      }
      // Logits have rms ≈ 2; f16 rounding of K and V (relative 2^-11) moved them by at most
      // 4.9e-3 (tiny-scout) and 3.0e-3 (tiny-maverick) when measured.
      assert.ok(worstGolden < 1e-2, `${fixture}: f16 KV vs golden ${worstGolden}`);
      assert.ok(worstF32 < 1e-2, `${fixture}: f16 KV vs f32 KV ${worstF32}`);
      notes.push(`${fixture}: f16 KV vs golden ${worstGolden.toExponential(2)}, vs f32 KV ${worstF32.toExponential(2)}`);
    } finally {
      file.close();
    }
  }
  t.diagnostic(notes.join("; "));
});

test("--kv-type on the CLI: validated, reported by bench", (t) => {
  const dir = writeTinyModel(tempDir(t), "scout", { overrides: HD32 });
  const bad = runCli(["bench", "--model", dir, "--kv-type", "q4"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--kv-type must be f32, f16 or q8_0, got "q4"/);
  const r = runCli(["bench", "--model", dir, "--prompt-tokens", "9", "--gen-tokens", "3", "--threads", "1", "--kv-type", "q8_0", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).kv_type, "q8_0");
  const g = runCli(["generate", "--model", dir, "--tokens", "1,2,3", "--max-tokens", "4", "--kv-type", "f16", "--json", "--quiet"]);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(JSON.parse(g.stdout).tokens.length, 4);
});
