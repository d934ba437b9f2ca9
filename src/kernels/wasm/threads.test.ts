// The thread pool: 1, 2 and 3 threads give bit-identical results (rows are split by
// chunks, never by reduction order), workers really take chunks, kernel failures in any
// thread surface as exceptions, close() stops the pool, and an unclosed pool lets the
// process exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createFastKernels } from "../fast.js";
import { matrix, quantizeMatrix, type Matrix, type WeightDType } from "../matrix.js";
import { f32ToBf16, f32ToF16 } from "../dtype.js";
import { WasmArena } from "./arena.js";
import { splitmix32 } from "../../synth/synth.js";

function randomIn(arena: WasmArena, rand: () => number, dtype: WeightDType, rows: number, cols: number): Matrix {
  const src = Float32Array.from({ length: rows * cols }, () => rand() * 2 - 1);
  let m: Matrix = matrix("f32", rows, cols, src);
  if (dtype === "f16") m = matrix("f16", rows, cols, Uint16Array.from(src, f32ToF16));
  else if (dtype === "bf16") m = matrix("bf16", rows, cols, Uint16Array.from(src, f32ToBf16));
  else if (dtype !== "f32") m = quantizeMatrix(m, dtype);
  const a = arena.allocMatrix(dtype, rows, cols);
  (a.data as Uint8Array).set(m.data as Uint8Array);
  return a;
}

test("threads 1, 2 and 3 give identical results, with the workers taking part", async () => {
  const arena = new WasmArena({ scratchBytes: 8 << 20 });
  const sets = [1, 2, 3].map((threads) => createFastKernels({ threads, arena }));
  await Promise.all(sets.map((k) => k.ready()));
  const rand = splitmix32(77);
  try {
    for (const [dtype, I] of [["f32", 100], ["bf16", 64], ["f16", 48], ["q8_0", 256], ["q4_0", 64], ["q4_k", 256], ["q5_k", 512], ["q6_k", 256]] as const) {
      const O = 1001; // not a multiple of any chunk or thread count
      const w = randomIn(arena, rand, dtype, O, I);
      for (const T of [1, 3, 9]) {
        const x = Float32Array.from({ length: T * I }, () => rand() * 2 - 1);
        const ys = sets.map((k) => {
          const y = new Float32Array(T * O);
          k.matmul(y, x, w, T);
          return y;
        });
        assert.deepEqual(ys[1], ys[0], `${dtype} T=${T}: 2 threads`);
        assert.deepEqual(ys[2], ys[0], `${dtype} T=${T}: 3 threads`);
      }
    }
    // Workers wake within microseconds; give them enough jobs to show up.
    const w = randomIn(arena, rand, "f32", 4096, 256);
    const x = Float32Array.from({ length: 256 }, () => rand());
    const y = new Float32Array(4096);
    for (const k of sets.slice(1)) {
      const until = Date.now() + 10_000; // generous: the machine may be busy
      while (k.pool.workerChunks === 0 && Date.now() < until) k.matmul(y, x, w, 1);
      assert.ok(k.pool.workerChunks > 0, `${k.name}: workers ran no chunk`);
    }
  } finally {
    await Promise.all(sets.map((k) => k.close()));
  }
});

test("a kernel failure in any thread throws, the pool stays usable, and close() stops it", async () => {
  const k = createFastKernels({ threads: 2 });
  await k.ready();
  const w = k.allocMatrix("f32", 64, 64);
  const memory = k.arena.locate(w.data)!.memory;
  // Weights "at" the last bytes of the memory: every chunk reads out of bounds.
  const beyond = memory.memory.buffer.byteLength - 16;
  assert.throws(() => k.pool.run(0, "matmul_f32", [memory.scratchOffset, memory.scratchOffset, 0, 0, beyond, 1, 64, 64], 64, 4), /matmul_f32 failed: .*out of bounds/);
  const y = new Float32Array(64);
  k.matmul(y, new Float32Array(64).fill(1), w, 1);
  assert.deepEqual(y, new Float32Array(64));
  await k.close();
  assert.throws(() => k.matmul(y, new Float32Array(64), w, 1), /closed/);
});

test("a process with an open pool exits on its own", () => {
  const fast = new URL("../fast.ts", import.meta.url).href;
  const script = `
    import { createFastKernels } from ${JSON.stringify(fast)};
    const k = createFastKernels({ threads: 3 });
    await k.ready();
    const w = k.allocMatrix("f32", 256, 256);
    k.matmul(new Float32Array(256), new Float32Array(256), w, 1);
    console.log("done");
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: fileURLToPath(new URL("../../..", import.meta.url)),
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.error, undefined, "the child did not exit in time");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done/);
});
