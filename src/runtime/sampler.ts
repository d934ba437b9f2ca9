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
  /** Scratch, reused between draws: adjusted logits, and the tokens above the floor with their weights. */
  private scratch = new Float32Array(0);
  private candIdx = new Int32Array(0);
  private candW = new Float64Array(0);

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
    const l = this.adjustInto(logits);
    return (this.params.temperature ?? 1) === 0 ? argmaxOf(l) : this.draw(l);
  }

  /** Logits after bias and penalties (a new array, or `logits` itself when nothing applies). */
  adjusted(logits: Float32Array): Float32Array {
    const l = this.adjustInto(logits);
    return l === logits ? logits : Float32Array.from(l);
  }

  /** Logits after bias and penalties, in the reused scratch buffer (or `logits` itself). */
  private adjustInto(logits: Float32Array): Float32Array {
    const p = this.params;
    const rep = p.repetitionPenalty ?? 1;
    const pres = p.presencePenalty ?? 0;
    const freq = p.frequencyPenalty ?? 0;
    const bias = p.logitBias;
    if (!bias && rep === 1 && pres === 0 && freq === 0) return logits;
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const l = this.scratch;
    l.set(logits);
    if (bias) {
      const entries = bias instanceof Map ? bias : Object.entries(bias).map(([k, v]) => [Number(k), v] as const);
      for (const [id, b] of entries) {
        if (!Number.isInteger(id) || id < 0 || id >= l.length) throw new RangeError(`logit_bias: token ${id} is outside 0..${l.length - 1}`);
        l[id] = l[id]! + b;
      }
    }
    if (rep === 1 && pres === 0 && freq === 0) return l;
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
    const max = maxLogit(l);
    if (max === -Infinity) throw new Error("every token is banned (all logits are -Infinity)");
    // Unnormalised probabilities; min-p and top-p only need ratios to the maximum.
    // Tokens more than 28 temperature-units below the best weigh < 7e-13 each: left at 0
    // without an exp. The rest become a list of (token, weight) in token order.
    if (this.candIdx.length < V) {
      this.candIdx = new Int32Array(V);
      this.candW = new Float64Array(V);
    }
    const idx = this.candIdx, w = this.candW;
    const floor = max - 28 * temperature;
    const invT = 1 / temperature;
    const minP = p.minP ?? 0;
    const topK = p.topK && p.topK > 0 ? Math.min(p.topK, V) : V;
    const topP = p.topP ?? 1;
    const ranking = topK < V || topP < 1;
    // A small k is ranked by a heap; otherwise by weight buckets counted during the exps.
    const byHeap = topK <= HEAP_K;
    let n = 0;
    let total = 0;
    if (!ranking || byHeap) {
      for (let i = 0; i < V; i++) {
        const x = l[i]!;
        if (x < floor) continue;
        const e = Math.exp((x - max) * invT);
        idx[n] = i;
        w[n] = e;
        n++;
        total += e;
      }
    } else {
      // Also count tokens and mass per weight bucket, to rank only the top buckets.
      const words = wordsOf(w);
      bucketCount.fill(0, BUCKET_LO, BUCKET_HI + 1);
      bucketMass.fill(0, BUCKET_LO, BUCKET_HI + 1);
      for (let i = 0; i < V; i++) {
        const x = l[i]!;
        if (x < floor) continue;
        const e = Math.exp((x - max) * invT);
        idx[n] = i;
        w[n] = e;
        const b = bucketOf(words[2 * n + HI]!);
        bucketCount[b]!++;
        bucketMass[b] = bucketMass[b]! + e;
        n++;
        total += e;
      }
    }

    if (!ranking) {
      // No ranking filter: draw by scanning the weights in token order.
      let sum = 0;
      if (minP > 0) {
        for (let j = 0; j < n; j++) if (w[j]! >= minP) sum += w[j]!;
      } else {
        sum = total; // the same additions in the same order
      }
      let r = this.rng.next() * sum;
      let last = -1;
      for (let j = 0; j < n; j++) {
        const wj = w[j]!;
        if (wj <= 0 || wj < minP) continue;
        last = idx[j]!;
        r -= wj;
        if (r < 0) return last;
      }
      return last;
    }
    // The most likely tokens in descending order (ties: lower id first), cut at k and at
    // cumulative mass p.
    const ranked = byHeap ? topPositions(w, n, topK) : rankedPrefix(w, n, topK, topP * total);
    let cut = ranked.length;
    let mass = 0;
    for (let j = 0; j < ranked.length && j < topK; j++) {
      mass += w[ranked[j]!]!;
      if (mass >= topP * total) {
        cut = j + 1;
        break;
      }
    }
    cut = Math.min(cut, topK);
    let sum = 0;
    for (let j = 0; j < cut; j++) {
      const wj = w[ranked[j]!]!;
      if (wj >= minP) sum += wj;
    }
    let r = this.rng.next() * sum;
    let last = -1;
    for (let j = 0; j < cut; j++) {
      const wj = w[ranked[j]!]!;
      if (wj < minP) continue;
      last = idx[ranked[j]!]!;
      r -= wj;
      if (r < 0) return last;
    }
    // Rounding left r >= 0: the last candidate. Without min-p, a list cut at k that is
    // longer than the tokens above the floor continues with weight-0 tokens in id order.
    if (minP === 0 && cut === ranked.length && topK > n) return nthBelowFloor(l, floor, topK - n);
    return last;
  }
}

