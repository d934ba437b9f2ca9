// Attention for the WASM kernel set: KV-cache memory in the arena with reuse, and one
// threaded kernel call per (layer, sequence segment) that reads the cache in place.
//
// KV memory: the arena never frees, so cache buffers come from size classes (4 per power of
// two, ≥ 4 KiB) with a free list each; a freed buffer is handed to the next request of its
// class, so finished sequences' memory serves the next ones and the arena stops growing.
//
// attend(): q and out are used in place when they are in the memory holding the cache
// (workspace buffers), else copied through its scratch region. One token (decode) runs
// attn_decode_* over chunks of its cached rows on every thread, then attn_merge; a block of
// tokens runs attn_rows_* over (token, head) units on every thread, each chunk of units in a
// scratch slot of its own (see assembly/attention.ts). A cache outside kernel memory is
// copied in for the call.
import { kvRowBytes, type AttendJob, type AttentionKernels, type KVRows, type KVType } from "./kernels.js";
import type { ArenaMemory, WasmArena } from "./wasm/arena.js";
import { threadSlot, type KernelExports, type RowKernelName } from "./wasm/module.js";
import type { ThreadPool } from "./threads.js";
import { MAX_CHUNKS } from "./wasm/control.js";

export interface FastAttentionContext {
  readonly arena: WasmArena;
  readonly pool: ThreadPool;
  readonly threads: number;
  /** The main thread's kernel instance per memory index (filled as memories appear). */
  readonly instances: readonly KernelExports[];
}

/** The per-head helpers fast.ts already has (kept for the vision tower). */
export type AttentionHelpers = Pick<AttentionKernels, "scratch" | "attnScores" | "softmaxInPlace" | "attnAccumulate">;

const KERNEL: Record<KVType, RowKernelName> = { f32: "attn_rows_f32", f16: "attn_rows_f16", q8_0: "attn_rows_q8_0" };
const DECODE_KERNEL: Record<KVType, RowKernelName> = { f32: "attn_decode_f32", f16: "attn_decode_f16", q8_0: "attn_decode_q8_0" };
const WIDEN_KERNEL: Record<"f16" | "q8_0", RowKernelName> = { f16: "widen_rows_f16", q8_0: "widen_rows_q8_0" };
/** Largest f32 copy of an f16/q8_0 cache a block of tokens widens into (K and V). */
const MAX_WIDENED_BYTES = 256 << 20;
/** A token's visible rows are cut into at most this many chunks (assembly/attention.ts). */
const MAX_ROW_CHUNKS = 32;
/** Rows per chunk for n visible rows, as rowsPerChunk in assembly/attention.ts. */
const rowsPerChunk = (n: number): number => Math.max(64, Math.ceil(n / 128) * 4);
/** Below this many multiply-adds a call runs on the calling thread alone. */
const SERIAL_MACS = 1 << 15;
/** Chunks of units per thread (dynamic claiming balances the causal triangle of prefill). */
const CHUNKS_PER_THREAD = 16;
const PARAM_BYTES = 128;
const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const MIN_CLASS = 4096;

/** The size class of a request: the smallest of 2^e·{1, 1.25, 1.5, 1.75} ≥ bytes (≥ 4 KiB). */
export function kvSizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const e = Math.floor(Math.log2(bytes));
  const base = 2 ** e;
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = base * f;
    if (c >= bytes) return c;
  }
  return base * 2;
}

/** Arena memory for KV caches, in size classes with free lists (the arena itself never frees). */
export class KVMemoryPool {
  private readonly free = new Map<number, Uint8Array[]>();
  private readonly live = new WeakSet<Uint8Array>();
  private inUseBytes = 0;
  private pooledBytes = 0;

  constructor(private readonly arena: WasmArena) {}

  alloc(bytes: number): Uint8Array {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`KV memory: bad size ${bytes}`);
    const size = kvSizeClass(bytes);
    const list = this.free.get(size);
    let view = list?.pop();
    if (view) this.pooledBytes -= size;
    else view = this.arena.alloc("u8", size);
    this.live.add(view);
    this.inUseBytes += size;
    return view;
  }

  /** Takes back a view from alloc (anything else, or a second free, is ignored). */
  release(view: Uint8Array): void {
    if (!this.live.has(view)) return;
    this.live.delete(view);
    const size = view.byteLength;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(view);
    this.inUseBytes -= size;
    this.pooledBytes += size;
  }

  get stats(): { inUse: number; pooled: number } {
    return { inUse: this.inUseBytes, pooled: this.pooledBytes };
  }
}

