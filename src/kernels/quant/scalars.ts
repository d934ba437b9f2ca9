// Helpers for the quantizers. The ggml reference quantizers compute in C `float`; to produce
// the same bytes every intermediate is rounded to f32 with Math.fround, in C evaluation order
// (no fused multiply-add). Each quantizer module keeps a local `const f = Math.fround`: V8
// inlines that, but not a call through an imported binding (10x slower when measured).
import { F16_TABLE, f32ToF16 } from "../dtype.js";

/** C roundf: half away from zero. */
export function roundAwayFromZero(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Reads a little-endian f16 at `o` as f32. */
export function readF16(b: Uint8Array, o: number): number {
  return F16_TABLE[b[o]! | (b[o + 1]! << 8)]!;
}

/** Writes `v` as a little-endian f16 at `o` (round to nearest even) and returns the stored value widened. */
export function writeF16(b: Uint8Array, o: number, v: number): number {
  const h = f32ToF16(v);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
  return F16_TABLE[h]!;
}