/** The id of the `nth` (1-based) token whose logit is below `floor`, in id order. */
function nthBelowFloor(l: Float32Array, floor: number, nth: number): number {
  let seen = 0;
  let last = -1;
  for (let i = 0; i < l.length; i++) {
    if (!(l[i]! < floor)) continue;
    last = i;
    if (++seen === nth) return i;
  }
  return last;
}

// Weight buckets: the high 16 bits of a positive double (exponent and 4 mantissa bits), so
// 1/16 of a binade each; weights lie in [e^-28, 1] (a little below, from rounding).
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const wordsOf = (w: Float64Array) => new Uint32Array(w.buffer, w.byteOffset, w.length * 2);
/** The bucket of a weight from its high word, clamped to [BUCKET_LO, BUCKET_HI]. */
const highWord = (x: number) => wordsOf(Float64Array.of(x))[HI]! >>> 16;
const BUCKET_LO = highWord(Math.exp(-29));
const BUCKET_HI = highWord(1);
const bucketOf = (hiWord: number) => Math.min(Math.max(hiWord >>> 16, BUCKET_LO), BUCKET_HI);
const bucketCount = new Int32Array(BUCKET_HI + 1);
const bucketMass = new Float64Array(BUCKET_HI + 1);

/**
 * Positions j in [0, n) ordered by weight w[j] descending, ties by j ascending (j order is
 * token order), at least as far as the ranking can be cut: the first `k`, or past the
 * point where the running mass reaches `massTarget`. Only the tokens in the top weight
 * buckets (1/16 binade each, by the float's high bits) are sorted.
 */
function rankedPrefix(w: Float64Array, n: number, k: number, massTarget: number): ArrayLike<number> {
  if (n <= 256) return allPositions(n).sort((a, b) => w[b]! - w[a]! || a - b);
  const words = wordsOf(w);
  const lo = BUCKET_LO, hi = BUCKET_HI;
  // Walk down from the heaviest bucket until a cut is inside.
  let count = 0, mass = 0, b = hi;
  for (; b > lo; b--) {
    count += bucketCount[b]!;
    mass += bucketMass[b]!;
    if (count >= k) break;
    if (mass >= massTarget * (1 + 1e-9)) {
      // Bucket sums add in another order than the running mass: one bucket more.
      for (b--; b > lo && bucketCount[b] === 0; b--);
      break;
    }
  }
  for (;;) {
    let m = 0;
    const chosen = scratchPositions(n);
    for (let j = 0; j < n; j++) if (bucketOf(words[2 * j + HI]!) >= b) chosen[m++] = j;
    const ranked = sortByWeight(words, w, chosen, m);
    if (b <= lo || m >= k) return ranked;
    let run = 0;
    for (let j = 0; j < m; j++) {
      run += w[ranked[j]!]!;
      if (run >= massTarget) return ranked;
    }
    b = lo; // the cut was not inside after all: rank everything
  }
}

/** Largest k ranked with a heap. */
const HEAP_K = 1024;

/** The positions of the k largest weights, descending (ties: lower position first). */
function topPositions(w: Float64Array, n: number, k: number): ArrayLike<number> {
  const cmp = (a: number, b: number) => w[b]! - w[a]! || a - b;
  if (k >= n) return allPositions(n).sort(cmp);
  // A min-heap of the best k so far, the worst (smallest weight, then highest position) on top.
  const heap = scratchPositions(k);
  const worse = (a: number, b: number) => w[a]! < w[b]! || (w[a] === w[b] && a > b);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < k && worse(heap[l]!, heap[m]!)) m = l;
      if (r < k && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  };
  for (let j = 0; j < k; j++) heap[j] = j;
  for (let i = (k >> 1) - 1; i >= 0; i--) down(i);
  let floorW = w[heap[0]!]!;
  for (let j = k; j < n; j++) {
    const wj = w[j]!;
    // Later positions lose ties, so only a strictly larger weight enters.
    if (wj <= floorW) continue;
    heap[0] = j;
    down(0);
    floorW = w[heap[0]!]!;
  }
  return Array.from(heap.subarray(0, k)).sort(cmp);
}

