// Which ggml type each tensor gets in a converted Llama 4 GGUF, following llama.cpp:
// `convert_hf_to_gguf.py` for f32/f16/bf16/q8_0 and `llama-quantize` (llama_tensor_get_type,
// no importance matrix) for q4_0 and q4_k_m.
//
// Rules, in order:
//  1. Every output type: 1-D tensors, `*_norm.weight`, `rope_freqs.weight` and the MoE router
//     `ffn_gate_inp.weight` stay F32 (the converter forces F32; llama-quantize never touches them).
//  2. f32 / f16 / bf16: every other tensor in that type.
//  3. q8_0 (the converter's own quantizer): Q8_0; a tensor whose rows are not a multiple of 32
//     falls back to F16, as the converter does on its QuantError.
//  4. q4_0 and q4_k_m (llama-quantize from a float GGUF), default Q4_0 resp. Q4_K, then:
//     - `output.weight` (or `token_embd.weight` when there is no output tensor):
//       Q8_0 if its rows are not a multiple of the default type's block, else Q6_K;
//     - q4_k_m `attn_v.weight`: Q6_K when use_more_bits(i, n) for the i-th of n attn_v tensors;
//     - q4_k_m every `ffn_down*` (dense, `_exps`, `_shexp`): Q6_K when use_more_bits(layer, L);
//       the layer comes from the name (`blk.N.`) when the model has more than one expert,
//       otherwise from a running count of ffn_down tensors;
//     - with exactly 8 experts: `attn_v`/`attn_k` → Q8_0, and (q4_k_m) `attn_output` → Q5_K;
//     use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i − n/8) % 3 == 2 (integer division).
//  5. Rows that are not a whole number of blocks: llama-quantize's fallbacks Q4_K → Q5_0 and
//     Q6_K → Q8_0; then F16 if even that does not fit. Where llama-quantize has no fallback it
//     aborts (Q4_0, Q8_0) or uses Q5_1 (Q5_K): we write F16 resp. Q8_0 instead.
import { GGML_TYPES, type GgmlTypeName } from "./gguf.js";

export type GgufOutType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "q4_k_m";

export const GGUF_OUT_TYPES: readonly GgufOutType[] = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m"];

/** llama.cpp's `general.file_type` (enum llama_ftype) for each output type. */
export const LLAMA_FILE_TYPE: Readonly<Record<GgufOutType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k_m: 15, bf16: 32 };

export interface TensorTypeQuery {
  /** GGUF tensor name, e.g. "blk.3.ffn_down_exps.weight". */
  readonly name: string;
  /** Row-major shape; the last dimension is the row length. */
  readonly shape: readonly number[];
}

export interface ModelFacts {
  readonly numLayers: number;
  readonly numExperts: number;
  /** Whether the file has `output.weight` (otherwise token_embd doubles as the output). */
  readonly hasOutput: boolean;
}

export function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

function fits(type: GgmlTypeName, rowLength: number): boolean {
  return rowLength % GGML_TYPES[type].blockSize === 0;
}

/**
 * Chooses tensor types in file order. Stateful like llama-quantize (it counts attn_v and
 * ffn_down tensors), so ask once per tensor, in the order they are written.
 */
export class TensorTypeChooser {
  private attnV = 0;
  private ffnDown = 0;
  /** Tensors that could not take their intended type, as "name: wanted → used". */
  readonly fallbacks: string[] = [];

  constructor(private readonly out: GgufOutType, private readonly facts: ModelFacts) {}

  choose(q: TensorTypeQuery): GgmlTypeName {
    const { name, shape } = q;
    const rowLength = shape[shape.length - 1]!;
    if (shape.length <= 1 || name.endsWith("_norm.weight") || name === "rope_freqs.weight" || name.includes("ffn_gate_inp.")) {
      return "F32";
    }
    switch (this.out) {
      case "f32": return "F32";
      case "f16": return "F16";
      case "bf16": return "BF16";
      case "q8_0": return this.fitOr(name, "Q8_0", rowLength, "F16");
      case "q4_0": case "q4_k_m": return this.llamaQuantizeType(name, rowLength);
    }
  }

  private fitOr(name: string, wanted: GgmlTypeName, rowLength: number, fallback: GgmlTypeName): GgmlTypeName {
    if (fits(wanted, rowLength)) return wanted;
    this.fallbacks.push(`${name}: ${wanted} → ${fallback}`);
    return fallback;
  }

  private llamaQuantizeType(name: string, rowLength: number): GgmlTypeName {
    const kQuant = this.out === "q4_k_m";
    const base: GgmlTypeName = kQuant ? "Q4_K" : "Q4_0";
    const E = this.facts.numExperts;
    let type: GgmlTypeName = base;
    if (name === "output.weight" || (!this.facts.hasOutput && name === "token_embd.weight")) {
      type = !fits(base, rowLength) ? "Q8_0" : "Q6_K";
    } else if (name.includes("attn_v.weight")) {
      if (kQuant && useMoreBits(this.attnV, this.facts.numLayers)) type = "Q6_K";
      if (E === 8) type = "Q8_0";
      this.attnV++;
    } else if (name.includes("attn_k.weight")) {
      if (E === 8) type = "Q8_0";
    } else if (name.includes("ffn_down")) {
      const layer = Math.max(1, E) > 1 ? layerOf(name) : this.ffnDown;
      if (kQuant && useMoreBits(layer, this.facts.numLayers)) type = "Q6_K";
      this.ffnDown++;
    } else if (name.includes("attn_output.weight")) {
      if (kQuant && E === 8) type = "Q5_K";
    }
    if (fits(type, rowLength)) return type;
    const fallback: GgmlTypeName = type === "Q4_K" ? "Q5_0" : type === "Q6_K" || type === "Q5_K" ? "Q8_0" : "F16";
    return this.fitOr(name, type, rowLength, fits(fallback, rowLength) ? fallback : "F16");
  }
}

function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  if (!m) throw new Error(`cannot tell the layer of tensor ${name}`);
  return Number(m[1]);
}
