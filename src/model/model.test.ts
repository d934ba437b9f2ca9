// The model's pieces against plain, independent formulations: RoPE frequencies, the
// temperature schedule, top-k routing, the MoE as the references compute it (every expert
// on masked inputs), and attention against an explicit chunked-causal mask.
import { test } from "node:test";
import assert from "node:assert/strict";
import { llama3ScaledFrequency, ropeInverseFrequencies, ropeTables } from "./rope.js";
import { attention, attentionTemperature } from "./attention.js";
import { moe, routeTopK, swiglu } from "./ffn.js";
import type { MoEWeights, SwiGLUWeights, AttentionWeights } from "./weights.js";
import { matrix, type Matrix } from "../kernels/matrix.js";
import { parseLlama4Config, layerKinds } from "./config.js";
import { GrowingLayerCache } from "../runtime/kvcache.js";
import { splitmix32 } from "../synth/synth.js";
import { refKernels } from "../kernels/kernels.js";

function randomMatrix(rand: () => number, rows: number, cols: number): Matrix {
  return matrix("f32", rows, cols, Float32Array.from({ length: rows * cols }, () => rand() * 2 - 1));
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test("Llama-3 RoPE scaling: Scout's hard step, and the smooth band when factors differ", () => {
  const scout = { factor: 16, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositionEmbeddings: 8192 };
  const hi = (2 * Math.PI) / 100; // wavelength 100 < 8192: unchanged
  const lo = (2 * Math.PI) / 20000; // wavelength 20000 > 8192: divided by 16
  assert.equal(llama3ScaledFrequency(hi, scout), hi);
  assert.equal(llama3ScaledFrequency(lo, scout), lo / 16);
  assert.ok(Number.isFinite(llama3ScaledFrequency((2 * Math.PI) / 8192, scout))); // the empty band is guarded
  const l3 = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  const mid = (2 * Math.PI) / 4096; // between 2048 and 8192: blended
  const smooth = (8192 / 4096 - 1) / (4 - 1);
  assert.ok(Math.abs(llama3ScaledFrequency(mid, l3) - ((1 - smooth) * mid / 8 + smooth * mid)) < 1e-15);
  const inv = ropeInverseFrequencies(128, 500000, null);
  assert.equal(inv[0], 1);
  assert.ok(Math.abs(inv[32]! - 500000 ** -0.5) / inv[32]! < 1e-6);
  const { cos, sin } = ropeTables(inv, [3]);
  assert.ok(Math.abs(cos[0]! - Math.cos(3)) < 1e-7 && Math.abs(sin[0]! - Math.sin(3)) < 1e-7);
});

test("attention temperature is 1 until position floor−1, then 1 + scale·ln(2)", () => {
  assert.equal(attentionTemperature(0, 8192, 0.1), 1);
  assert.equal(attentionTemperature(8190, 8192, 0.1), 1);
  assert.equal(attentionTemperature(8191, 8192, 0.1), Math.fround(1 + 0.1 * Math.log(2)));
  assert.equal(attentionTemperature(16383, 8192, 0.1), Math.fround(1 + 0.1 * Math.log(3)));
});

test("routeTopK picks the k largest logits, ties to the lower index, gates by sigmoid", () => {
  const r = routeTopK(Float32Array.from([0.5, 2, 2, -1, 1, 0, 3, 3]), 2, 4, 2);
  assert.deepEqual([...r.expert], [1, 2, 2, 3]);
  close(r.gate, [1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(-3)), 1 / (1 + Math.exp(-3))], 1e-7, "gates");
});

test("MoE equals the reference formulation: every expert on sigmoid-masked inputs, plus the shared expert", () => {
  const rand = splitmix32(3);
  const D = 8, F = 12, E = 5, T = 7;
  const mlp = (): SwiGLUWeights => ({ gate: randomMatrix(rand, F, D), up: randomMatrix(rand, F, D), down: randomMatrix(rand, D, F) });
  const w: MoEWeights = { kind: "moe", router: randomMatrix(rand, E, D), experts: Array.from({ length: E }, mlp), shared: mlp() };
  const x = Float32Array.from({ length: T * D }, () => rand() * 2 - 1);
  for (const k of [1, 2]) {
    const got = new Float32Array(T * D);
    moe(got, x, T, D, w, k, refKernels);
    // Reference: scores = sigmoid(logit) for the top-k, sigmoid(−∞) = 0 elsewhere.
    const want = new Float32Array(T * D);
    swiglu(want, x, T, w.shared, refKernels);
    const logits = new Float32Array(T * E);
    for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += x[t * D + i]! * (w.router.data as Float32Array)[e * D + i]!;
      logits[t * E + e] = s;
    }
    for (let e = 0; e < E; e++) {
      const xin = new Float32Array(T * D);
      for (let t = 0; t < T; t++) {
        const row = [...logits.subarray(t * E, (t + 1) * E)];
        const rank = row.filter((v, j) => v > row[e]! || (v === row[e]! && j < e)).length;
        const score = rank < k ? 1 / (1 + Math.exp(-row[e]!)) : 0;
        for (let i = 0; i < D; i++) xin[t * D + i] = score * x[t * D + i]!;
      }
      const y = new Float32Array(T * D);
      swiglu(y, xin, T, w.experts[e]!, refKernels);
      for (let i = 0; i < T * D; i++) want[i] = want[i]! + y[i]!;
    }
    close(got, want, 1e-5, `moe k=${k}`);
  }
});

