// The text decoder's weights, in the shapes the math uses. Every matrix is in nn.Linear
// orientation [out, in]; checkpoint quirks (fused, transposed experts) are undone by the
// loaders in src/formats, so nothing here knows about files.
import type { Matrix } from "../kernels/matrix.js";

export interface AttentionWeights {
  readonly q: Matrix; // [H·d, D]
  readonly k: Matrix; // [Hkv·d, D]
  readonly v: Matrix; // [Hkv·d, D]
  readonly o: Matrix; // [D, H·d]
}

/** f(x) = (silu(x·gateᵀ) ⊙ x·upᵀ)·downᵀ */
export interface SwiGLUWeights {
  readonly gate: Matrix; // [F, D]
  readonly up: Matrix; // [F, D]
  readonly down: Matrix; // [D, F]
}

export interface MoEWeights {
  readonly kind: "moe";
  readonly router: Matrix; // [E, D]
  readonly experts: readonly SwiGLUWeights[]; // E of them
  readonly shared: SwiGLUWeights;
}

export interface DenseWeights extends SwiGLUWeights {
  readonly kind: "dense";
}

export interface DecoderLayerWeights {
  readonly attnNorm: Float32Array; // [D]
  readonly attn: AttentionWeights;
  readonly ffnNorm: Float32Array; // [D]
  readonly ffn: MoEWeights | DenseWeights;
}

export interface Llama4TextWeights {
  readonly embed: Matrix; // [V, D]
  readonly layers: readonly DecoderLayerWeights[];
  readonly norm: Float32Array; // [D]
  readonly lmHead: Matrix; // [V, D]
}
