// The optimized sampler against the straightforward one it replaced (kept here as the oracle):
// for the same seed, the same tokens, over flat, peaked and tied logits at the Llama 4
// vocabulary size and small ones, for every filter and penalty.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sampler, type SamplingParams } from "./sampler.js";
import { Rng } from "./rng.js";
import { logprobsOf } from "./generator.js";

// ---- the reference: the sampler as it was before candidate lists, bucketing and radix sort
class ReferenceSampler {
  private readonly rng: Rng;
  /** Occurrences of each token in the context so far (for the penalties). */
  private readonly counts = new Map<number, number>();
  /** Unnormalised probabilities, reused between draws. */
  private weights = new Float64Array(0);

  constructor(readonly params: SamplingParams = {}) {
        this.rng = new Rng(params.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** Records tokens already in the context (the prompt, or an accepted token). */
  observe(tokens: Iterable<number>): void {
    for (const t of tokens) this.counts.set(t, (this.counts.get(t) ?? 0) + 1);
  }

  /** Picks the next token from `logits` (not modified) and records it. */
  sample(logits: Float32Array): number {
    const token = this.peek(logits);
    this.observe([token]);
    return token;
  }

  /** Picks a token without recording it (the caller may still reject it). */
  peek(logits: Float32Array): number {
    const l = this.adjusted(logits);
    return (this.params.temperature ?? 1) === 0 ? argmaxOf(l) : this.draw(l);
  }

  /** Logits after bias and penalties. */
  adjusted(logits: Float32Array): Float32Array {
    const p = this.params;
    const rep = p.repetitionPenalty ?? 1;
    const pres = p.presencePenalty ?? 0;
    const freq = p.frequencyPenalty ?? 0;
    const bias = p.logitBias;
    if (!bias && rep === 1 && pres === 0 && freq === 0) return logits;
    const l = Float32Array.from(logits);
    if (bias) {
      const entries = bias instanceof Map ? [...bias.entries()] : Object.entries(bias).map(([k, v]) => [Number(k), v] as const);
      for (const [id, b] of entries) {
        if (!Number.isInteger(id) || id < 0 || id >= l.length) throw new RangeError(`logit_bias: token ${id} is outside 0..${l.length - 1}`);
        l[id] = l[id]! + b;
      }
    }
    for (const [id, n] of this.counts) {
      if (id < 0 || id >= l.length) continue;
      let v = l[id]!;
      if (rep !== 1) v = v > 0 ? v / rep : v * rep;
      v -= freq * n + pres;
      l[id] = v;
    }
    return l;
  }

  private draw(l: Float32Array): number {
    const p = this.params;
    const temperature = p.temperature ?? 1;
    const V = l.length;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (l[i]! > max) max = l[i]!;
    if (max === -Infinity) throw new Error("every token is banned (all logits are -Infinity)");
    // Unnormalised probabilities; min-p and top-p only need ratios to the maximum.
    // Tokens more than 28 temperature-units below the best weigh < 7e-13 each: left at 0
    // without an exp, which makes this pass cheap for the usual peaked distributions.
    if (this.weights.length < V) this.weights = new Float64Array(V);
    const w = this.weights;
    const floor = max - 28 * temperature;
    const invT = 1 / temperature;
    let total = 0;
    for (let i = 0; i < V; i++) {
      const x = l[i]!;
      if (x < floor) {
        w[i] = 0;
        continue;
      }
      const e = Math.exp((x - max) * invT);
      w[i] = e;
      total += e;
    }
    const minP = p.minP ?? 0;
    const topK = p.topK && p.topK > 0 ? Math.min(p.topK, V) : V;
    const topP = p.topP ?? 1;

    if (topK === V && topP >= 1) {
      // No ranking filter: draw by scanning the weights in id order, with no candidate list
      // (building one over a 202k vocabulary cost more than the rest of sampling).
      let sum = 0;
      for (let i = 0; i < V; i++) if (w[i]! >= minP) sum += w[i]!;
      let r = this.rng.next() * sum;
      let last = -1;
      for (let i = 0; i < V; i++) {
        const wi = w[i]!;
        if (wi <= 0 || wi < minP) continue;
        last = i;
        r -= wi;
        if (r < 0) return i;
      }
      return last;
    }
    let candidates = topCandidates(w, topK, topP, total);
    if (minP > 0) candidates = candidates.filter((i) => w[i]! >= minP);
    let sum = 0;
    for (const i of candidates) sum += w[i]!;
    let r = this.rng.next() * sum;
    for (const i of candidates) {
      r -= w[i]!;
      if (r < 0) return i;
    }
    return candidates[candidates.length - 1]!;
  }
}

/**
 * The most likely tokens in descending order, cut at k and at cumulative mass p. Grows a
 * partial selection (64, 256, …) instead of sorting the whole vocabulary.
 */
function topCandidates(w: Float64Array, k: number, p: number, total: number): number[] {
  for (let want = Math.min(64, k); ; want = Math.min(want * 4, k)) {
    const top = largestIndices(w, want);
    let mass = 0;
    for (let j = 0; j < top.length; j++) {
      mass += w[top[j]!]!;
      if (mass >= p * total) return top.slice(0, j + 1);
    }
    if (want >= k) return top;
  }
}

/** Indices of the n largest entries, sorted descending (ties → lower index first). */
function largestIndices(w: Float64Array, n: number): number[] {
  if (n >= w.length) return [...w.keys()].sort((a, b) => w[b]! - w[a]! || a - b);
  // Threshold by a min-heap of size n, then sort the survivors.
  const heap: number[] = [];
  const less = (a: number, b: number) => w[a]! < w[b]! || (w[a]! === w[b]! && a > b);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = 0; i < w.length; i++) {
    if (heap.length < n) {
      heap.push(i);
      for (let j = heap.length - 1; j > 0; ) {
        const parent = (j - 1) >> 1;
        if (!less(heap[j]!, heap[parent]!)) break;
        [heap[j], heap[parent]] = [heap[parent]!, heap[j]!];
        j = parent;
      }
    } else if (less(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort((a, b) => w[b]! - w[a]! || a - b);
}

function argmaxOf(l: Float32Array): number {
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i]! > l[best]!) best = i;
  return best;
}

/** log-softmax of the chosen token and the `top` most likely alternatives. */
function referenceLogprobs(logits: Float32Array, token: number, top: number): { chosen: { token: number; logprob: number }; top: { token: number; logprob: number }[] } {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const best: number[] = [];
  if (top > 0) {
    for (let i = 0; i < logits.length; i++) {
      if (best.length < top || logits[i]! > logits[best[best.length - 1]!]!) {
        best.push(i);
        best.sort((a, b) => logits[b]! - logits[a]! || a - b);
        if (best.length > top) best.pop();
      }
    }
  }
  return { chosen: { token, logprob: logits[token]! - lse }, top: best.map((t) => ({ token: t, logprob: logits[t]! - lse })) };
}


// ---- the comparison

function gaussian(rng: Rng): number {
  const u = 1 - rng.next(), v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

type Kind = "flat" | "peaked" | "tied" | "banned";

function logitsOf(kind: Kind, V: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const l = new Float32Array(V);
  for (let i = 0; i < V; i++) {
    const g = gaussian(rng);
    l[i] = kind === "peaked" ? 2.5 * g : kind === "tied" ? Math.round(g * 2) / 2 : g;
  }
  if (kind === "peaked") for (let k = 0; k < 8; k++) l[Math.floor(rng.next() * V)] = 18 + 2 * k;
  if (kind === "tied") for (let i = 0; i < V; i += 7) l[i] = i % 2 ? 0 : -0;
  if (kind === "banned") for (let i = 1; i < V; i++) if (rng.next() < 0.9) l[i] = -Infinity;
  return l;
}

const SETTINGS: SamplingParams[] = [
  { temperature: 0 },
  { temperature: 0.8 },
  { temperature: 1 },
  { temperature: 1.7 },
  { temperature: 0.8, topP: 0.9 },
  { temperature: 1, topP: 0.95 },
  { temperature: 0.5, topP: 0.5 },
  { temperature: 0.8, topK: 40 },
  { temperature: 1, topK: 1 },
  { temperature: 0.8, topK: 1000, topP: 0.9 },
  { temperature: 0.8, minP: 0.05 },
  { temperature: 0.8, topP: 0.9, minP: 0.05 },
  { temperature: 0.8, topK: 40, minP: 0.1 },
  { temperature: 0.8, topP: 0.9, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.2, logitBias: new Map([[3, 5], [4, -Infinity]]) },
  { temperature: 0, repetitionPenalty: 1.5, logitBias: { 1: 2 } },
];

function compare(kind: Kind, V: number, draws: number, logitSets: number, seeds = [1, 2]): void {
  const sets = Array.from({ length: logitSets }, (_, i) => logitsOf(kind, V, 1000 + i));
  for (const params of SETTINGS) {
    for (const seed of seeds) {
      const a = new Sampler({ ...params, seed });
      const b = new ReferenceSampler({ ...params, seed });
      for (const s of [a, b]) s.observe([1, 2, 3, 3, 5]);
      for (let d = 0; d < draws; d++) {
        const l = sets[d % sets.length]!;
        assert.equal(a.sample(l), b.sample(l), `${kind} V=${V} ${JSON.stringify(params)} seed ${seed} draw ${d}`);
      }
    }
  }
}

test("same seed, same tokens as the reference sampler: small vocabularies", () => {
  for (const kind of ["flat", "peaked", "tied", "banned"] as const) {
    compare(kind, 6, 200, 3);
    compare(kind, 300, 60, 3);
    compare(kind, 5000, 20, 2);
  }
});

test("same seed, same tokens as the reference sampler: the Llama 4 vocabulary", () => {
  for (const kind of ["flat", "peaked", "tied"] as const) compare(kind, 202048, 2, 2, [kind === "flat" ? 1 : 2]);
});

test("logprobs: the same numbers and alternatives as the reference", () => {
  for (const kind of ["flat", "peaked", "tied", "banned"] as const) {
    for (const V of [6, 5000, 202048]) {
      const l = logitsOf(kind, V, 77);
      for (const top of [0, 1, 5, 20]) {
        for (const token of [0, V - 1, 3]) assert.deepEqual(logprobsOf(l, token, top), referenceLogprobs(l, token, top), `${kind} V=${V} top ${top}`);
      }
    }
  }
});
