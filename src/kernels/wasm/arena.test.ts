// The arena: typed views of the right kind and size, 64-byte aligned, recognised (also as
// subarrays and after the memory grows); a spill into a second memory when the first is
// full (simulated with 1 MiB memories), with kernels and workers following; activations
// larger than the scratch region processed in passes; arena activations used in place.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WasmArena, arenaBytes } from "./arena.js";
import { createFastKernels } from "../fast.js";
import { matmul as refMatmul } from "../ref/ops.js";
import { matrix, quantizeMatrix, type Matrix } from "../matrix.js";
import { splitmix32 } from "../../synth/synth.js";

test("alloc gives zeroed, aligned views of each dtype that locate() recognises", () => {
  const arena = new WasmArena({ maxMemoryBytes: 8 << 20, scratchBytes: 64 << 10 });
  const a = arena.alloc("f32", 5);
  const b = arena.alloc("bf16", 3);
  const c = arena.alloc("q4_k", 512);
  const d = arena.alloc("u8", 7);
  assert.ok(a instanceof Float32Array && a.length === 5);
  assert.ok(b instanceof Uint16Array && b.length === 3);
  assert.ok(c instanceof Uint8Array && c.length === 288);
  assert.equal(d.length, 7);
  for (const v of [a, b, c, d]) {
    assert.equal(v.byteOffset % 64, 0);
    assert.ok(v.every((e) => e === 0));
    assert.equal(arena.locate(v)?.memory.index, 0);
  }
  assert.equal(arena.locate(a.subarray(2))?.byteOffset, a.byteOffset + 8);
  assert.equal(arena.locate(new Float32Array(4)), undefined);
  const big = arena.alloc("f32", 1 << 20); // grows the memory past its first size
  assert.equal(arena.locate(big)?.memory.index, 0);
  assert.equal(arena.locate(a)?.memory.index, 0, "views made before growth are still recognised");
  assert.equal(arenaBytes("q8_0", 64), 68);
  assert.throws(() => arena.alloc("q8_0", 33), /whole number/);
  assert.throws(() => arena.alloc("f32", 4 << 20), /exceed one wasm32 memory/);
  assert.throws(() => new WasmArena({ maxMemoryBytes: 1000 }), /multiple of 64 KiB/);
});

test("a full memory spills into a new one; matmul works in both, threads included", async () => {
  // 1 MiB memories: 64 KiB reserved + 128 KiB scratch + 832 KiB for weights.
  const k = createFastKernels({ threads: 2, arena: { maxMemoryBytes: 1 << 20, scratchBytes: 128 << 10 } });
  await k.ready();
  const rand = splitmix32(5);
  const mats: { w: Matrix; src: Matrix }[] = [];
  for (let i = 0; i < 3; i++) {
    // 640 × 256 q8_0 = 174 KB each → two fit per memory with the float one below.
    const src = quantizeMatrix(matrix("f32", 640, 256, Float32Array.from({ length: 640 * 256 }, () => rand() * 2 - 1)), "q8_0");
    const w = k.allocMatrix("q8_0", 640, 256);
    (w.data as Uint8Array).set(src.data);
    mats.push({ w, src });
  }
  const f32src = Float32Array.from({ length: 400 * 300 }, () => rand() * 2 - 1); // 480 KB: does not fit beside two q8_0 matrices
  const fw = k.allocMatrix("f32", 400, 300);
  (fw.data as Float32Array).set(f32src);
  mats.push({ w: fw, src: matrix("f32", 400, 300, f32src) });
  assert.ok(k.arena.memories.length >= 2, `expected a spill, have ${k.arena.memories.length} memories`);
  const where = mats.map((m) => k.arena.locate(m.w.data)!.memory.index);
  assert.ok(new Set(where).size >= 2, `matrices in memories ${where}`);
  try {
    for (const { w, src } of mats) {
      for (const T of [1, 5]) {
        const x = Float32Array.from({ length: T * w.cols }, () => rand() * 2 - 1);
        const y = new Float32Array(T * w.rows);
        const yRef = new Float32Array(T * w.rows);
        k.matmul(y, x, w, T);
        refMatmul(yRef, x, src, T);
        let rms = 0, err = 0;
        for (let i = 0; i < y.length; i++) {
          rms += yRef[i]! ** 2;
          err = Math.max(err, Math.abs(y[i]! - yRef[i]!));
        }
        assert.ok(err < 0.05 * Math.sqrt(rms / y.length), `${w.dtype} in memory ${k.arena.locate(w.data)!.memory.index}, T=${T}: ${err}`);
      }
    }
    // The worker learnt about the later memories too: it takes chunks of a job there.
    const late = mats.find((m) => k.arena.locate(m.w.data)!.memory.index > 0)!.w;
    const before = k.pool.workerChunks;
    const x = new Float32Array(late.cols).fill(0.5);
    const y = new Float32Array(late.rows);
    const until = Date.now() + 10_000; // generous: the machine may be busy
    while (k.pool.workerChunks === before && Date.now() < until) k.matmul(y, x, late, 1);
    assert.ok(k.pool.workerChunks > before, "the worker ran no chunk in the second memory");
  } finally {
    await k.close();
  }
});

test("activations beyond the scratch size run in passes; arena activations are used in place", async () => {
  const k = createFastKernels({ threads: 2, arena: { scratchBytes: 16 << 10 } });
  const rand = splitmix32(8);
  try {
    for (const dtype of ["f32", "q8_0", "q6_k"] as const) {
      const O = 70, I = 256, T = 41; // 41 tokens need several passes through 16 KiB of scratch
      const f32 = matrix("f32", O, I, Float32Array.from({ length: O * I }, () => rand() * 2 - 1));
      const src = dtype === "f32" ? f32 : quantizeMatrix(f32, dtype);
      const w = k.allocMatrix(dtype, O, I);
      (w.data as Uint8Array).set(src.data as Uint8Array);
      const x = Float32Array.from({ length: T * I }, () => rand() * 2 - 1);
      const y = new Float32Array(T * O);
      k.matmul(y, x, w, T);
      // Per-token results do not depend on the pass a token falls in: compare with T = 1 calls.
      for (const t of [0, 13, 40]) {
        const one = new Float32Array(O);
        k.matmul(one, x.subarray(t * I, (t + 1) * I), w, 1);
        assert.deepEqual(y.subarray(t * O, (t + 1) * O), one, `${dtype} token ${t}`);
      }
      // x and y in the arena (same memory as w): no copies, same answer.
      const ax = k.alloc("f32", T * I);
      ax.set(x);
      const ay = k.alloc("f32", T * O);
      k.matmul(ay, ax, w, T);
      assert.deepEqual(ay, y, `${dtype} in place`);
    }
  } finally {
    await k.close();
  }
});
