// Rotary position embedding tables: base frequencies θ_m = theta^(−2m/d), Llama-3 style
// frequency scaling (Scout), and cos/sin rows for absolute positions.
import type { RopeScaling } from "./config.js";

/**
 * θ'_m for m = 0..d/2−1, rounded to f32 like the reference's float32 arange/pow. Scaling is
 * either the Llama-3 rule or explicit per-frequency divisors θ'_m = θ_m / divisors[m] (GGUF's
 * `rope_freqs.weight`, which stores the same rule precomputed); divisors win when both are given.
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling | null, divisors?: Float32Array): Float64Array {
  const half = headDim / 2;
  if (divisors && divisors.length !== half) {
    throw new RangeError(`rope frequency divisors: expected ${half} (head_dim / 2), got ${divisors.length}`);
  }
  const inv = new Float64Array(half);
  for (let m = 0; m < half; m++) {
    const base = Math.fround(1 / Math.fround(theta ** Math.fround((2 * m) / headDim)));
    if (divisors) inv[m] = Math.fround(base / divisors[m]!);
    else inv[m] = scaling ? Math.fround(llama3ScaledFrequency(base, scaling)) : base;
  }
  return inv;
}

/** Llama 3 rule: keep high frequencies, divide low ones by `factor`, blend in between. */
export function llama3ScaledFrequency(freq: number, s: RopeScaling): number {
  const wavelen = (2 * Math.PI) / freq;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  if (wavelen < highWavelen) return freq;
  if (wavelen > lowWavelen) return freq / s.factor;
  // With low == high factor (Scout: 1 and 1) the blend band is empty; guard its division.
  if (s.highFreqFactor === s.lowFreqFactor) return freq;
  const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return (1 - smooth) * (freq / s.factor) + smooth * freq;
}

/**
 * cos/sin tables [N, d/2] for the given absolute positions (one per row). Angles are formed
 * in float64, so positions near 10M keep their precision.
 */
export function ropeTables(invFreq: Float64Array, positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const N = positions.length;
  const cos = new Float32Array(N * half);
  const sin = new Float32Array(N * half);
  for (let t = 0; t < N; t++) {
    const p = positions[t]!;
    for (let m = 0; m < half; m++) {
      const a = p * invFreq[m]!;
      cos[t * half + m] = Math.cos(a);
      sin[t * half + m] = Math.sin(a);
    }
  }
  return { cos, sin };
}
