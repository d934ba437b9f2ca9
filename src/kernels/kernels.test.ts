// Kernels against plain double loops on random, ragged shapes, and the float conversions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { matmul, rmsNorm, softmaxInPlace, ropeInterleaved } from "./ref/ops.js";
import { matrix } from "./matrix.js";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToBf16Array, f32ToF16 } from "./dtype.js";
import { splitmix32 } from "../synth/synth.js";

test("f16 and bf16 conversions round to nearest even and round-trip every finite value", () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(1e6), 0x7c00); // overflow → +inf
  assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToF32(h);
    if (Number.isFinite(v)) assert.equal(f32ToF16(v), h === 0x8000 ? 0x8000 : h, `f16 ${h.toString(16)}`);
  }
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(bf16ToF32(0xbf80), -1);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
  const src = Float32Array.from([1.5, -0.1, 3e38, NaN]);
  const dst = new Uint16Array(4);
  f32ToBf16Array(src, dst);
  assert.deepEqual([...dst].slice(0, 3), [f32ToBf16(1.5), f32ToBf16(-0.1), f32ToBf16(3e38)]);
  assert.ok(Number.isNaN(bf16ToF32(dst[3]!)));
});

test("matmul in f32, f16 and bf16 equals a naive loop over the widened weights, on ragged shapes", () => {
  const rand = splitmix32(5);
  for (const [T, O, I] of [[1, 1, 1], [3, 7, 5], [5, 13, 33], [2, 64, 67]] as const) {
    const x = Float32Array.from({ length: T * I }, () => rand() * 2 - 1);
    const f32 = Float32Array.from({ length: O * I }, () => rand() * 2 - 1);
    const variants = [
      { m: matrix("f32", O, I, f32), widen: (i: number) => f32[i]! },
      { m: matrix("f16", O, I, Uint16Array.from(f32, f32ToF16)), widen: (i: number) => f16ToF32(f32ToF16(f32[i]!)) },
      { m: matrix("bf16", O, I, Uint16Array.from(f32, f32ToBf16)), widen: (i: number) => bf16ToF32(f32ToBf16(f32[i]!)) },
    ];
    for (const { m, widen } of variants) {
      const y = new Float32Array(T * O);
      matmul(y, x, m, T);
      for (let t = 0; t < T; t++) for (let o = 0; o < O; o++) {
        let s = 0;
        for (let i = 0; i < I; i++) s += x[t * I + i]! * widen(o * I + i);
        assert.ok(Math.abs(y[t * O + o]! - s) < 1e-5, `${m.dtype} [${T},${O},${I}] at ${t},${o}`);
      }
    }
  }
  assert.throws(() => matmul(new Float32Array(1), new Float32Array(1), matrix("f32", 2, 1, new Float32Array(2)), 1), /matmul/);
});

test("rmsNorm, softmax and RoPE match their definitions", () => {
  const x = Float32Array.from([1, 2, 3, 4, -1, 0, 0, 1]);
  const out = new Float32Array(8);
  rmsNorm(out, x, Float32Array.from([1, 2, 1, 0.5]), 1e-5, 2, 4);
  const r0 = 1 / Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-5);
  assert.ok(Math.abs(out[1]! - 2 * r0 * 2) < 1e-6);
  assert.ok(Math.abs(out[7]! - 0.5 / Math.sqrt(2 / 4 + 1e-5)) < 1e-6);

  const s = Float32Array.from([1000, 1001, 999]);
  softmaxInPlace(s, 3);
  const e = [Math.exp(-1), 1, Math.exp(-2)];
  const z = e[0]! + e[1]! + e[2]!;
  e.forEach((v, i) => assert.ok(Math.abs(s[i]! - v / z) < 1e-6));

  // One head of 4 dims at angles a (pair 0) and b (pair 1): (x0 + i·x1)·e^{ia}.
  const v = Float32Array.from([1, 2, 3, 4]);
  const a = 0.3, b = 1.1;
  ropeInterleaved(v, Float32Array.from([Math.cos(a), Math.cos(b)]), Float32Array.from([Math.sin(a), Math.sin(b)]), 1, 1, 4);
  const want = [Math.cos(a) - 2 * Math.sin(a), Math.sin(a) + 2 * Math.cos(a), 3 * Math.cos(b) - 4 * Math.sin(b), 3 * Math.sin(b) + 4 * Math.cos(b)];
  want.forEach((w, i) => assert.ok(Math.abs(v[i]! - w) < 1e-6, `rope[${i}]`));
});
