// KV cache for one sequence. Global (NoPE) layers keep every position in a buffer that
// grows by doubling; chunked (local) layers keep only the current chunk plus the block in
// flight, so their memory is bounded by C + block size however long the context grows.
//
// Rows are stored as f32, f16 or ggml Q8_0 (`kvType`), encoded when appended, so attention
// reads back exactly what later tokens will read (prefill and decoding agree). With the WASM
// kernels the buffers live in kernel memory (`Kernels.attention.allocKV`), where the
// attention kernel reads them in place; dispose() (or garbage collection of the cache)
// returns them for reuse by the next sequence.
import { checkKVType, decodeKVRows, encodeKVRows, kvRowBytes, type KVCache, type KVRows, type KVType, type LayerKVCache } from "../model/kv.js";
import type { Llama4TextConfig } from "../model/config.js";
import { layerKinds } from "../model/config.js";
import type { Kernels } from "../kernels/kernels.js";

/** Where a cache's buffers come from: plain arrays, or kernel memory with reuse. */
export interface KVBuffers {
  alloc(bytes: number): Uint8Array;
  free(view: Uint8Array): void;
  /** The kernels' encoder for rows appended to these buffers (AttentionKernels.encodeKV). */
  encode?(type: KVType, src: Float32Array, rows: number, kvDim: number, dst: Uint8Array, at: number): boolean;
}

const PLAIN_BUFFERS: KVBuffers = { alloc: (bytes) => new Uint8Array(bytes), free: () => undefined };

/** Kernel-memory buffers of a kernel set, or plain arrays when it has none. */
export function kvBuffersFor(kernels: Kernels | undefined): KVBuffers {
  const ak = kernels?.attention;
  if (!ak) return PLAIN_BUFFERS;
  return {
    alloc: (bytes) => ak.allocKV(bytes),
    free: (view) => ak.freeKV(view),
    ...(ak.encodeKV && { encode: ak.encodeKV }),
  };
}

/** The buffer a layer cache holds, shared with the finalizer so a dropped cache's memory is reused. */
interface Lease {
  view: Uint8Array | null;
  readonly buffers: KVBuffers;
}

const finalizer = new FinalizationRegistry<Lease>((lease) => {
  if (lease.view) lease.buffers.free(lease.view);
  lease.view = null;
});

export interface LayerCacheOptions {
  readonly kvType?: KVType;
  readonly buffers?: KVBuffers;
}

export class GrowingLayerCache implements LayerKVCache {
  readonly kvType: KVType;
  /** Bytes of one stored row (K or V). */
  readonly rowBytes: number;
  private readonly buffers: KVBuffers;
  private readonly lease: Lease;
  /** [K: cap rows | V: cap rows], or empty before the first allocation / after dispose. */
  private buf: Uint8Array = new Uint8Array(0);
  private cap = 0;
  start = 0;
  length = 0;

  constructor(
    private readonly kvDim: number,
    private readonly initialRows = 16,
    private readonly maxRows = Infinity,
    opts: LayerCacheOptions = {},
  ) {
    this.kvType = opts.kvType ?? "f32";
    this.rowBytes = kvRowBytes(this.kvType, kvDim);
    this.buffers = opts.buffers ?? PLAIN_BUFFERS;
    this.lease = { view: null, buffers: this.buffers };
    if (this.buffers !== PLAIN_BUFFERS) finalizer.register(this, this.lease, this.lease);
    this.reserve(Math.min(initialRows, maxRows));
  }

  /** The rows as stored, in place (valid until the next append, drop or dispose). */
  rows(): KVRows {
    const n = this.length * this.rowBytes;
    return {
      type: this.kvType, rowBytes: this.rowBytes, start: this.start, length: this.length,
      k: this.buf.subarray(0, n),
      v: this.buf.subarray(this.cap * this.rowBytes, this.cap * this.rowBytes + n),
    };
  }

  keys(): Float32Array {
    return this.decoded(0);
  }

  values(): Float32Array {
    return this.decoded(this.cap * this.rowBytes);
  }

  private decoded(at: number): Float32Array {
    const n = this.length * this.kvDim;
    if (this.kvType === "f32") return new Float32Array(this.buf.buffer, this.buf.byteOffset + at, n);
    const out = new Float32Array(n);
    decodeKVRows(this.kvType, this.buf, at, this.length, this.kvDim, out);
    return out;
  }

  /** Bytes held for K and V (kernel memory: the whole size-class block). */
  get allocatedBytes(): number {
    return this.buf.byteLength;
  }

  /** Rows allocated (for memory accounting and tests). */
  get capacity(): number {
    return this.cap;
  }

  append(k: Float32Array, v: Float32Array, T: number): void {
    const need = this.length + T;
    if (need > this.maxRows) {
      throw new Error(`KV cache layer would hold ${need} rows, above its bound ${this.maxRows}`);
    }
    if (need > this.cap) this.reserve(Math.min(Math.max(need, this.cap * 2, this.initialRows), this.maxRows));
    const rb = this.rowBytes;
    this.encode(k, T, this.length * rb);
    this.encode(v, T, (this.cap + this.length) * rb);
    this.length = need;
  }

