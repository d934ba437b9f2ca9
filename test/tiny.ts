// Small synthetic checkpoints for tests that must run without the shared fixtures.
import type { SynthOverrides } from "../src/synth/synth.js";
import { synthCheckpoint } from "../src/synth/synth.js";

/** Scout-like: every layer MoE, NoPE every 4th, chunk 4 so short prompts cross chunks. */
export const TINY_SCOUT: SynthOverrides = {
  hidden: 32, layers: 4, experts: 4, heads: 4, kvHeads: 2, headDim: 8, expertHidden: 48, denseHidden: 64, vocab: 97, chunk: 4,
};

/** Maverick-like: MoE on odd layers, dense on even, no QK-norm. */
export const TINY_MAVERICK: SynthOverrides = { ...TINY_SCOUT, experts: 6 };

export function writeTinyModel(
  dir: string,
  preset: "scout" | "maverick" = "scout",
  opts: { dtype?: "f32" | "bf16"; seed?: number; shardBytes?: number; overrides?: SynthOverrides } = {},
): string {
  synthCheckpoint({
    preset,
    overrides: { ...(preset === "scout" ? TINY_SCOUT : TINY_MAVERICK), ...opts.overrides },
    dtype: opts.dtype ?? "f32",
    seed: opts.seed ?? 7,
    out: dir,
    ...(opts.shardBytes !== undefined && { shardBytes: opts.shardBytes }),
  });
  return dir;
}