export function createFastAttention(ctx: FastAttentionContext, helpers: AttentionHelpers): AttentionKernels {
  const { arena, pool, threads, instances } = ctx;
  const kvPool = new KVMemoryPool(arena);

  /** Byte address of `view` if it lies in memory `m`. */
  const addressIn = (view: Float32Array, m: ArenaMemory): number | undefined => {
    const at = arena.locate(view);
    return at && at.memory === m ? at.byteOffset : undefined;
  };

  function attend(job: AttendJob): void {
    const { q, out, row, T, p0, H, Hkv, d, kv } = job;
    if (T <= 0) return;
    if (!(H > 0 && Hkv > 0 && H % Hkv === 0)) throw new RangeError(`attend: ${H} query heads do not group over ${Hkv} KV heads`);
    if (kv.type === "q8_0" && d % 32 !== 0) throw new RangeError(`attend: q8_0 KV needs head_dim a multiple of 32, got ${d}`);
    const hd = H * d;
    if (q.length < (row + T) * hd || out.length < (row + T) * hd) throw new RangeError(`attend: q and out need ${(row + T) * hd} values`);
    const last = p0 + T - 1;
    // Every token sees its own row: the cache must reach the last token's position.
    if (kv.start > p0 || kv.start + kv.length - 1 < last) {
      throw new RangeError(`attend: the cache holds positions ${kv.start}..${kv.start + kv.length - 1}, the tokens are at ${p0}..${last}`);
    }
    const chunk = job.chunk ?? 0;
    const kvBytes = kv.length * kv.rowBytes;
    if (kv.k.length < kvBytes || kv.v.length < kvBytes) throw new RangeError(`attend: the cache needs ${kvBytes} bytes of K and V`);

    // The cache in place when it is in kernel memory (K and V in one memory), else a copy.
    let kAt = arena.locate(kv.k);
    let vAt = arena.locate(kv.v);
    let copy: Uint8Array | undefined;
    if (!kAt || !vAt || kAt.memory !== vAt.memory) {
      copy = kvPool.alloc(2 * kvBytes);
      copy.set(kv.k.subarray(0, kvBytes), 0);
      copy.set(kv.v.subarray(0, kvBytes), kvBytes);
      kAt = arena.locate(copy)!;
      vAt = { memory: kAt.memory, byteOffset: kAt.byteOffset + kvBytes };
    }
    try {
      const decoded = T === 1 && d % 4 === 0 && decode(job, kAt.memory, kAt.byteOffset, vAt.byteOffset, chunk);
      if (!decoded && !widenedRun(job, kAt.memory, kAt.byteOffset, vAt.byteOffset, chunk)) run(job, kAt.memory, kAt.byteOffset, vAt.byteOffset, chunk);
    } finally {
      if (copy) kvPool.release(copy);
    }
  }

  /**
   * A block of tokens against an f16 or q8_0 cache: its rows widened to f32 once (every token
   * of a prefill would otherwise widen every row it sees), then the f32 kernel, whose
   * arithmetic on the same (exactly widened) values gives the same bits. False when it does
   * not apply or the copy would be too large.
   */
  function widenedRun(job: AttendJob, m: ArenaMemory, kAddr: number, vAddr: number, chunk: number): boolean {
    const { T, Hkv, d, kv } = job;
    const width = Hkv * d;
    const bytes = kv.length * width * 4;
    if (T === 1 || kv.type === "f32" || d % 4 !== 0 || 2 * bytes > MAX_WIDENED_BYTES) return false;
    const wide = kvPool.alloc(2 * bytes);
    try {
      const at = arena.locate(wide)!;
      if (at.memory !== m) return false;
      const kernel = WIDEN_KERNEL[kv.type];
      const rows = Math.max(16, Math.ceil(kv.length / (threads * 4)));
      pool.run(m.index, kernel, [at.byteOffset, kAddr, 0, 0, 0, 0, width, 0], kv.length, rows);
      pool.run(m.index, kernel, [at.byteOffset + bytes, vAddr, 0, 0, 0, 0, width, 0], kv.length, rows);
      const f32: KVRows = { type: "f32", rowBytes: width * 4, k: wide.subarray(0, bytes), v: wide.subarray(bytes, 2 * bytes), start: kv.start, length: kv.length };
      run({ ...job, kv: f32 }, m, at.byteOffset, at.byteOffset + bytes, chunk);
      return true;
    } finally {
      kvPool.release(wide);
    }
  }

  /**
   * One token (decode): its visible rows split into the same chunks attn_rows_* uses, each
   * reading its rows once for all heads (attn_decode_*) on any thread, then attn_merge: the
   * bits of a prefill. False when the scratch region is too small for the partials.
   */
  function decode(job: AttendJob, m: ArenaMemory, kAddr: number, vAddr: number, chunk: number): boolean {
    const { q, out, row, p0, H, Hkv, d, kv } = job;
    const k = instances[m.index]!;
    const buffer = arena.buffer(m);
    const hd = H * d;
    let first = chunk > 0 ? p0 - (p0 % chunk) : 0;
    if (first < kv.start) first = kv.start;
    const n = p0 - first + 1;
    const rpc = rowsPerChunk(n);
    const chunks = Math.ceil(n / rpc);
    // A partial: m [H] | l [H] | o [H, d] | e [H, rpc] | four rows widened to f32.
    const lOff = align(H * 4);
    const oOff = lOff + align(H * 4);
    const eOff = oOff + align(hd * 4);
    const bufOff = eOff + align(H * rpc * 4);
    const partBytes = bufOff + (kv.type === "f32" ? 0 : align(4 * Hkv * d * 4));
    const params = m.scratchOffset;
    const partsAt = params + PARAM_BYTES;
    const qAt = partsAt + chunks * partBytes;
    const outAt = qAt + align(hd * 4);
    // A scratch region too small for the partials: the general path, which takes passes.
    if (outAt + hd * 4 > m.scratchOffset + m.scratchBytes) return false;
    const p32 = new Int32Array(buffer, params, PARAM_BYTES / 4);
    p32[0] = H; p32[1] = Hkv; p32[2] = d; p32[3] = kv.rowBytes;
    new Float32Array(buffer, params, PARAM_BYTES / 4)[4] = job.scale;
    p32[5] = rpc; p32[6] = partsAt; p32[7] = partBytes; p32[8] = lOff; p32[9] = oOff; p32[10] = eOff; p32[11] = bufOff;
    // q and out in place when they are in this memory (workspace buffers), else copied.
    const qHere = addressIn(q, m), outHere = addressIn(out, m);
    const qp = qHere !== undefined ? qHere + row * hd * 4 : qAt;
    const op = outHere !== undefined ? outHere + row * hd * 4 : outAt;
    if (qHere === undefined) new Float32Array(buffer, qAt, hd).set(q.subarray(row * hd, (row + 1) * hd));
    const skip = (first - kv.start) * kv.rowBytes;
    const kernel = DECODE_KERNEL[kv.type];
    if (chunks === 1 || threads === 1) {
      for (let r0 = 0; r0 < n; r0 += rpc) k[kernel](params, qp, kAddr + skip, vAddr + skip, 0, 0, 0, 0, r0, Math.min(n, r0 + rpc), threadSlot(0));
    } else pool.run(m.index, kernel, [params, qp, kAddr + skip, vAddr + skip, 0, 0, 0, 0], n, rpc);
    k.attn_merge(params, op, chunks);
    if (outHere === undefined) out.set(new Float32Array(buffer, outAt, hd), row * hd);
    return true;
  }

  function run(job: AttendJob, m: ArenaMemory, kAddr: number, vAddr: number, chunk: number): void {
    const { q, out, row, T, p0, H, Hkv, d, kv } = job;
    const k = instances[m.index]!;
    const buffer = arena.buffer(m);
    const hd = H * d;
    // Scratch: params | chunk slots | q [pass, H, d] | out [pass, H, d]. A slot holds, for head
    // sizes that are a multiple of 4, one run's partials of every row chunk, its scores for one
    // chunk and four rows of its KV heads widened to f32; else one GQA group's scores over
    // every row and one row widened to f32. A run is the heads that read each cached row
    // together: a whole token's when there are tokens enough for every thread (its rows are
    // then read once, front to back, as decode does: a GQA group's 256 bytes of each 2 KiB
    // row defeat the prefetchers), else one GQA group.
    const group = H / Hkv;
    const runHeads = d % 4 === 0 && T >= 4 * threads ? H : group;
    const headScores = align(kv.length * 4);
    const partBytes = 2 * align(runHeads * 4) + align(runHeads * d * 4);
    const scoresOff = Math.min(MAX_ROW_CHUNKS, Math.ceil(kv.length / 64)) * partBytes; // chunks of the longest row
    const rowsOff = scoresOff + align(runHeads * Math.min(rowsPerChunk(kv.length), Math.ceil(kv.length / 4) * 4) * 4);
    const slotBytes = d % 4 === 0 ? rowsOff + align(4 * (runHeads / group) * d * 4) : group * headScores + align(d * 4);
    const avail = m.scratchBytes - PARAM_BYTES - 2 * ALIGN;
    const perToken = 2 * hd * 4;
    const macs = T * H * kv.length * d * 2;
    let slots = macs < SERIAL_MACS || threads === 1 ? 1 : Math.min(threads * CHUNKS_PER_THREAD, MAX_CHUNKS, T * H);
    // At most half the scratch for slots, and room for one token's q and out in any case.
    slots = Math.max(1, Math.min(slots, Math.floor(avail / 2 / slotBytes), Math.floor((avail - perToken) / slotBytes)));
    if (slots * slotBytes + perToken > avail) {
      throw new RangeError(`attention over ${kv.length} cached rows needs ${slots * slotBytes + perToken} scratch bytes, the arena has ${m.scratchBytes}`);
    }
    const pass = Math.min(T, Math.floor((avail - slots * slotBytes) / perToken));
    const params = m.scratchOffset;
    const scoresAt = params + PARAM_BYTES;
    const qAt = scoresAt + slots * slotBytes;
    const outAt = qAt + align(pass * hd * 4);
    const p32 = new Int32Array(buffer, params, PARAM_BYTES / 4);
    const pf = new Float32Array(buffer, params, PARAM_BYTES / 4);
    const kernel = KERNEL[kv.type];
    const qHere = addressIn(q, m), outHere = addressIn(out, m);
    for (let t0 = 0; t0 < T; t0 += pass) {
      const n = Math.min(pass, T - t0);
      const units = n * H;
      const chunks = Math.min(slots, units);
      let chunkUnits = Math.ceil(units / chunks);
      // Whole runs per chunk (each cached row is then read once per run), unless there are
      // fewer runs than threads.
      if (units / runHeads >= threads) chunkUnits = Math.ceil(chunkUnits / runHeads) * runHeads;
      p32[0] = H; p32[1] = Hkv; p32[2] = d; p32[3] = p0 + t0; p32[4] = kv.start; p32[5] = chunk;
      p32[6] = kv.rowBytes; pf[7] = job.scale; p32[8] = scoresAt; p32[9] = slotBytes; p32[10] = chunkUnits;
      p32[11] = headScores; p32[12] = units;
      p32[13] = partBytes; p32[14] = align(runHeads * 4); p32[15] = 2 * align(runHeads * 4); p32[16] = scoresOff; p32[17] = rowsOff;
      p32[18] = runHeads;
      const r = row + t0;
      const qp = qHere !== undefined ? qHere + r * hd * 4 : qAt;
      const op = outHere !== undefined ? outHere + r * hd * 4 : outAt;
      if (qHere === undefined) new Float32Array(buffer, qAt, n * hd).set(q.subarray(r * hd, (r + n) * hd));
      if (chunks === 1) k[kernel](params, qp, op, kAddr, vAddr, 0, 0, 0, 0, units, threadSlot(0));
      else pool.run(m.index, kernel, [params, qp, op, kAddr, vAddr, 0, 0, 0], units, chunkUnits);
      if (outHere === undefined) out.set(new Float32Array(buffer, outAt, n * hd), r * hd);
    }
  }

  function encodeKV(type: KVType, src: Float32Array, rows: number, kvDim: number, dst: Uint8Array, at: number): boolean {
    const n = rows * kvDim;
    if (type === "f32" || n === 0 || (type === "q8_0" && kvDim % 32 !== 0)) return false;
    const dAt = arena.locate(dst);
    if (!dAt || src.length < n || at + rows * kvRowBytes(type, kvDim) > dst.length) return false;
    const m = dAt.memory;
    let sAddr = addressIn(src, m);
    if (sAddr === undefined) {
      if (n * 4 > m.scratchBytes) return false;
      sAddr = m.scratchOffset;
      new Float32Array(arena.buffer(m), sAddr, n).set(src.subarray(0, n));
    }
    const k = instances[m.index]!;
    if (type === "f16") k.encode_kv_f16(sAddr, dAt.byteOffset + at, n);
    else k.encode_kv_q8_0(sAddr, dAt.byteOffset + at, n);
    return true;
  }

  return {
    attend,
    encodeKV,
    allocKV: (bytes) => kvPool.alloc(bytes),
    freeKV: (view) => kvPool.release(view),
    kvMemory: () => kvPool.stats,
    ...helpers,
  };
}
