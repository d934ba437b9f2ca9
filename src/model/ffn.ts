// Feed-forward blocks (spec §2.8–2.9): dense SwiGLU, and the MoE layer — router, top-k,
// sigmoid gate that scales the expert's INPUT, plus the always-on shared expert.
import type { MoEWeights, SwiGLUWeights } from "./weights.js";
import { sigmoid, swigluInPlace } from "../kernels/ref/ops.js";
import type { Kernels } from "../kernels/kernels.js";

/** out[T, D] = SwiGLU(x[T, D]). */
export function swiglu(out: Float32Array, x: Float32Array, T: number, w: SwiGLUWeights, kernels: Kernels): void {
  const { matmul } = kernels;
  const F = w.gate.rows;
  const g = new Float32Array(T * F);
  const u = new Float32Array(T * F);
  matmul(g, x, w.gate, T);
  matmul(u, x, w.up, T);
  if (kernels.swigluInPlace) kernels.swigluInPlace(g, u, T * F);
  else swigluInPlace(g, u, T * F);
  matmul(out, g, w.down, T);
}

export interface Routing {
  /** expert[t·k + j]: the j-th chosen expert of token t. */
  readonly expert: Int32Array;
  /** gate[t·k + j] = sigmoid(router logit of that expert). */
  readonly gate: Float32Array;
}

/** Top-k experts per token from router logits [T, E]; ties go to the lower index. */
export function routeTopK(logits: Float32Array, T: number, E: number, k: number): Routing {
  const expert = new Int32Array(T * k);
  const gate = new Float32Array(T * k);
  const taken = new Uint8Array(E);
  for (let t = 0; t < T; t++) {
    taken.fill(0);
    for (let j = 0; j < k; j++) {
      let best = -1;
      let bestV = -Infinity;
      for (let e = 0; e < E; e++) {
        const v = logits[t * E + e]!;
        if (!taken[e] && (best < 0 || v > bestV)) {
          best = e;
          bestV = v;
        }
      }
      taken[best] = 1;
      expert[t * k + j] = best;
      gate[t * k + j] = sigmoid(bestV);
    }
  }
  return { expert, gate };
}

/**
 * out[T, D] = shared(x) + Σ_selected SwiGLU_e(g_e · x). Tokens are gathered per expert so
 * each expert runs once per block (the references run every expert on zeros instead).
 * `routerLogitsOut`, when given, receives the router logits [T, E] (debugging/goldens).
 */
export function moe(out: Float32Array, x: Float32Array, T: number, D: number, w: MoEWeights, k: number, kernels: Kernels, routerLogitsOut?: Float32Array): void {
  const E = w.router.rows;
  const logits = routerLogitsOut ?? new Float32Array(T * E);
  kernels.matmul(logits, x, w.router, T);
  const routing = routeTopK(logits, T, E, k);

  swiglu(out, x, T, w.shared, kernels);

  const rows = new Int32Array(T * k);
  for (let e = 0; e < E; e++) {
    let n = 0;
    for (let i = 0; i < T * k; i++) if (routing.expert[i] === e) rows[n++] = i;
    if (n === 0) continue;
    const xe = new Float32Array(n * D); // gathered, gate-scaled inputs
    for (let r = 0; r < n; r++) {
      const i = rows[r]!;
      const t = Math.floor(i / k);
      const g = routing.gate[i]!;
      for (let c = 0; c < D; c++) xe[r * D + c] = g * x[t * D + c]!;
    }
    const ye = new Float32Array(n * D);
    swiglu(ye, xe, n, w.experts[e]!, kernels);
    for (let r = 0; r < n; r++) {
      const t = Math.floor(rows[r]! / k);
      for (let c = 0; c < D; c++) out[t * D + c] = out[t * D + c]! + ye[r * D + c]!;
    }
  }
}
