// Quantized block formats: hand-derived byte vectors for Q8_0/Q4_0, the documented K-quant
// layouts decoded from hand-packed blocks, round-trip error bounds for every type on ragged
// row counts, and the quantized matmul against a naive loop over dequantized weights.
import { test } from "node:test";
import assert from "node:assert/strict";
import { QUANT_DTYPES, QUANT_FORMATS, dequantizeRow, dequantizeRows, quantRowBytes, quantizeRows, type QuantDType } from "./index.js";
import { f32ToF16, f16ToF32 } from "../dtype.js";
import { matrix, quantizeMatrix, readRow } from "../matrix.js";
import { embeddingRow, matmul } from "../ref/ops.js";
import { splitmix32 } from "../../synth/synth.js";

function gaussian(rand: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

test("Q8_0: hand-derived bytes (d = amax/127 as f16, q = roundf(x/d), ties away from zero)", () => {
  const x = new Float32Array(32);
  x.set([127, -63.5, 1, 0.5, -0.5, 2.5, -127]);
  const y = quantizeRows("q8_0", x, 1, 32);
  const expected = new Uint8Array(34);
  expected.set([0x00, 0x3c, 0x7f, 0xc0, 0x01, 0x01, 0xff, 0x03, 0x81]); // d = 1.0 (f16 0x3c00)
  assert.deepEqual([...y], [...expected]);
  const back = new Float32Array(32);
  dequantizeRow("q8_0", y, 0, back, 32);
  assert.deepEqual([...back.subarray(0, 7)], [127, -64, 1, 1, -1, 3, -127]);
  // All zeros: d = 0 and every q = 0.
  assert.deepEqual([...quantizeRows("q8_0", new Float32Array(32), 1, 32)], new Array(34).fill(0));
});

test("Q4_0: hand-derived bytes (d = max/−8, q = min(15, trunc(x/d + 8.5)), nibbles j | j+16)", () => {
  const x = new Float32Array(32);
  x[0] = -8; // largest magnitude, negative: d = 1
  x[1] = 7; // 15.5 → 15
  x[3] = 7.6; // 16.1 → clamped to 15
  x[16] = 3; // 11.5 → 11
  x[17] = -0.5; // 8.0 → 8
  x[18] = -0.6; // 7.9 → 7
  const y = quantizeRows("q4_0", x, 1, 32);
  const expected = new Uint8Array(18).fill(0x88);
  expected[0] = 0x00;
  expected[1] = 0x3c; // d = 1.0
  expected[2] = 0x00 | (11 << 4);
  expected[3] = 15 | (8 << 4);
  expected[4] = 8 | (7 << 4);
  expected[5] = 15 | (8 << 4);
  assert.deepEqual([...y], [...expected]);
  const back = new Float32Array(32);
  dequantizeRow("q4_0", y, 0, back, 32);
  assert.deepEqual([back[0], back[1], back[2], back[3], back[16], back[17], back[18]], [-8, 7, 0, 7, 3, 0, -1]);

  // Largest magnitude positive: d = −1 (f16 0xbc00), and x = 8 maps to q = 0.
  const z = new Float32Array(32);
  z[5] = 8;
  const yz = quantizeRows("q4_0", z, 1, 32);
  assert.deepEqual([yz[0], yz[1], yz[2 + 5]! & 0x0f], [0x00, 0xbc, 0]);
});

/** The 12 scale bytes of Q4_K/Q5_K from 8 (scale, min) pairs, written from the layout description. */
function packScalesMins(sc: number[], m: number[]): number[] {
  const b = new Array<number>(12).fill(0);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      b[j]! |= sc[j]! & 63;
      b[j + 4]! |= m[j]! & 63;
    } else {
      b[j + 4] = (sc[j]! & 0x0f) | ((m[j]! & 0x0f) << 4);
      b[j - 4]! |= (sc[j]! >> 4) << 6;
      b[j]! |= (m[j]! >> 4) << 6;
    }
  }
  return b;
}

