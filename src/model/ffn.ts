// Feed-forward blocks (spec §2.8–2.9): dense SwiGLU, and the MoE layer — router, top-k,
// sigmoid gate that scales the expert's INPUT, plus the always-on shared expert.
import type { MoEWeights, SwiGLUWeights } from "./weights.js";
import { gatherRows, scatterAddRows, sigmoid, swigluInPlace } from "../kernels/ref/ops.js";
import { floats, type Kernels } from "../kernels/kernels.js";

/** out[T, D] = SwiGLU(x[T, D]). */
export function swiglu(out: Float32Array, x: Float32Array, T: number, w: SwiGLUWeights, kernels: Kernels): void {
  const { matmul } = kernels;
  const F = w.gate.rows;
  const g = floats(kernels, T * F);
  const u = floats(kernels, T * F);
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
  const logits = routerLogitsOut ?? floats(kernels, T * E);
  kernels.matmul(logits, x, w.router, T);
  const routing = routeTopK(logits, T, E, k);
  const gather = kernels.gatherRows ?? gatherRows;
  const scatterAdd = kernels.scatterAddRows ?? scatterAddRows;
  const ws = kernels.workspace;

  let top = ws?.mark();
  swiglu(out, x, T, w.shared, kernels);
  if (ws) ws.release(top!);

  const tokens = new Int32Array(T * k); // the tokens routed to expert e
  const gates = new Float32Array(T * k); // and their gates
  for (let e = 0; e < E; e++) {
    let n = 0;
    for (let i = 0; i < T * k; i++) {
      if (routing.expert[i] !== e) continue;
      tokens[n] = Math.floor(i / k);
      gates[n++] = routing.gate[i]!;
    }
    if (n === 0) continue;
    top = ws?.mark();
    const xe = floats(kernels, n * D); // gathered, gate-scaled inputs
    gather(xe, x, tokens, gates, n, D);
    const ye = floats(kernels, n * D);
    swiglu(ye, xe, n, w.experts[e]!, kernels);
    scatterAdd(out, ye, tokens, n, D);
    if (ws) ws.release(top!);
  }
}
