// The kernel set the model computes with. The plain-TS reference is the default; the WASM
// SIMD set (src/kernels/fast.ts) has the same contract and is swapped in by the loader.
import type { Matrix } from "./matrix.js";
import { matmul } from "./ref/ops.js";

export interface Kernels {
  /** y[T, O] = x[T, I] · Wᵀ, W [O, I] in nn.Linear orientation. */
  matmul(y: Float32Array, x: Float32Array, w: Matrix, T: number): void;
  /** Short name for reports ("ref", "wasm-simd×2"). */
  readonly name: string;
  /** Attention inner loops in kernel memory, when the set has them (the WASM set does). */
  readonly attention?: AttentionKernels;
}

/**
 * Scores, softmax and the weighted sum of values for one query head. The arrays must be
 * views from `scratch` (kernel memory); `scratch(slot, n)` returns a reusable view of at
 * least n floats for each slot, valid until the next call for that slot.
 */
export interface AttentionKernels {
  scratch(slot: number, floats: number): Float32Array;
  /** scores[j] = scale · q · K[j], j < n; K rows `stride` floats apart from k[0]. */
  attnScores(scores: Float32Array, q: Float32Array, k: Float32Array, stride: number, n: number, d: number, scale: number): void;
  softmaxInPlace(v: Float32Array, n: number): void;
  /** out[0..d) += Σ_j p[j] · V[j], j < n. */
  attnAccumulate(out: Float32Array, p: Float32Array, v: Float32Array, stride: number, n: number, d: number): void;
}

export const refKernels: Kernels = { matmul, name: "ref" };
