// Attention microbenchmark: one segment against a KV cache in kernel memory, for each KV type,
// through AttentionKernels.attend (one threaded call), and for comparison the earlier path
// (the cache copied into scratch, then three per-head kernel calls per token and head).
//   npx tsx scripts/bench-attention.ts [threads] [H Hkv d]
import { createFastKernels } from "../src/kernels/fast.js";
import { kvRowBytes, type KVType } from "../src/kernels/kernels.js";
import { encodeKVRows } from "../src/model/kv.js";

const threads = Number(process.argv[2] ?? 1);
const [H, Hkv, d] = [Number(process.argv[3] ?? 8), Number(process.argv[4] ?? 2), Number(process.argv[5] ?? 64)];
const k = createFastKernels({ threads });
await k.ready();
const ak = k.attention;
const kvDim = Hkv * d;

/** The pre-attend path: copy K and V (f32) into scratch, then per (token, head) scores, softmax, accumulate. */
function perHead(q: Float32Array, o: Float32Array, K: Float32Array, V: Float32Array, rows: number, T: number, p0: number): void {
  const Ks = ak.scratch(0, rows * kvDim), Vs = ak.scratch(1, rows * kvDim);
  Ks.set(K.subarray(0, rows * kvDim));
  Vs.set(V.subarray(0, rows * kvDim));
  const qh = ak.scratch(2, d), scores = ak.scratch(3, rows), acc = ak.scratch(4, d);
  const group = H / Hkv;
  for (let t = 0; t < T; t++) {
    const n = p0 + t + 1;
    for (let h = 0; h < H; h++) {
      const qo = (t * H + h) * d, ko = Math.floor(h / group) * d;
      qh.set(q.subarray(qo, qo + d));
      ak.attnScores(scores, qh, Ks.subarray(ko), kvDim, n, d, 1 / Math.sqrt(d));
      ak.softmaxInPlace(scores, n);
      acc.fill(0, 0, d);
      ak.attnAccumulate(acc, scores, Vs.subarray(ko), kvDim, n, d);
      o.set(acc.subarray(0, d), qo);
    }
  }
}

function time(f: () => void, reps: number): number {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return best * 1000;
}

console.log(`H ${H}, Hkv ${Hkv}, d ${d}, ${threads} thread(s); µs per call, best of 3`);
for (const [label, T, p0] of [["prefill 512", 512, 0], ["decode @600", 1, 599], ["decode @4000", 1, 3999]] as const) {
  const rows = p0 + T;
  const src = Float32Array.from({ length: rows * kvDim }, (_, i) => Math.sin(i));
  const q = Float32Array.from({ length: T * H * d }, (_, i) => Math.cos(i));
  const out = new Float32Array(T * H * d);
  const reps = T > 1 ? 5 : 300;
  const cols = [`old f32 ${time(() => perHead(q, out, src, src, rows, T, p0), reps).toFixed(0)}`];
  for (const type of ["f32", "f16", "q8_0"] as KVType[]) {
    const rb = kvRowBytes(type, kvDim);
    const buf = ak.allocKV(2 * rows * rb);
    encodeKVRows(type, src, rows, kvDim, buf, 0);
    encodeKVRows(type, src, rows, kvDim, buf, rows * rb);
    const kv = { type, rowBytes: rb, k: buf.subarray(0, rows * rb), v: buf.subarray(rows * rb), start: 0, length: rows };
    const job = { q, out, row: 0, T, p0, H, Hkv, d, chunk: null, scale: 1 / Math.sqrt(d), kv };
    cols.push(`${type} ${time(() => ak.attend(job), reps).toFixed(0)}`);
    ak.freeKV(buf);
  }
  console.log(`${label.padEnd(13)} ${cols.join("  ")}`);
}
await k.close();
