// The segment attention kernels (attn_rows_f32/f16/q8_0 via AttentionKernels.attend) against
// a plain f64 reference on the decoded cache rows, on ragged shapes: GQA, chunk-local and
// global windows, caches whose first row is past position 0, head sizes with SIMD tails.
// Single tokens take the decode kernels (rows split across threads), with the prefill
// kernels' bits. Also: threads and scratch passes do not change a bit, caches outside kernel
// memory are copied in, and the KV memory pool reuses freed blocks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createFastKernels } from "../fast.js";
import { kvSizeClass } from "../fast-attention.js";
import { kvRowBytes, type AttendJob, type KVRows, type KVType } from "../kernels.js";
import { decodeKVRows, encodeKVRows } from "../../model/kv.js";
import { splitmix32 } from "../../synth/synth.js";

interface Case { H: number; Hkv: number; d: number; T: number; p0: number; start: number; extra: number; chunk: number | null }

const CASES: Case[] = [
  { H: 1, Hkv: 1, d: 32, T: 1, p0: 0, start: 0, extra: 0, chunk: null },
  { H: 4, Hkv: 2, d: 64, T: 7, p0: 3, start: 0, extra: 2, chunk: 5 },
  { H: 6, Hkv: 2, d: 96, T: 3, p0: 17, start: 10, extra: 0, chunk: 8 },
  { H: 8, Hkv: 8, d: 32, T: 1, p0: 40, start: 0, extra: 0, chunk: null },
  { H: 5, Hkv: 1, d: 128, T: 12, p0: 9, start: 4, extra: 1, chunk: null },
  // Head sizes that are not multiples of 8 or 32 (f32 and f16 only).
  { H: 3, Hkv: 3, d: 6, T: 4, p0: 2, start: 0, extra: 0, chunk: 3 },
  { H: 4, Hkv: 2, d: 13, T: 5, p0: 30, start: 27, extra: 3, chunk: null },
  // One token over many rows (decode: the rows split into chunks, merged): GQA, a chunk-local
  // window, a cache starting past 0, a ragged last chunk, and a head size that is not a
  // multiple of 4 (the general path).
  { H: 4, Hkv: 2, d: 64, T: 1, p0: 300, start: 0, extra: 0, chunk: null },
  { H: 10, Hkv: 2, d: 32, T: 1, p0: 250, start: 120, extra: 2, chunk: 100 },
  { H: 6, Hkv: 3, d: 96, T: 1, p0: 700, start: 37, extra: 0, chunk: null },
  { H: 4, Hkv: 2, d: 13, T: 1, p0: 90, start: 0, extra: 0, chunk: null },
  // Head sizes that are multiples of 4 but not of 16 (f32 and f16 only), in a block and alone.
  { H: 6, Hkv: 3, d: 20, T: 3, p0: 70, start: 0, extra: 1, chunk: null },
  { H: 2, Hkv: 1, d: 12, T: 1, p0: 130, start: 5, extra: 0, chunk: null },
];

function randomRows(rand: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * 2);
}

