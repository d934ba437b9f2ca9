// What attention needs from a layer's KV cache. Implementations (bounded chunk buffers,
// growing global buffers, later f16/q8 storage) live in src/runtime.

export interface LayerKVCache {
  /** Absolute position of the first cached row. */
  readonly start: number;
  /** Number of cached rows; they hold positions start .. start+length−1. */
  readonly length: number;
  /** Keys and values, [length, Hkv·d] each, valid until the next append/drop. */
  keys(): Float32Array;
  values(): Float32Array;
  /** Appends T rows for positions start+length .. start+length+T−1. */
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
