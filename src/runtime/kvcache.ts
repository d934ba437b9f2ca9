// KV cache for one sequence. Global (NoPE) layers keep every position in a buffer that
// grows by doubling; chunked (local) layers keep only the current chunk plus the block in
// flight, so their memory is bounded by C + block size however long the context grows.
import type { KVCache, LayerKVCache } from "../model/kv.js";
import type { Llama4TextConfig } from "../model/config.js";
import { layerKinds } from "../model/config.js";

export class GrowingLayerCache implements LayerKVCache {
  private k: Float32Array;
  private v: Float32Array;
  start = 0;
  length = 0;

  constructor(private readonly kvDim: number, initialRows = 16, private readonly maxRows = Infinity) {
    this.k = new Float32Array(initialRows * kvDim);
    this.v = new Float32Array(initialRows * kvDim);
  }

  keys(): Float32Array {
    return this.k.subarray(0, this.length * this.kvDim);
  }

  values(): Float32Array {
    return this.v.subarray(0, this.length * this.kvDim);
  }

  get allocatedBytes(): number {
    return this.k.byteLength + this.v.byteLength;
  }

  /** Rows allocated (for memory accounting and tests). */
  get capacity(): number {
    return this.k.length / this.kvDim;
  }

  append(k: Float32Array, v: Float32Array, T: number): void {
    const need = this.length + T;
    if (need > this.maxRows) {
      throw new Error(`KV cache layer would hold ${need} rows, above its bound ${this.maxRows}`);
    }
    if (need > this.capacity) {
      const rows = Math.min(Math.max(need, this.capacity * 2), this.maxRows);
      const nk = new Float32Array(rows * this.kvDim);
      const nv = new Float32Array(rows * this.kvDim);
      nk.set(this.keys());
      nv.set(this.values());
      this.k = nk;
      this.v = nv;
    }
    this.k.set(k.subarray(0, T * this.kvDim), this.length * this.kvDim);
    this.v.set(v.subarray(0, T * this.kvDim), this.length * this.kvDim);
    this.length = need;
  }

  /** Forgets rows at positions >= pos; false when rows before pos are already gone. */
  truncate(pos: number): boolean {
    if (pos < this.start) return false;
    this.length = Math.min(this.length, pos - this.start);
    return true;
  }

  dropBefore(pos: number): void {
    const drop = Math.min(Math.max(0, pos - this.start), this.length);
    if (drop === 0) return;
    const keep = this.length - drop;
    this.k.copyWithin(0, drop * this.kvDim, this.length * this.kvDim);
    this.v.copyWithin(0, drop * this.kvDim, this.length * this.kvDim);
    this.start += drop;
    this.length = keep;
  }
}

export interface KVCacheOptions {
  /** Largest block fed in one forward call; bounds the chunked layers' buffers. */
  readonly maxBlock?: number;
}

export class SequenceKVCache implements KVCache {
  position = 0;
  private readonly layers: GrowingLayerCache[];
  private readonly chunked: boolean[];
  private readonly chunk: number | null;

  constructor(config: Llama4TextConfig, opts: KVCacheOptions = {}) {
    const kvDim = config.numKvHeads * config.headDim;
    const maxBlock = opts.maxBlock ?? Infinity;
    const kinds = layerKinds(config);
    this.chunked = kinds.map((k) => k.chunked);
    this.chunk = config.attentionChunkSize;
    this.layers = kinds.map((kind) => {
      if (kind.chunked && config.attentionChunkSize !== null) {
        // At most C−1 earlier keys of the current chunk plus the block being processed.
        const bound = config.attentionChunkSize - 1 + maxBlock;
        return new GrowingLayerCache(kvDim, Math.min(16, config.attentionChunkSize), bound);
      }
      return new GrowingLayerCache(kvDim);
    });
  }

  layer(i: number): GrowingLayerCache {
    const l = this.layers[i];
    if (!l) throw new RangeError(`no KV cache for layer ${i}`);
    return l;
  }

  advance(T: number): void {
    this.position += T;
  }

  /** Bytes held by K and V buffers across layers. */
  get allocatedBytes(): number {
    return this.layers.reduce((s, l) => s + l.allocatedBytes, 0);
  }

  /**
   * Rewinds to `n` tokens, keeping the cached prefix, so an edited or regenerated turn only
   * re-feeds what changed. False (and the cache untouched) when a chunked layer already
   * dropped keys that position n would need.
   */
  truncate(n: number): boolean {
    if (n > this.position) return false;
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      const need = this.chunk !== null && this.chunked[i] ? Math.floor(n / this.chunk) * this.chunk : 0;
      if (l.start > need) return false;
    }
    for (const l of this.layers) l.truncate(n);
    this.position = n;
    return true;
  }

  reset(): void {
    for (const l of this.layers) {
      l.dropBefore(Infinity);
      l.start = 0;
    }
    this.position = 0;
  }
}
