// The kernel set the model computes with. The plain-TS reference is the default; the WASM
// SIMD set (src/kernels/fast.ts) has the same contract and is swapped in by the loader.
import type { Matrix } from "./matrix.js";
import { matmul } from "./ref/ops.js";

export interface Kernels {
  /** y[T, O] = x[T, I] · Wᵀ, W [O, I] in nn.Linear orientation. */
  matmul(y: Float32Array, x: Float32Array, w: Matrix, T: number): void;
  /** Short name for reports ("ref", "wasm-simd×2"). */
  readonly name: string;
}

export const refKernels: Kernels = { matmul, name: "ref" };