/** Output [T, H, d] of the reference in f64 on the stored (decoded) rows. */
function reference(c: Case, q: Float32Array, kv: KVRows, scale: number): Float32Array {
  const kvDim = c.Hkv * c.d;
  const K = new Float32Array(kv.length * kvDim), V = new Float32Array(kv.length * kvDim);
  decodeKVRows(kv.type, kv.k, 0, kv.length, kvDim, K);
  decodeKVRows(kv.type, kv.v, 0, kv.length, kvDim, V);
  const out = new Float32Array(c.T * c.H * c.d);
  const group = c.H / c.Hkv;
  for (let t = 0; t < c.T; t++) {
    const p = c.p0 + t;
    const first = Math.max(c.chunk === null ? 0 : Math.floor(p / c.chunk) * c.chunk, kv.start);
    for (let h = 0; h < c.H; h++) {
      const qo = (t * c.H + h) * c.d, ko = Math.floor(h / group) * c.d;
      const s: number[] = [];
      for (let pos = first; pos <= p; pos++) {
        let dot = 0;
        for (let i = 0; i < c.d; i++) dot += q[qo + i]! * K[(pos - kv.start) * kvDim + ko + i]!;
        s.push(dot * scale);
      }
      const mx = Math.max(...s);
      const e = s.map((x) => Math.exp(x - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < c.d; i++) {
        let acc = 0;
        e.forEach((w, j) => { acc += (w / z) * V[(first + j - kv.start) * kvDim + ko + i]!; });
        out[qo + i] = acc;
      }
    }
  }
  return out;
}

function makeJob(c: Case, type: KVType, rand: () => number, alloc: (bytes: number) => Uint8Array): { job: AttendJob; q: Float32Array } {
  const kvDim = c.Hkv * c.d;
  const rows = c.p0 + c.T - c.start + c.extra;
  const rowBytes = kvRowBytes(type, kvDim);
  const buf = alloc(2 * rows * rowBytes);
  encodeKVRows(type, randomRows(rand, rows * kvDim), rows, kvDim, buf, 0);
  encodeKVRows(type, randomRows(rand, rows * kvDim), rows, kvDim, buf, rows * rowBytes);
  const kv: KVRows = {
    type, rowBytes, start: c.start, length: rows,
    k: buf.subarray(0, rows * rowBytes), v: buf.subarray(rows * rowBytes, 2 * rows * rowBytes),
  };
  // Two extra rows before and after the segment check that only rows row..row+T−1 are touched.
  const q = randomRows(rand, (c.T + 3) * c.H * c.d);
  const out = new Float32Array(q.length).fill(7);
  return { job: { q, out, row: 2, T: c.T, p0: c.p0, H: c.H, Hkv: c.Hkv, d: c.d, chunk: c.chunk, scale: 1 / Math.sqrt(c.d), kv }, q };
}

test("attend: f32, f16 and q8_0 caches match the f64 reference on ragged shapes, on 1 and 2 threads", async () => {
  const k1 = createFastKernels({ threads: 1 });
  const k2 = createFastKernels({ threads: 2, arena: k1.arena });
  // A tiny scratch region forces several passes over the tokens.
  const kSmall = createFastKernels({ threads: 2, arena: { scratchBytes: 16384 } });
  const rand = splitmix32(5);
  let worst = 0;
  for (const type of ["f32", "f16", "q8_0"] as const) {
    for (const c of CASES) {
      if (type === "q8_0" && c.d % 32 !== 0) continue;
      const label = `${type} ${JSON.stringify(c)}`;
      const { job } = makeJob(c, type, rand, (b) => k1.attention.allocKV(b));
      const hd = c.H * c.d;
      const want = reference(c, job.q.subarray(2 * hd), job.kv, job.scale);
      k1.attention.attend(job);
      const got1 = job.out.slice();
      for (let i = 0; i < 2 * hd; i++) assert.equal(got1[i], 7, `${label}: rows before the segment untouched`);
      for (let i = (2 + c.T) * hd; i < got1.length; i++) assert.equal(got1[i], 7, `${label}: rows after the segment untouched`);
      const seg = got1.subarray(2 * hd, (2 + c.T) * hd);
      for (let i = 0; i < want.length; i++) {
        const err = Math.abs(seg[i]! - want[i]!);
        worst = Math.max(worst, err);
        assert.ok(err < 2e-5, `${label}: out[${i}] = ${seg[i]}, reference ${want[i]}`);
      }
      // Two threads, and the same cache copied in from ordinary arrays, and scratch passes: same bits.
      job.out.fill(7);
      k2.attention.attend(job);
      assert.deepEqual(job.out, got1, `${label}: 2 threads`);
      const plain = { ...job.kv, k: job.kv.k.slice(), v: job.kv.v.slice() };
      job.out.fill(7);
      k2.attention.attend({ ...job, kv: plain });
      assert.deepEqual(job.out, got1, `${label}: cache outside kernel memory`);
      // (The long single-token cases need more scratch than kSmall has on either path.)
      if (c.T === 1 && c.p0 - c.start > 64) continue;
      job.out.fill(7);
      kSmall.attention.attend({ ...job, kv: plain });
      // (One token whose decode partials do not fit takes the prefill kernel: the same bits.)
      assert.deepEqual(job.out, got1, `${label}: passes through a small scratch`);
    }
  }
  assert.ok(worst > 0 && worst < 2e-5, `worst error ${worst}`);
  await Promise.all([k1.close(), k2.close(), kSmall.close()]);
});

test("attend: a token decoded alone gives the bits of its row in a prefill, for every KV type", async () => {
  const k2 = createFastKernels({ threads: 2 });
  const rand = splitmix32(11);
  // 150 tokens in chunk-local windows of 100: rows split into one to three 64-row chunks.
  for (const [c, type] of [
    ...(["f32", "f16", "q8_0"] as const).map((t) => [{ H: 4, Hkv: 2, d: 64, T: 150, p0: 0, start: 0, extra: 0, chunk: 100 }, t] as const),
    ...(["f32", "f16"] as const).map((t) => [{ H: 6, Hkv: 3, d: 20, T: 150, p0: 0, start: 0, extra: 0, chunk: 100 }, t] as const),
  ]) {
    const hd = c.H * c.d;
    const { job } = makeJob(c, type, rand, (b) => k2.attention.allocKV(b));
    k2.attention.attend(job);
    const prefill = job.out.slice();
    for (const t of [0, 3, 63, 64, 99, 100, 101, 149]) {
      const one = new Float32Array(hd);
      k2.attention.attend({ ...job, q: job.q.subarray((2 + t) * hd, (3 + t) * hd), out: one, row: 0, T: 1, p0: t });
      assert.deepEqual(one, prefill.subarray((2 + t) * hd, (3 + t) * hd), `${type} d ${c.d}: token ${t}`);
    }
  }
  await k2.close();
});

test("encodeKV writes encodeKVRows' bytes for f16 and q8_0 rows, from kernel memory or ordinary arrays", async () => {
  const k = createFastKernels({ threads: 1 });
  const rand = splitmix32(31);
  const rows = 7, kvDim = 96;
  const src = randomRows(rand, rows * kvDim);
  // f16 edge cases: ties between halves, subnormals, overflow, signed zero; a q8_0 tie block.
  src.set([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -20, -(2 ** -24), 70000, -0, 0, 65520], 0);
  for (let j = 0; j < 32; j++) src[32 + j] = j === 0 ? 127 : (j % 2 ? -1 : 1) * ((j % 40) + 0.5);
  for (const type of ["f16", "q8_0"] as const) {
    const bytes = rows * kvRowBytes(type, kvDim);
    const want = new Uint8Array(bytes + 10);
    encodeKVRows(type, src, rows, kvDim, want, 10);
    for (const from of [src, (() => { const a = k.alloc("f32", src.length); a.set(src); return a; })()]) {
      const dst = k.attention.allocKV(bytes + 10);
      assert.equal(k.attention.encodeKV!(type, from, rows, kvDim, dst, 10), true);
      assert.deepEqual(dst.subarray(0, bytes + 10), want, `${type} from ${k.arena.locate(from) ? "kernel memory" : "an ordinary array"}`);
      k.attention.freeKV(dst);
    }
    assert.equal(k.attention.encodeKV!(type, src, rows, kvDim, new Uint8Array(bytes), 0), false, "ordinary destination: the caller encodes");
  }
  assert.equal(k.attention.encodeKV!("q8_0", src, 1, 48, k.attention.allocKV(64), 0), false, "q8_0 needs rows of whole blocks");
  // f16 over every class of value: bit patterns spread over all exponents, and the specials.
  const bits = Uint32Array.from({ length: 1 << 16 }, () => (rand() * 2 ** 32) >>> 0);
  const all = new Float32Array(bits.buffer);
  all.set([Infinity, -Infinity, NaN, -NaN, 65504, 65519.99, 65520, -65520, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -126, 1e-45], 0);
  const want16 = new Uint8Array(all.length * 2);
  encodeKVRows("f16", all, 1, all.length, want16, 0);
  const got16 = k.attention.allocKV(all.length * 2);
  assert.equal(k.attention.encodeKV!("f16", all, 1, all.length, got16, 0), true);
  assert.deepEqual(got16.subarray(0, all.length * 2), want16, "f16 over all exponents and specials");
  await k.close();
});

test("attend refuses a cache that does not reach the segment", async () => {
  const k = createFastKernels({ threads: 1 });
  const rand = splitmix32(9);
  const { job } = makeJob({ H: 2, Hkv: 1, d: 32, T: 3, p0: 4, start: 0, extra: 0, chunk: null }, "f16", rand, (b) => k.attention.allocKV(b));
  assert.throws(() => k.attention.attend({ ...job, kv: { ...job.kv, length: job.kv.length - 1 } }), /the cache holds positions 0\.\.5, the tokens are at 4\.\.6/);
  await k.close();
});

test("KV memory: size classes, freed blocks are reused, the arena stops growing", async () => {
  assert.equal(kvSizeClass(1), 4096);
  assert.equal(kvSizeClass(4097), 5120);
  assert.equal(kvSizeClass(6144), 6144);
  assert.equal(kvSizeClass(7169), 8192);
  for (let b = 1; b < 1e7; b = Math.ceil(b * 1.37)) {
    const c = kvSizeClass(b);
    assert.ok(c >= b && c <= Math.max(4096, b * 1.25 + 1), `class of ${b} is ${c}`);
  }
  const k = createFastKernels({ threads: 1 });
  const ak = k.attention;
  const sizes = [100, 5000, 70_000, 1_000_000, 5000];
  const round = () => sizes.map((s) => ak.allocKV(s));
  const first = round();
  first.forEach((v, i) => assert.ok(v.byteLength >= sizes[i]! && k.arena.locate(v), `block ${i}`));
  const held = first.reduce((s, v) => s + v.byteLength, 0);
  assert.deepEqual(ak.kvMemory(), { inUse: held, pooled: 0 });
  const arenaBytes = k.arena.bytesAllocated;
  for (const v of first) ak.freeKV(v);
  ak.freeKV(first[0]!); // a second free is ignored
  assert.deepEqual(ak.kvMemory(), { inUse: 0, pooled: held });
  for (let i = 0; i < 3; i++) {
    const again = round();
    assert.equal(k.arena.bytesAllocated, arenaBytes, "no new arena memory");
    assert.deepEqual(ak.kvMemory(), { inUse: held, pooled: 0 });
    for (const v of again) ak.freeKV(v);
  }
  await k.close();
});