test("Q4_K and Q5_K decode hand-packed blocks: x = d·sc_j·q − dmin·m_j, 6-bit scales, nibble halves, qh bits", () => {
  const sc = [40, 41, 42, 43, 44, 45, 46, 47];
  const m = [50, 49, 48, 47, 46, 45, 44, 43];
  const d = 0.5;
  const dmin = 0.25;
  const q = (i: number) => (i * 7) % 16; // 4-bit level of weight i
  const hi = (i: number) => (i % 3 === 0 ? 1 : 0); // Q5_K fifth bit of weight i
  const expected = (i: number, five: boolean) => {
    const j = Math.floor(i / 32);
    return d * sc[j]! * (q(i) + (five ? 16 * hi(i) : 0)) - dmin * m[j]!;
  };
  const header = (block: Uint8Array) => {
    block.set([f32ToF16(d) & 0xff, f32ToF16(d) >> 8, f32ToF16(dmin) & 0xff, f32ToF16(dmin) >> 8, ...packScalesMins(sc, m)]);
  };

  const q4 = new Uint8Array(144);
  header(q4);
  for (let k = 0; k < 4; k++) for (let l = 0; l < 32; l++) q4[16 + 32 * k + l] = q(64 * k + l) | (q(64 * k + 32 + l) << 4);
  const out4 = new Float32Array(256);
  dequantizeRow("q4_k", q4, 0, out4, 256);
  for (let i = 0; i < 256; i++) assert.equal(out4[i], expected(i, false), `q4_k weight ${i}`);

  const q5 = new Uint8Array(176);
  header(q5);
  for (let k = 0; k < 4; k++) {
    for (let l = 0; l < 32; l++) {
      q5[48 + 32 * k + l] = q(64 * k + l) | (q(64 * k + 32 + l) << 4);
      q5[16 + l]! |= (hi(64 * k + l) << (2 * k)) | (hi(64 * k + 32 + l) << (2 * k + 1));
    }
  }
  const out5 = new Float32Array(256);
  dequantizeRow("q5_k", q5, 0, out5, 256);
  for (let i = 0; i < 256; i++) assert.equal(out5[i], expected(i, true), `q5_k weight ${i}`);
});