/** Plain attention over the whole sequence with an explicit mask, no cache. */
function referenceAttention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, H: number, Hkv: number, d: number, visible: (p: number, j: number) => boolean): Float32Array {
  const o = new Float32Array(T * H * d);
  for (let p = 0; p < T; p++) for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / (H / Hkv));
    const js = [...Array(T).keys()].filter((j) => visible(p, j));
    const s = js.map((j) => { let a = 0; for (let i = 0; i < d; i++) a += q[(p * H + h) * d + i]! * k[(j * Hkv + kh) * d + i]!; return a / Math.sqrt(d); });
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    js.forEach((j, n) => { for (let i = 0; i < d; i++) o[(p * H + h) * d + i] = o[(p * H + h) * d + i]! + (e[n]! / z) * v[(j * Hkv + kh) * d + i]!; });
  }
  return o;
}

test("chunked attention fed in blocks equals an explicit block-diagonal causal mask; NoPE layers see everything", () => {
  const rand = splitmix32(11);
  const H = 4, Hkv = 2, d = 4, D = H * d, C = 4, T = 13;
  const c = parseLlama4Config({ text_config: {
    hidden_size: D, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: d, num_hidden_layers: 4,
    attention_chunk_size: C, use_qk_norm: false, attn_temperature_tuning: false, num_local_experts: 1,
  } }, "test");
  // Identity o_proj and q/k/v taken from x directly, so the check isolates masking.
  const eye = (n: number, cols = n) => matrix("f32", n, cols, Float32Array.from({ length: n * cols }, (_, i) => (Math.floor(i / cols) === i % cols ? 1 : 0)));
  const w: AttentionWeights = { q: eye(H * d, D), k: randomMatrix(rand, Hkv * d, D), v: randomMatrix(rand, Hkv * d, D), o: eye(D, H * d) };
  const x = Float32Array.from({ length: T * D }, () => rand() * 2 - 1);
  const kinds = layerKinds(c);
  const mm = (m: Matrix) => { const out = new Float32Array(T * m.rows); for (let t = 0; t < T; t++) for (let r = 0; r < m.rows; r++) { let s = 0; for (let i = 0; i < D; i++) s += x[t * D + i]! * (m.data as Float32Array)[r * D + i]!; out[t * m.rows + r] = s; } return out; };
  const noRope = { cos: new Float32Array(0), sin: new Float32Array(0) };
  for (const [layer, visible] of [
    [3, (p: number, j: number) => j <= p],
    [0, (p: number, j: number) => j <= p && Math.floor(j / C) === Math.floor(p / C)],
  ] as const) {
    // RoPE off for both so q/k are plain projections; the mask is what differs.
    const kind = { ...kinds[layer]!, rope: false };
    const want = referenceAttention(mm(w.q), mm(w.k), mm(w.v), T, H, Hkv, d, visible);
    for (const block of [1, 3, 5, T]) {
      const cache = new GrowingLayerCache(Hkv * d);
      const got = new Float32Array(T * D);
      for (let s = 0; s < T; s += block) {
        const n = Math.min(block, T - s);
        const out = new Float32Array(n * D);
        attention(out, x.subarray(s * D, (s + n) * D), n, [{ row: 0, length: n, p0: s, cache }], w, kind, c, noRope, refKernels);
        got.set(out, s * D);
      }
      close(got, want, 1e-5, `layer ${layer}, blocks of ${block}`);
      if (kind.chunked) assert.ok(cache.length <= C - 1 + block, `chunked cache holds ${cache.length} rows`);
    }
  }
});
