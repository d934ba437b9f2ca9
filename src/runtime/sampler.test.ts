// Sampling: greedy, seeded reproducibility, the distribution it draws from, and each filter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sampler } from "./sampler.js";
import { Rng } from "./rng.js";

const logits = Float32Array.from([2, 1, 0.5, 3, -1, 0]);

function histogram(s: Sampler, n: number, l = logits): number[] {
  const h = new Array<number>(l.length).fill(0);
  for (let i = 0; i < n; i++) h[s.sample(l)]!++;
  return h;
}

test("the generator is seeded and uniform", () => {
  const a = new Rng(1), b = new Rng(1), c = new Rng(2);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(Array.from({ length: 5 }, () => b.next()), xs);
  assert.notDeepEqual(Array.from({ length: 5 }, () => c.next()), xs);
  let mean = 0;
  for (let i = 0; i < 10000; i++) mean += a.next() / 10000;
  assert.ok(Math.abs(mean - 0.5) < 0.02);
});

test("temperature 0 is argmax; same seed gives the same samples", () => {
  assert.equal(new Sampler({ temperature: 0 }).sample(logits), 3);
  const draw = (seed: number) => { const s = new Sampler({ temperature: 1, seed }); return Array.from({ length: 20 }, () => s.sample(logits)); };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

test("samples follow softmax(logits / T)", () => {
  for (const T of [1, 0.5]) {
    const n = 20000;
    const h = histogram(new Sampler({ temperature: T, seed: 3 }), n);
    const e = [...logits].map((x) => Math.exp(x / T));
    const z = e.reduce((a, b) => a + b, 0);
    e.forEach((v, i) => assert.ok(Math.abs(h[i]! / n - v / z) < 0.015, `T=${T} token ${i}: ${h[i]! / n} vs ${v / z}`));
  }
});

test("top-k, top-p and min-p restrict the candidates", () => {
  const topK = histogram(new Sampler({ temperature: 1, topK: 2, seed: 1 }), 2000);
  assert.deepEqual(topK.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0), [0, 3]);
  // p(3) ≈ 0.605, p(0) ≈ 0.222: top-p 0.7 keeps exactly {3, 0}; 0.6 keeps {3}.
  const topP = histogram(new Sampler({ temperature: 1, topP: 0.7, seed: 1 }), 2000);
  assert.deepEqual(topP.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0), [0, 3]);
  assert.deepEqual(histogram(new Sampler({ temperature: 1, topP: 0.6, seed: 1 }), 200).map((c) => c > 0), [false, false, false, true, false, false]);
  // min-p 0.3: keep tokens with p >= 0.3·p(3), i.e. logit >= 3 + ln 0.3 ≈ 1.8.
  const minP = histogram(new Sampler({ temperature: 1, minP: 0.3, seed: 1 }), 2000);
  assert.deepEqual(minP.map((c) => c > 0), [true, false, false, true, false, false]);
  // A large vocabulary exercises the partial selection.
  const big = Float32Array.from({ length: 202048 }, (_, i) => (i % 1000 === 0 ? 10 : 0));
  const s = new Sampler({ temperature: 1, topP: 0.9, seed: 5 });
  for (let i = 0; i < 50; i++) assert.equal(s.sample(big) % 1000, 0);
});

test("penalties and logit bias", () => {
  const rep = new Sampler({ temperature: 0, repetitionPenalty: 2 });
  rep.observe([3]);
  assert.equal(rep.sample(logits), 0); // 3 → 1.5 < 2
  const freq = new Sampler({ temperature: 0, frequencyPenalty: 0.6 });
  freq.observe([3, 3]);
  assert.equal(freq.sample(logits), 0); // 3 − 1.2 = 1.8 < 2
  const pres = new Sampler({ temperature: 0, presencePenalty: 0.5 });
  pres.observe([3, 3, 3]);
  assert.equal(pres.sample(logits), 3); // 2.5 still the largest
  assert.equal(new Sampler({ temperature: 0, logitBias: { 3: -Infinity } }).sample(logits), 0);
  assert.equal(new Sampler({ temperature: 1, logitBias: new Map([[4, 100]]), seed: 2 }).sample(logits), 4);
  assert.throws(() => new Sampler({ temperature: 0, logitBias: { 99: 1 } }).sample(logits), /logit_bias: token 99/);
  assert.throws(() => new Sampler({ temperature: 1, logitBias: Object.fromEntries([...logits.keys()].map((i) => [i, -Infinity])) }).sample(logits), /banned/);
});

test("invalid parameters are refused by name", () => {
  assert.throws(() => new Sampler({ temperature: -1 }), /temperature/);
  assert.throws(() => new Sampler({ topP: 0 }), /top_p/);
  assert.throws(() => new Sampler({ topK: 1.5 }), /top_k/);
  assert.throws(() => new Sampler({ minP: 2 }), /min_p/);
  assert.throws(() => new Sampler({ repetitionPenalty: 0 }), /repetition_penalty/);
});
