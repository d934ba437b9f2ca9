// Choosing the next token from logits [V]: logit bias, repetition / presence / frequency
// penalties, then greedy (temperature 0) or temperature sampling restricted by top-k,
// top-p and min-p, from a seeded generator. Works on a candidate list, so the 202k-entry
// vocabulary is sorted only as far as top-p needs.
import { Rng } from "./rng.js";

export interface SamplingParams {
  /** 0 = greedy. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0 or undefined: no limit). */
  readonly topK?: number;
  /** Keep the smallest set whose probability reaches p (1: no limit). */
  readonly topP?: number;
  /** Drop tokens less likely than minP × the most likely one. */
  readonly minP?: number;
  /** > 1 discourages tokens already seen (HF/CTRL rule: divide positive logits, multiply negative ones). */
  readonly repetitionPenalty?: number;
  /** OpenAI-style: subtract once for any token seen. */
  readonly presencePenalty?: number;
  /** OpenAI-style: subtract per occurrence. */
  readonly frequencyPenalty?: number;
  /** Added to the logits of the given ids (−Infinity bans a token). */
  readonly logitBias?: ReadonlyMap<number, number> | Readonly<Record<number, number>>;
  readonly seed?: number;
}

export function validateSamplingParams(p: SamplingParams): void {
  const check = (name: string, v: number | undefined, ok: (v: number) => boolean, want: string) => {
    if (v !== undefined && (!Number.isFinite(v) || !ok(v))) throw new RangeError(`${name} must be ${want}, got ${v}`);
  };
  check("temperature", p.temperature, (v) => v >= 0, ">= 0");
  check("top_k", p.topK, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
  check("top_p", p.topP, (v) => v > 0 && v <= 1, "in (0, 1]");
  check("min_p", p.minP, (v) => v >= 0 && v <= 1, "in [0, 1]");
  check("repetition_penalty", p.repetitionPenalty, (v) => v > 0, "> 0");
  check("presence_penalty", p.presencePenalty, () => true, "finite");
  check("frequency_penalty", p.frequencyPenalty, () => true, "finite");
}

export class Sampler {
  private readonly rng: Rng;
  /** Occurrences of each token in the context so far (for the penalties). */
  private readonly counts = new Map<number, number>();
  /** Unnormalised probabilities, reused between draws. */
  private weights = new Float64Array(0);

  constructor(readonly params: SamplingParams = {}) {
    validateSamplingParams(params);
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
