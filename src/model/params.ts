// Parameter counts derived from the config alone (spec §1.1 cross-check): total text
// parameters, and those active for one token (top-k experts + shared, one embedding row).
import type { Llama4TextConfig } from "./config.js";
import { layerKinds } from "./config.js";

export interface ParameterCounts {
  readonly total: number;
  readonly activePerToken: number;
}

export function countTextParameters(c: Llama4TextConfig): ParameterCounts {
  const D = c.hiddenSize;
  const attn = D * c.numHeads * c.headDim * 2 + D * c.numKvHeads * c.headDim * 2;
  const swiglu = (F: number) => 3 * D * F;
  let total = c.vocabSize * D + D + (c.tieWordEmbeddings ? 0 : c.vocabSize * D);
  let active = D + D + c.vocabSize * D; // one embedding row, final norm, lm_head
  for (const kind of layerKinds(c)) {
    const base = attn + 2 * D;
    if (kind.moe) {
      const router = c.numExperts * D;
      total += base + router + swiglu(c.expertHidden) * (c.numExperts + 1);
      active += base + router + swiglu(c.expertHidden) * (c.topK + 1);
    } else {
      total += base + swiglu(c.denseHidden);
      active += base + swiglu(c.denseHidden);
    }
  }
  return { total, activePerToken: active };
}