let positionsA = new Int32Array(0);
let positionsB = new Int32Array(0);
const radixCount = new Int32Array(0x10000);

function scratchPositions(n: number): Int32Array {
  if (positionsA.length < n) {
    positionsA = new Int32Array(n);
    positionsB = new Int32Array(n);
  }
  return positionsA;
}

function allPositions(n: number): number[] {
  const out = new Array<number>(n);
  for (let j = 0; j < n; j++) out[j] = j;
  return out;
}

/**
 * The first m entries of `pos` (ascending) sorted by weight descending, ties keeping their
 * order: a comparison sort when short, else a stable LSD radix sort on the weights' bits
 * (positive doubles order like their bit patterns).
 */
function sortByWeight(words: Uint32Array, w: Float64Array, pos: Int32Array, m: number): ArrayLike<number> {
  if (m <= 512) return Array.from(pos.subarray(0, m)).sort((a, b) => w[b]! - w[a]! || a - b);
  let src: Int32Array = pos, dst: Int32Array = positionsB;
  // 16-bit digits, least significant first: low word, then high word.
  for (let pass = 0; pass < 4; pass++) {
    const word = pass < 2 ? 1 - HI : HI;
    const shift = (pass & 1) * 16;
    radixCount.fill(0);
    for (let j = 0; j < m; j++) radixCount[(~words[2 * src[j]! + word]! >>> shift) & 0xffff]!++;
    // Descending weight is ascending complement; a digit all share needs no pass.
    if (radixCount[(~words[2 * src[0]! + word]! >>> shift) & 0xffff] === m) continue;
    let at = 0;
    for (let d = 0; d < 0x10000; d++) {
      const c = radixCount[d]!;
      radixCount[d] = at;
      at += c;
    }
    for (let j = 0; j < m; j++) {
      const p = src[j]!;
      dst[radixCount[(~words[2 * p + word]! >>> shift) & 0xffff]!++] = p;
    }
    [src, dst] = [dst, src];
  }
  return src.subarray(0, m);
}

/** The first index of the largest logit (NaNs skipped unless first), in four lanes. */
function argmaxOf(l: Float32Array): number {
  const n = l.length;
  let b0 = l[0]!, i0 = 0, b1 = -Infinity, i1 = -1, b2 = -Infinity, i2 = -1, b3 = -Infinity, i3 = -1;
  if (b0 !== b0) return 0; // a leading NaN is never beaten
  let i = 1;
  for (; i < n && (i & 3) !== 0; i++) {
    const x = l[i]!;
    if ((i & 3) === 1) {
      if (x > b1) { b1 = x; i1 = i; }
    } else if ((i & 3) === 2) {
      if (x > b2) { b2 = x; i2 = i; }
    } else if (x > b3) { b3 = x; i3 = i; }
  }
  for (; i + 3 < n; i += 4) {
    const x0 = l[i]!, x1 = l[i + 1]!, x2 = l[i + 2]!, x3 = l[i + 3]!;
    if (x0 > b0) { b0 = x0; i0 = i; }
    if (x1 > b1) { b1 = x1; i1 = i + 1; }
    if (x2 > b2) { b2 = x2; i2 = i + 2; }
    if (x3 > b3) { b3 = x3; i3 = i + 3; }
  }
  for (; i < n; i++) {
    const x = l[i]!;
    const r = i & 3;
    if (r === 0) {
      if (x > b0) { b0 = x; i0 = i; }
    } else if (r === 1) {
      if (x > b1) { b1 = x; i1 = i; }
    } else if (r === 2) {
      if (x > b2) { b2 = x; i2 = i; }
    } else if (x > b3) { b3 = x; i3 = i; }
  }
  // The best lane; on equal values the lowest index, as a single pass would find.
  let best = i0, bv = b0;
  if (i1 >= 0 && (b1 > bv || (b1 === bv && i1 < best))) { bv = b1; best = i1; }
  if (i2 >= 0 && (b2 > bv || (b2 === bv && i2 < best))) { bv = b2; best = i2; }
  if (i3 >= 0 && (b3 > bv || (b3 === bv && i3 < best))) { bv = b3; best = i3; }
  return best;
}

/** The largest logit (NaNs skipped), in four lanes. */
export function maxLogit(l: Float32Array): number {
  const n = l.length;
  let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const x0 = l[i]!, x1 = l[i + 1]!, x2 = l[i + 2]!, x3 = l[i + 3]!;
    if (x0 > m0) m0 = x0;
    if (x1 > m1) m1 = x1;
    if (x2 > m2) m2 = x2;
    if (x3 > m3) m3 = x3;
  }
  for (; i < n; i++) if (l[i]! > m0) m0 = l[i]!;
  return Math.max(Math.max(m0, m1), Math.max(m2, m3));
}
