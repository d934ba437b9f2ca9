// What attention needs from a layer's KV cache, and the row encodings a cache may store
// (f32, f16, ggml Q8_0). Implementations (bounded chunk buffers, growing global buffers,
// buffers in kernel memory) live in src/runtime.
import { kvRowBytes, type KVRows, type KVType } from "../kernels/kernels.js";
import { f16ToF32, f32ToF16 } from "../kernels/dtype.js";
import { dequantizeRowQ8_0, quantizeRowQ8_0 } from "../kernels/quant/block32.js";

export { KV_TYPES, kvRowBytes, type KVRows, type KVType } from "../kernels/kernels.js";

export interface LayerKVCache {
  /** Absolute position of the first cached row. */
  readonly start: number;
  /** Number of cached rows; they hold positions start .. start+length−1. */
  readonly length: number;
  /** Keys and values as f32, [length, Hkv·d] each, valid until the next append/drop (decoded when stored as f16/q8_0). */
  keys(): Float32Array;
  values(): Float32Array;
  /** The rows as stored (encoded, in place), valid until the next append/drop; absent: keys()/values() are the storage. */
  rows?(): KVRows;
  /** Appends T rows for positions start+length .. start+length+T−1 (encoded to the cache's type). */
  append(k: Float32Array, v: Float32Array, T: number): void;
  /** Forgets every row before absolute position `pos` (a chunk boundary). */
  dropBefore(pos: number): void;
}

export interface KVCache {
  /** Absolute position of the next token to be fed. */
  readonly position: number;
  layer(i: number): LayerKVCache;
  /** Called by the model after a block of T tokens was processed by every layer. */
  advance(T: number): void;
}

/** Parses a KV type name ("f32", "f16", "q8_0"), with an error naming `what` otherwise. */
export function parseKVType(s: string, what = "KV cache type"): KVType {
  if (s === "f32" || s === "f16" || s === "q8_0") return s;
  throw new Error(`${what} must be f32, f16 or q8_0, got ${JSON.stringify(s)}`);
}

/** Throws unless `type` can store heads of `headDim` values (q8_0 blocks of 32 along head_dim). */
export function checkKVType(type: KVType, headDim: number): void {
  parseKVType(type);
  if (type === "q8_0" && headDim % 32 !== 0) {
    throw new Error(`KV cache type q8_0 stores blocks of 32 values along head_dim, which must be a multiple of 32; this model's head_dim is ${headDim} (use f16 or f32)`);
  }
}

/**
 * Encodes `rows` rows of `kvDim` f32 values from `src` into `dst` (bytes) at byte `at`:
 * f32 as is, f16 rounded to nearest even, q8_0 with ggml's reference quantizer
 * (d = fp16(amax/127), q = roundf(x/d)).
 */
export function encodeKVRows(type: KVType, src: Float32Array, rows: number, kvDim: number, dst: Uint8Array, at: number): void {
  const n = rows * kvDim;
  if (n === 0) return;
  const bytes = rows * kvRowBytes(type, kvDim);
  if (at + bytes > dst.length) throw new RangeError(`KV rows need ${bytes} bytes at ${at}, the buffer has ${dst.length}`);
  if (type === "f32") {
    new Float32Array(dst.buffer, dst.byteOffset + at, n).set(src.subarray(0, n));
  } else if (type === "f16") {
    const h = new Uint16Array(dst.buffer, dst.byteOffset + at, n);
    for (let i = 0; i < n; i++) h[i] = f32ToF16(src[i]!);
  } else {
    quantizeRowQ8_0(src.subarray(0, n), dst.subarray(at, at + bytes));
  }
}

/** Decodes `rows` rows of `kvDim` values stored as `type` at byte `at` of `src` into out[0..rows·kvDim). */
export function decodeKVRows(type: KVType, src: Uint8Array, at: number, rows: number, kvDim: number, out: Float32Array): void {
  const n = rows * kvDim;
  if (n === 0) return;
  if (type === "f32") {
    out.set(new Float32Array(src.buffer, src.byteOffset + at, n));
  } else if (type === "f16") {
    const h = new Uint16Array(src.buffer, src.byteOffset + at, n);
    for (let i = 0; i < n; i++) out[i] = f16ToF32(h[i]!);
  } else {
    dequantizeRowQ8_0(src, at, out, n);
  }
}