test("Q6_K decodes a hand-packed block: x = d·scale_j·(q − 32), ql/qh interleaving per 128 weights", () => {
  const d = 0.125;
  const scale = (j: number) => (j % 2 === 0 ? j + 1 : -(j + 1)); // int8 scale of sub-block j (16 weights)
  const level = (i: number) => (i * 37) % 64; // 6-bit level of weight i
  const block = new Uint8Array(210);
  for (let half = 0; half < 2; half++) {
    for (let l = 0; l < 32; l++) {
      const base = 128 * half;
      const [a, b, c, e] = [level(base + l), level(base + l + 32), level(base + l + 64), level(base + l + 96)];
      block[64 * half + l] = (a & 15) | ((c & 15) << 4);
      block[64 * half + l + 32] = (b & 15) | ((e & 15) << 4);
      block[128 + 32 * half + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
    }
  }
  for (let j = 0; j < 16; j++) block[192 + j] = scale(j) & 0xff;
  block[208] = f32ToF16(d) & 0xff;
  block[209] = f32ToF16(d) >> 8;
  const out = new Float32Array(256);
  dequantizeRow("q6_k", block, 0, out, 256);
  for (let i = 0; i < 256; i++) assert.equal(out[i], d * scale(Math.floor(i / 16)) * (level(i) - 32), `weight ${i}`);
});

// Bounds on |x − dequant(quant(x))|, in units of each block's largest |x|, and on the
// relative RMS error over Gaussian data (measured values are well inside: see the asserts).
const MAX_ERR_PER_AMAX: Record<QuantDType, number> = {
  q8_0: 0.57 / 127, // half a step, plus the f16 rounding of d on up to 127 steps
  q4_0: 1.01 / 8, // one full step where the side opposite the largest value clamps at q = 15
  q5_0: 1.01 / 16,
  q4_k: 0.2,
  q5_k: 0.1,
  q6_k: 0.04,
};
const REL_RMS: Record<QuantDType, number> = { q8_0: 0.01, q4_0: 0.12, q5_0: 0.06, q4_k: 0.1, q5_k: 0.05, q6_k: 0.025 };

test("every type: dequant(quant(x)) within its error bound, on ragged row counts", () => {
  const rand = splitmix32(11);
  for (const dtype of QUANT_DTYPES) {
    const { blockSize } = QUANT_FORMATS[dtype];
    for (const [rows, blocks, outlier] of [[1, 1, false], [3, 2, false], [7, 1, false], [2, 3, true], [1, 2, true]] as const) {
      const cols = blocks * blockSize;
      const x = gaussian(rand, rows * cols, 0.02);
      if (outlier) x[5] = 0.3;
      const q = quantizeRows(dtype, x, rows, cols);
      assert.equal(q.length, rows * quantRowBytes(dtype, cols));
      const back = dequantizeRows(dtype, q, rows, cols);
      let se = 0;
      let sx = 0;
      for (let b = 0; b < (rows * cols) / blockSize; b++) {
        let amax = 0;
        for (let i = 0; i < blockSize; i++) amax = Math.max(amax, Math.abs(x[b * blockSize + i]!));
        for (let i = 0; i < blockSize; i++) {
          const k = b * blockSize + i;
          const err = Math.abs(x[k]! - back[k]!);
          assert.ok(err <= MAX_ERR_PER_AMAX[dtype] * amax + 1e-12, `${dtype} [${rows}, ${cols}] weight ${k}: error ${err} vs amax ${amax}`);
          se += err * err;
          sx += x[k]! * x[k]!;
        }
      }
      const rel = Math.sqrt(se / sx);
      if (process.env.LLAMA4_DEBUG) console.log(dtype, rows, cols, outlier, rel.toFixed(4));
      if (!outlier) assert.ok(rel < REL_RMS[dtype], `${dtype} [${rows}, ${cols}]: relative RMS error ${rel.toFixed(4)}`);
    }
  }
});

test("every type: zero, constant and all-negative blocks", () => {
  for (const dtype of QUANT_DTYPES) {
    const n = QUANT_FORMATS[dtype].blockSize;
    const zero = dequantizeRows(dtype, quantizeRows(dtype, new Float32Array(n), 1, n), 1, n);
    assert.ok(zero.every((v) => v === 0), `${dtype} zeros`);
    for (const c of [0.75, -0.75]) {
      const back = dequantizeRows(dtype, quantizeRows(dtype, new Float32Array(n).fill(c), 1, n), 1, n);
      for (const v of back) assert.ok(Math.abs(v - c) <= 0.1 * Math.abs(c), `${dtype} constant ${c}: got ${v}`);
    }
  }
});

test("quantized rows reject lengths that are not whole blocks", () => {
  assert.throws(() => quantRowBytes("q8_0", 48), /multiple of 32/);
  assert.throws(() => quantizeRows("q4_k", new Float32Array(128), 1, 128), /multiple of 256/);
  assert.throws(() => matrix("q4_0", 2, 40, new Uint8Array(2 * 18)), /multiple of the q4_0 block size/);
  assert.throws(() => matrix("q8_0", 2, 32, new Uint8Array(34)), /needs 68 bytes/);
});

test("matmul and embedding lookups on quantized matrices equal loops over the dequantized weights", () => {
  const rand = splitmix32(3);
  for (const dtype of QUANT_DTYPES) {
    const I = 2 * QUANT_FORMATS[dtype].blockSize;
    for (const [T, O] of [[1, 1], [3, 5], [2, 9]] as const) {
      const w32 = gaussian(rand, O * I, 0.1);
      const w = quantizeMatrix(matrix("f32", O, I, w32), dtype);
      assert.equal(w.data.length, O * quantRowBytes(dtype, I));
      const dense = dequantizeRows(dtype, w.data, O, I);
      const x = gaussian(rand, T * I);
      const y = new Float32Array(T * O);
      matmul(y, x, w, T);
      for (let t = 0; t < T; t++) {
        for (let o = 0; o < O; o++) {
          let s = 0;
          for (let i = 0; i < I; i++) s += x[t * I + i]! * dense[o * I + i]!;
          assert.ok(Math.abs(y[t * O + o]! - s) < 1e-5, `${dtype} [${T},${O},${I}] at ${t},${o}`);
        }
      }
      const row = new Float32Array(I);
      embeddingRow(row, w, O - 1);
      assert.deepEqual([...row], [...dense.subarray((O - 1) * I, O * I)]);
      readRow(w, 0, row);
      assert.deepEqual([...row], [...dense.subarray(0, I)]);
    }
  }
  // f16 re-quantization goes through the widened row.
  const h = matrix("f16", 1, 32, Uint16Array.from({ length: 32 }, (_, i) => f32ToF16(i / 8)));
  const q = quantizeMatrix(h, "q8_0");
  const back = dequantizeRows("q8_0", q.data, 1, 32);
  for (let i = 0; i < 32; i++) assert.ok(Math.abs(back[i]! - f16ToF32(f32ToF16(i / 8))) < 0.02);
});
