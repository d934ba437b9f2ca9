// The kernel set the model computes with. The plain-TS reference is the default; the WASM
// SIMD set (src/kernels/fast.ts) has the same contract and is swapped in by the loader.
import type { Matrix } from "./matrix.js";
import { matmul } from "./ref/ops.js";

export interface Kernels {
  /** y[T, O] = x[T, I] · Wᵀ, W [O, I] in nn.Linear orientation. */
  matmul(y: Float32Array, x: Float32Array, w: Matrix, T: number): void;
  /** Short name for reports ("ref", "wasm-simd×2", "wasm-relaxed-simd×2"). */
  readonly name: string;
  /** Attention inner loops in kernel memory, when the set has them (the WASM set does). */
  readonly attention?: AttentionKernels;
  /** Buffers for a forward pass's intermediates in the kernels' own memory, when the set has it. */
  readonly workspace?: Workspace;
  // Element-wise steps, when the set has faster ones than ref/ops.ts (same contracts and bits).
  swigluInPlace?(gate: Float32Array, up: Float32Array, n: number): void;
  rmsNorm?(out: Float32Array, x: Float32Array, w: Float32Array | null, eps: number, T: number, D: number): void;
  ropeInterleaved?(x: Float32Array, cos: Float32Array, sin: Float32Array, T: number, nHeads: number, d: number): void;
  addInPlace?(h: Float32Array, y: Float32Array, n: number): void;
  gatherRows?(dst: Float32Array, src: Float32Array, rows: Int32Array, scales: Float32Array, n: number, D: number): void;
  scatterAddRows?(dst: Float32Array, src: Float32Array, rows: Int32Array, n: number, D: number): void;
}

/**
 * Intermediate buffers taken and given back in stack order (mark, take, release to the mark):
 * a kernel set that owns memory (WASM) hands out views of it, so its kernels work on them in
 * place instead of copying them in and out.
 */
export interface Workspace {
  /** A zeroed buffer of n floats, valid until a release to a mark taken before it. */
  floats(n: number): Float32Array;
  /** The current top of the stack. */
  mark(): number;
  /** Gives back every buffer taken since `mark`. */
  release(mark: number): void;
}

/** n zeroed floats from the kernels' workspace, or an ordinary array without one. */
export function floats(kernels: Kernels, n: number): Float32Array {
  return kernels.workspace ? kernels.workspace.floats(n) : new Float32Array(n);
}

/** Element type of KV-cache rows: f32, IEEE half, or ggml Q8_0 blocks (32 values: f16 d, int8 q[32]). */
export type KVType = "f32" | "f16" | "q8_0";
export const KV_TYPES: readonly KVType[] = ["f32", "f16", "q8_0"];

/** Bytes of one cached row of `kvDim` values (K or V) stored as `type`. */
export function kvRowBytes(type: KVType, kvDim: number): number {
  if (type === "f32") return kvDim * 4;
  if (type === "f16") return kvDim * 2;
  if (kvDim % 32 !== 0) throw new RangeError(`q8_0 KV rows need a multiple of 32 values, got ${kvDim}`);
  return (kvDim / 32) * 34;
}

/**
 * A layer's cached keys and values as stored: rows of Hkv·d values encoded as `type`, row r
 * of K at k[r·rowBytes], of V at v[r·rowBytes]; row 0 holds absolute position `start`.
 */
export interface KVRows {
  readonly type: KVType;
  readonly rowBytes: number;
  readonly k: Uint8Array;
  readonly v: Uint8Array;
  readonly start: number;
  readonly length: number;
}

/**
 * Attention of T query rows of one sequence against its cache (already holding their own
 * keys and values): for token t at absolute position p0+t and head h, the visible rows are
 * [max(chunkStart(p), start), p]; scores scale·q·k, softmax, weighted sum of values.
 */
export interface AttendJob {
  /** Queries [N, H, d]; rows row..row+T−1 are this sequence's. */
  readonly q: Float32Array;
  /** Output [N, H, d]; rows row..row+T−1 are overwritten. */
  readonly out: Float32Array;
  readonly row: number;
  readonly T: number;
  /** Absolute position of the first of the T tokens. */
  readonly p0: number;
  readonly H: number;
  readonly Hkv: number;
  readonly d: number;
  /** Chunk size of a chunk-local layer; null for global attention. */
  readonly chunk: number | null;
  readonly scale: number;
  readonly kv: KVRows;
}

/**
 * Attention in kernel memory. `attend` is one call per (layer, sequence segment), reading
 * the cache in place when its buffers come from `allocKV`. The per-head helpers below it
 * (used by the vision tower) take views from `scratch` (kernel memory); `scratch(slot, n)`
 * returns a reusable view of at least n floats for each slot, valid until the next call for
 * that slot.
 */
export interface AttentionKernels {
  attend(job: AttendJob): void;
  /** Kernel memory for KV caches (at least `bytes`, possibly more); reused after freeKV. */
  allocKV(bytes: number): Uint8Array;
  /** Returns a view from allocKV for reuse (the arena itself never frees). */
  freeKV(view: Uint8Array): void;
  /** Bytes handed out by allocKV and not freed, and bytes waiting for reuse. */
  kvMemory(): { inUse: number; pooled: number };
  /**
   * Encodes `rows` rows of `kvDim` f32 values from `src` as f16 or q8_0 into `dst` at byte `at`
   * with encodeKVRows' bits (src/model/kv.ts), when `dst` is kernel memory; false otherwise
   * (the caller then encodes in TypeScript).
   */
  encodeKV?(type: KVType, src: Float32Array, rows: number, kvDim: number, dst: Uint8Array, at: number): boolean;
  scratch(slot: number, floats: number): Float32Array;
  /** scores[j] = scale · q · K[j], j < n; K rows `stride` floats apart from k[0]. */
  attnScores(scores: Float32Array, q: Float32Array, k: Float32Array, stride: number, n: number, d: number, scale: number): void;
  softmaxInPlace(v: Float32Array, n: number): void;
  /** out[0..d) += Σ_j p[j] · V[j], j < n. */
  attnAccumulate(out: Float32Array, p: Float32Array, v: Float32Array, stride: number, n: number, d: number): void;
}

export const refKernels: Kernels = { matmul, name: "ref" };