  /** T rows of `src` into the buffer at byte `at`: the kernels' encoder, else encodeKVRows. */
  private encode(src: Float32Array, T: number, at: number): void {
    if (!this.buffers.encode?.(this.kvType, src, T, this.kvDim, this.buf, at)) encodeKVRows(this.kvType, src, T, this.kvDim, this.buf, at);
  }

  /** Makes room for `rows` rows, keeping the cached ones. */
  private reserve(rows: number): void {
    if (rows <= this.cap) return;
    const rb = this.rowBytes;
    const next = this.buffers.alloc(Math.max(1, 2 * rows * rb));
    // A kernel-memory block may be larger than asked for: use all of it (up to the bound).
    const cap = Math.min(Math.floor(next.byteLength / (2 * rb)), this.maxRows);
    const n = this.length * rb;
    if (n > 0) {
      next.set(this.buf.subarray(0, n), 0);
      next.set(this.buf.subarray(this.cap * rb, this.cap * rb + n), cap * rb);
    }
    this.release();
    this.buf = next;
    this.cap = cap;
    this.lease.view = this.buffers === PLAIN_BUFFERS ? null : next;
  }

  private release(): void {
    if (this.lease.view) this.buffers.free(this.lease.view);
    this.lease.view = null;
    this.buf = new Uint8Array(0);
    this.cap = 0;
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
    const rb = this.rowBytes;
    this.buf.copyWithin(0, drop * rb, this.length * rb);
    this.buf.copyWithin(this.cap * rb, (this.cap + drop) * rb, (this.cap + this.length) * rb);
    this.start += drop;
    this.length = keep;
  }

  /** Returns the buffers for reuse; the cache is then empty (start 0) and allocates again if fed. */
  dispose(): void {
    this.release();
    this.start = 0;
    this.length = 0;
  }
}

export interface KVCacheOptions {
  /** Largest block fed in one forward call; bounds the chunked layers' buffers. */
  readonly maxBlock?: number;
  /** Element type of cached rows (default f32). */
  readonly kvType?: KVType;
  /** The kernel set the model computes with: its kernel memory holds the buffers (plain arrays without one). */
  readonly kernels?: Kernels;
}

/** The KV type openModel was asked for, per model (see SequenceKVCache.forModel). */
const modelKVTypes = new WeakMap<object, KVType>();

/** Sets the KV type caches made by SequenceKVCache.forModel(model) use by default. */
export function setModelKVType(model: object, kvType: KVType): void {
  modelKVTypes.set(model, kvType);
}

/** The default KV type of `model`'s caches (f32 unless openModel was given one). */
export function modelKVType(model: object): KVType {
  return modelKVTypes.get(model) ?? "f32";
}

export class SequenceKVCache implements KVCache {
  position = 0;
  readonly kvType: KVType;
  private readonly layers: GrowingLayerCache[];
  private readonly chunked: boolean[];
  private readonly chunk: number | null;

  /**
   * A cache for `model`: its kernels' memory and the KV type it was opened with
   * (openModel's `kvType`), unless `opts` says otherwise.
   */
  static forModel(
    model: { readonly config: Llama4TextConfig; readonly kernels: Kernels },
    opts: KVCacheOptions = {},
  ): SequenceKVCache {
    return new SequenceKVCache(model.config, { kernels: model.kernels, kvType: modelKVType(model), ...opts });
  }

  constructor(config: Llama4TextConfig, opts: KVCacheOptions = {}) {
    this.kvType = opts.kvType ?? "f32";
    checkKVType(this.kvType, config.headDim);
    const kvDim = config.numKvHeads * config.headDim;
    const maxBlock = opts.maxBlock ?? Infinity;
    const layerOpts: LayerCacheOptions = { kvType: this.kvType, buffers: kvBuffersFor(opts.kernels) };
    const kinds = layerKinds(config);
    this.chunked = kinds.map((k) => k.chunked);
    this.chunk = config.attentionChunkSize;
    this.layers = kinds.map((kind) => {
      if (kind.chunked && config.attentionChunkSize !== null) {
        // At most C−1 earlier keys of the current chunk plus the block being processed.
        const bound = config.attentionChunkSize - 1 + maxBlock;
        return new GrowingLayerCache(kvDim, Math.min(16, config.attentionChunkSize), bound, layerOpts);
      }
      return new GrowingLayerCache(kvDim, 16, Infinity, layerOpts);
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

  /** Bytes held by K and V buffers across layers (0 after dispose). */
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

  /**
   * Returns every buffer (to the kernel memory pool, for the next sequence); the cache is
   * then empty at position 0 and allocates again if fed. Safe to call more than once.
   */
  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.position = 0;
  }
}
