// The WASM SIMD kernel set: the reference kernels' contract, computed by kernels.wasm on
// every thread when the weights live in a WasmArena, and by the reference otherwise.
//
//   const k = createFastKernels({ threads: 2 });
//   const w = k.allocMatrix("q8_0", O, I);   // loaders fill w.data in place
//   k.matmul(y, x, w, T);                    // y[T, O] = x[T, I] · Wᵀ, as ref/ops.ts
//
// Activations and outputs may be ordinary Float32Arrays (copied through the memory's scratch
// region, in passes of as many tokens as fit) or arena views in the weight's memory (used
// in place). Quantized weights multiply activations quantized on the fly (llama.cpp's
// scheme): results differ from the f32 reference by that quantization (docs/kernels.md).
import type { AttentionKernels, Kernels, Workspace } from "./kernels.js";
import type { Matrix, WeightDType } from "./matrix.js";
import {
  addInPlace as refAddInPlace, gatherRows as refGatherRows, matmul as refMatmul, rmsNorm as refRmsNorm, ropeInterleaved as refRope,
  scatterAddRows as refScatterAddRows, softmaxInPlace as refSoftmax, swigluInPlace as refSwiglu,
} from "./ref/ops.js";
import { quantRowBytes, isQuantDType } from "./quant/index.js";
import { WasmArena, type ArenaDType, type ArenaMemory, type WasmArenaOptions } from "./wasm/arena.js";
import { instantiateKernels, kernelBuild, kernelModule, type KernelExports, type RowKernelName } from "./wasm/module.js";
import { ThreadPool } from "./threads.js";
import { MAX_CHUNKS } from "./wasm/control.js";
import { createFastAttention } from "./fast-attention.js";

export interface FastKernelsOptions {
  /** Threads in all, the caller's included (default os.availableParallelism()). */
  threads?: number;
  /** An arena to share (e.g. between kernel sets with different thread counts), or options for a new one. */
  arena?: WasmArena | WasmArenaOptions;
  /** Checks of the job word an idle worker makes before sleeping. */
  spin?: number;
  /** Bytes of kernel memory for forward-pass intermediates (default 64 MiB, taken on first use). */
  workspaceBytes?: number;
}

export interface FastKernels extends Kernels {
  readonly threads: number;
  readonly arena: WasmArena;
  /** The worker threads (none when threads is 1). */
  readonly pool: ThreadPool;
  /** KV-cache memory and the segment attention kernel (fast-attention.ts), plus per-head helpers. */
  readonly attention: AttentionKernels;
  /** Intermediates in kernel memory (createWorkspace). */
  readonly workspace: Workspace;
  /** y[T, O] = x[T, I] · Wᵀ; WASM when w.data is in the arena and its dtype has a kernel. */
  matmul(y: Float32Array, x: Float32Array, w: Matrix, T: number): void;
  /** Whether matmul with `w` runs in WASM. */
  accelerates(w: Matrix): boolean;
  /** A zeroed arena view for loaders (quantized: `count` weights' worth of block bytes). */
  alloc: WasmArena["alloc"];
  /** A zeroed arena matrix for loaders to fill. */
  allocMatrix(dtype: WeightDType, rows: number, cols: number): Matrix;
  /** As ref rmsNorm; in place when out and x are arena views in one memory, else through scratch. */
  rmsNorm(out: Float32Array, x: Float32Array, w: Float32Array | null, eps: number, T: number, D: number): void;
  /** As ref softmaxInPlace; WASM for an arena view. */
  softmaxInPlace(v: Float32Array, n: number): void;
  /** As ref swigluInPlace (exp by polynomial); in place when both are arena views in one memory, else through scratch. */
  swigluInPlace(gate: Float32Array, up: Float32Array, n: number): void;
  /** As ref ropeInterleaved; in place when x is an arena view, else through scratch. */
  ropeInterleaved(x: Float32Array, cos: Float32Array, sin: Float32Array, T: number, nHeads: number, d: number): void;
  /** As ref addInPlace, gatherRows, scatterAddRows (same bits); WASM when the float arrays are arena views in one memory. */
  addInPlace(h: Float32Array, y: Float32Array, n: number): void;
  gatherRows(dst: Float32Array, src: Float32Array, rows: Int32Array, scales: Float32Array, n: number, D: number): void;
  scatterAddRows(dst: Float32Array, src: Float32Array, rows: Int32Array, n: number, D: number): void;
  /** scores[j] = scale · q · K[j], j < n; K rows of d values `stride` floats apart starting at k[0]. */
  attnScores(scores: Float32Array, q: Float32Array, k: Float32Array, stride: number, n: number, d: number, scale: number): void;
  /** out[0..d) += Σ_j p[j] · V[j], j < n; V rows `stride` floats apart starting at v[0]. */
  attnAccumulate(out: Float32Array, p: Float32Array, v: Float32Array, stride: number, n: number, d: number): void;
  /** Resolves when every worker thread has started. */
  ready(): Promise<void>;
  /** Stops the worker threads (the arena stays usable single-threaded through a new kernel set). */
  close(): Promise<void>;
}

/** How activations are prepared for a weight type: as is, pair-split f32, or quantized. */
type Activation = "f32" | "pairs" | "q8_32" | "q8_k";

const KERNELS: Partial<Record<WeightDType, { kernel: RowKernelName; activation: Activation }>> = {
  f32: { kernel: "matmul_f32", activation: "f32" },
  f16: { kernel: "matmul_f16", activation: "pairs" },
  bf16: { kernel: "matmul_bf16", activation: "pairs" },
  q8_0: { kernel: "matmul_q8_0", activation: "q8_32" },
  q4_0: { kernel: "matmul_q4_0", activation: "q8_32" },
  q5_0: { kernel: "matmul_q5_0", activation: "q8_32" },
  q4_k: { kernel: "matmul_q4_k", activation: "q8_k" },
  q5_k: { kernel: "matmul_q5_k", activation: "q8_k" },
  q6_k: { kernel: "matmul_q6_k", activation: "q8_k" },
};

/** Weight bytes one chunk of rows should cover: enough to amortise a claim, small enough to balance. */
const CHUNK_WEIGHT_BYTES = 64 << 10;
/** Multiply-adds one chunk should cover in a long pass (~0.2 ms on one thread). */
const CHUNK_MACS = 8 << 20;
/** Below this many activation values quantization runs on the calling thread alone. */
const QUANT_SERIAL_VALUES = 1 << 14;
/** Below this many multiply-adds a matmul runs on the calling thread alone. */
const SERIAL_MACS = 1 << 15;
const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

function rowBytes(w: Matrix): number {
  if (isQuantDType(w.dtype)) return quantRowBytes(w.dtype, w.cols);
  return w.cols * (w.dtype === "f32" ? 4 : 2);
}

/**
 * A Workspace in kernel memory: one region of `bytes`, taken from the arena on first use and
 * handed out in stack order in 64-byte steps. A request that does not fit gets an ordinary
 * array (the kernels then copy it in and out, as for any array outside the arena).
 */
export function createWorkspace(arena: WasmArena, bytes: number): Workspace {
  let region: Float32Array | undefined;
  let top = 0; // floats taken
  const step = ALIGN / 4;
  return {
    floats(n: number): Float32Array {
      if (!region) {
        // An arena whose memories cannot hold the region (tiny test arenas) works without one.
        try {
          region = arena.alloc("f32", Math.floor(bytes / ALIGN) * step);
        } catch {
          region = new Float32Array(0);
        }
      }
      const size = Math.ceil(n / step) * step;
      if (top + size > region.length) return new Float32Array(n);
      const view = region.subarray(top, top + n);
      top += size;
      return view.fill(0);
    },
    mark: () => top,
    release(mark: number): void {
      if (!(Number.isInteger(mark) && mark >= 0 && mark <= top)) throw new RangeError(`workspace: release to ${mark}, the top is ${top}`);
      top = mark;
    },
  };
}

export function createFastKernels(options: FastKernelsOptions = {}): FastKernels {
  const arena = options.arena instanceof WasmArena ? options.arena : new WasmArena(options.arena);
  const module = kernelModule();
  const pool = new ThreadPool(module, { ...(options.threads !== undefined ? { threads: options.threads } : {}), ...(options.spin !== undefined ? { spin: options.spin } : {}) });
  const threads = pool.threads;
  const instances: KernelExports[] = [];
  arena.onMemory((m) => {
    const k = instantiateKernels(module, m.memory);
    k.init_f16_table();
    instances[m.index] = k;
    pool.addMemory(m.memory, k);
  });

  /** Byte address of `view` if it is an arena view in memory `m`. */
  const addressIn = (view: ArrayBufferView, m: ArenaMemory): number | undefined => {
    const at = arena.locate(view);
    return at && at.memory === m ? at.byteOffset : undefined;
  };
  /** The one memory holding all `views`, or undefined. */
  const commonMemory = (...views: ArrayBufferView[]): ArenaMemory | undefined => {
    const first = arena.locate(views[0]!);
    if (!first) return undefined;
    return views.every((v) => addressIn(v, first.memory) !== undefined) ? first.memory : undefined;
  };
  const need = (what: string, have: number, want: number): void => {
    if (have < want) throw new RangeError(`${what}: needs ${want} values, got ${have}`);
  };

  const accelerates = (w: Matrix): boolean => KERNELS[w.dtype] !== undefined && arena.locate(w.data) !== undefined;

  function matmul(y: Float32Array, x: Float32Array, w: Matrix, T: number): void {
    const spec = KERNELS[w.dtype];
    const at = spec ? arena.locate(w.data) : undefined;
    if (!spec || !at) return refMatmul(y, x, w, T);
    const O = w.rows;
    const I = w.cols;
    if (x.length < T * I || y.length < T * O) {
      throw new Error(`matmul: x needs ${T * I} and y ${T * O} values, got ${x.length} and ${y.length}`);
    }
    if (T <= 0 || O === 0) return;
    const m = at.memory;
    const k = instances[m.index]!;
    const buffer = arena.buffer(m);
    const xAt = addressIn(x, m);
    const yAt = addressIn(y, m);
    const quant = spec.activation === "q8_32" || spec.activation === "q8_k";
    const groups = I / 32; // activation scales (q8_32, at most) per token
    const sumGroups = spec.activation === "q8_k" ? I / 16 : 0; // int16 sums per 16 (q8_k)
    // The "q" region holds int16 activations, or the pair-split f32 copy.
    const qBytes = quant ? I * 2 : spec.activation === "pairs" ? I * 4 : 0;
    const perToken = (xAt === undefined ? I * 4 : 0) + qBytes + (quant ? groups * 4 : 0) + sumGroups * 2 + (yAt === undefined ? O * 4 : 0);
    const pass = Math.min(T, Math.floor((m.scratchBytes - 5 * ALIGN) / Math.max(perToken, 1)));
    if (pass < 1) throw new RangeError(`matmul [${O}, ${I}]: one token needs ${perToken} scratch bytes, the arena has ${m.scratchBytes}`);

    // Scratch layout for one pass: x f32 | q (int16, or pair-split f32) | d f32 | sums int16 | y f32.
    const xS = m.scratchOffset;
    const qS = xS + align(xAt === undefined ? pass * I * 4 : 0);
    const dS = qS + align(pass * qBytes);
    const sS = dS + align(quant ? pass * groups * 4 : 0);
    const yS = sS + align(pass * sumGroups * 2);

    const rb = rowBytes(w);
    let chunkRows = Math.max(4, Math.ceil(CHUNK_WEIGHT_BYTES / Math.max(rb, 1) / 4) * 4);
    // Long passes (prefill) are compute-bound: smaller chunks keep the end-of-call wait short.
    chunkRows = Math.min(chunkRows, Math.max(4, Math.ceil(CHUNK_MACS / (Math.min(T, pass) * I) / 4) * 4));
    chunkRows = Math.min(chunkRows, Math.max(4, Math.ceil(O / (threads * 4) / 4) * 4));
    chunkRows = Math.max(chunkRows, Math.ceil(O / MAX_CHUNKS));

    for (let t0 = 0; t0 < T; t0 += pass) {
      const n = Math.min(pass, T - t0);
      let xp: number;
      if (xAt !== undefined) xp = xAt + t0 * I * 4;
      else {
        new Float32Array(buffer, xS, n * I).set(x.subarray(t0 * I, (t0 + n) * I));
        xp = xS;
      }
      let act = xp, scales = 0, sums = 0;
      if (spec.activation === "pairs") {
        k.pair_split(xp, qS, n, I);
        act = qS;
      } else if (quant) {
        // Tokens are independent: long passes (prefill) quantize on every thread.
        const kernel = spec.activation === "q8_32" ? "quantize_rows_q8_32" : "quantize_rows_q8_k";
        const perChunk = n * I < QUANT_SERIAL_VALUES ? n : Math.max(4, Math.ceil(n / (threads * 4)));
        pool.run(m.index, kernel, [xp, qS, dS, sS, 0, n, I, 0], n, perChunk);
        [act, scales, sums] = [qS, dS, spec.activation === "q8_k" ? sS : 0];
      }
      const yp = yAt !== undefined ? yAt + t0 * O * 4 : yS;
      const rows = O * I * n < SERIAL_MACS ? O : chunkRows;
      pool.run(m.index, spec.kernel, [yp, act, scales, sums, at.byteOffset, n, I, O], O, rows);
      if (yAt === undefined) y.set(new Float32Array(buffer, yS, n * O), t0 * O);
    }
  }

  /**
   * Scratch passes for helpers given ordinary arrays: `fixed` floats copied once (e.g. a norm
   * weight), then per pass up to `perUnit`-float units; `run` gets the fixed copy's address
   * and the pass's [u0, u1) and scratch address. Returns false when there is no memory yet.
   */
  function throughScratch(fixed: Float32Array | null, units: number, perUnit: number, run: (k: KernelExports, buffer: ArrayBufferLike, fixedAt: number, at: number, u0: number, u1: number) => void): boolean {
    const m0 = arena.memories[0];
    if (!m0) return false;
    const k = instances[m0.index]!;
    const buffer = arena.buffer(m0);
    const fixedAt = m0.scratchOffset;
    const at = fixedAt + align(fixed ? fixed.length * 4 : 0);
    const pass = Math.floor((m0.scratchOffset + m0.scratchBytes - at - 4 * ALIGN) / 4 / Math.max(perUnit, 1));
    if (pass < 1) return false;
    if (fixed) new Float32Array(buffer, fixedAt, fixed.length).set(fixed);
    for (let u0 = 0; u0 < units; u0 += pass) run(k, buffer, fixedAt, at, u0, Math.min(units, u0 + pass));
    return true;
  }

  function rmsNorm(out: Float32Array, x: Float32Array, w: Float32Array | null, eps: number, T: number, D: number): void {
    need("rmsNorm x", x.length, T * D);
    need("rmsNorm out", out.length, T * D);
    if (w) need("rmsNorm w", w.length, D);
    const m = commonMemory(out, x);
    if (m) {
      // A weight outside this memory (norm weights are ordinary arrays) is copied to its scratch.
      let wAt = w ? addressIn(w, m) : 0;
      if (w && wAt === undefined) {
        wAt = m.scratchOffset;
        new Float32Array(arena.buffer(m), wAt, D).set(w.subarray(0, D));
      }
      return instances[m.index]!.rmsnorm(out.byteOffset, x.byteOffset, wAt!, eps, T, D);
    }
    const done = throughScratch(w ? w.subarray(0, D) : null, T, D, (k, buffer, wAt, at, t0, t1) => {
      const rows = new Float32Array(buffer, at, (t1 - t0) * D);
      rows.set(x.subarray(t0 * D, t1 * D));
      k.rmsnorm(at, at, w ? wAt : 0, eps, t1 - t0, D);
      out.set(rows, t0 * D);
    });
    if (!done) refRmsNorm(out, x, w, eps, T, D);
  }

  function softmaxInPlace(v: Float32Array, n: number): void {
    const m = commonMemory(v);
    if (!m) return refSoftmax(v, n);
    need("softmax", v.length, n);
    instances[m.index]!.softmax(v.byteOffset, n);
  }

  function swigluInPlace(gate: Float32Array, up: Float32Array, n: number): void {
    need("swiglu gate", gate.length, n);
    need("swiglu up", up.length, n);
    const m = commonMemory(gate, up);
    if (m) return instances[m.index]!.swiglu(gate.byteOffset, up.byteOffset, n);
    const done = throughScratch(null, n, 2, (k, buffer, _, at, i0, i1) => {
      const g = new Float32Array(buffer, at, i1 - i0);
      const uAt = at + align((i1 - i0) * 4);
      g.set(gate.subarray(i0, i1));
      new Float32Array(buffer, uAt, i1 - i0).set(up.subarray(i0, i1));
      k.swiglu(at, uAt, i1 - i0);
      gate.set(g, i0);
    });
    if (!done) refSwiglu(gate, up, n);
  }

  function ropeInterleaved(x: Float32Array, cos: Float32Array, sin: Float32Array, T: number, nHeads: number, d: number): void {
    need("rope x", x.length, T * nHeads * d);
    need("rope cos", cos.length, (T * d) / 2);
    need("rope sin", sin.length, (T * d) / 2);
    const half = d / 2;
    const m = commonMemory(x);
    if (m && m.scratchBytes >= 2 * align(T * half * 4)) {
      // Tables outside this memory (they are ordinary arrays) are copied to its scratch.
      let cosAt = addressIn(cos, m), sinAt = addressIn(sin, m);
      if (cosAt === undefined || sinAt === undefined) {
        cosAt = m.scratchOffset;
        sinAt = cosAt + align(T * half * 4);
        new Float32Array(arena.buffer(m), cosAt, T * half).set(cos.subarray(0, T * half));
        new Float32Array(arena.buffer(m), sinAt, T * half).set(sin.subarray(0, T * half));
      }
      return instances[m.index]!.rope(x.byteOffset, cosAt, sinAt, T, nHeads, d);
    }
    const row = nHeads * d;
    const done = throughScratch(null, T, row + d, (k, buffer, _, at, t0, t1) => {
      const n = t1 - t0;
      const xs = new Float32Array(buffer, at, n * row);
      const cosAt = at + align(n * row * 4);
      const sinAt = cosAt + align(n * half * 4);
      xs.set(x.subarray(t0 * row, t1 * row));
      new Float32Array(buffer, cosAt, n * half).set(cos.subarray(t0 * half, t1 * half));
      new Float32Array(buffer, sinAt, n * half).set(sin.subarray(t0 * half, t1 * half));
      k.rope(at, cosAt, sinAt, n, nHeads, d);
      x.set(xs, t0 * row);
    });
    if (!done) refRope(x, cos, sin, T, nHeads, d);
  }

  function addInPlace(h: Float32Array, y: Float32Array, n: number): void {
    need("addInPlace h", h.length, n);
    need("addInPlace y", y.length, n);
    const m = commonMemory(h, y);
    if (m) return instances[m.index]!.add_in_place(h.byteOffset, y.byteOffset, n);
    refAddInPlace(h, y, n);
  }

  /** Copies a row list (and scales) into the scratch of `m`: their addresses. */
  const rowsToScratch = (m: ArenaMemory, rows: Int32Array, scales: Float32Array | null, n: number): [number, number] => {
    const rowsAt = m.scratchOffset;
    const scalesAt = rowsAt + align(n * 4);
    new Int32Array(arena.buffer(m), rowsAt, n).set(rows.subarray(0, n));
    if (scales) new Float32Array(arena.buffer(m), scalesAt, n).set(scales.subarray(0, n));
    return [rowsAt, scalesAt];
  };
  const rowsInRange = (what: string, rows: Int32Array, n: number, limit: number): void => {
    for (let r = 0; r < n; r++) {
      const i = rows[r]!;
      if (!(i >= 0 && i < limit)) throw new RangeError(`${what}: row ${i} outside 0..${limit - 1}`);
    }
  };

  function gatherRows(dst: Float32Array, src: Float32Array, rows: Int32Array, scales: Float32Array, n: number, D: number): void {
    need("gatherRows dst", dst.length, n * D);
    need("gatherRows rows", rows.length, n);
    need("gatherRows scales", scales.length, n);
    rowsInRange("gatherRows", rows, n, Math.floor(src.length / D));
    const m = commonMemory(dst, src);
    if (!m || m.scratchBytes < 2 * align(n * 4)) return refGatherRows(dst, src, rows, scales, n, D);
    const [rowsAt, scalesAt] = rowsToScratch(m, rows, scales, n);
    instances[m.index]!.gather_rows(dst.byteOffset, src.byteOffset, rowsAt, scalesAt, n, D);
  }

  function scatterAddRows(dst: Float32Array, src: Float32Array, rows: Int32Array, n: number, D: number): void {
    need("scatterAddRows src", src.length, n * D);
    need("scatterAddRows rows", rows.length, n);
    rowsInRange("scatterAddRows", rows, n, Math.floor(dst.length / D));
    const m = commonMemory(dst, src);
    if (!m || m.scratchBytes < align(n * 4)) return refScatterAddRows(dst, src, rows, n, D);
    const [rowsAt] = rowsToScratch(m, rows, null, n);
    instances[m.index]!.scatter_add_rows(dst.byteOffset, src.byteOffset, rowsAt, n, D);
  }

  function attnScores(scores: Float32Array, q: Float32Array, kc: Float32Array, stride: number, n: number, d: number, scale: number): void {
    if (n <= 0) return;
    need("attnScores scores", scores.length, n);
    need("attnScores q", q.length, d);
    need("attnScores k", kc.length, (n - 1) * stride + d);
    const m = commonMemory(scores, q, kc);
    if (m) return instances[m.index]!.attn_scores(scores.byteOffset, q.byteOffset, kc.byteOffset, stride, n, d, scale);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[i]! * kc[j * stride + i]!;
      scores[j] = s * scale;
    }
  }

  function attnAccumulate(out: Float32Array, p: Float32Array, v: Float32Array, stride: number, n: number, d: number): void {
    if (n <= 0) return;
    need("attnAccumulate out", out.length, d);
    need("attnAccumulate p", p.length, n);
    need("attnAccumulate v", v.length, (n - 1) * stride + d);
    const m = commonMemory(out, p, v);
    if (m) return instances[m.index]!.attn_accumulate(out.byteOffset, p.byteOffset, v.byteOffset, stride, n, d);
    for (let j = 0; j < n; j++) {
      const pj = p[j]!;
      for (let i = 0; i < d; i++) out[i] = out[i]! + pj * v[j * stride + i]!;
    }
  }

  const alloc = ((dtype: ArenaDType, count: number) => arena.alloc(dtype, count)) as WasmArena["alloc"];

  // Reusable activation buffers in kernel memory, one per slot, grown by doubling (the arena
  // never frees, so growth leaks at most the sum of the smaller sizes).
  const scratchSlots = new Map<number, Float32Array>();
  const scratch = (slot: number, floats: number): Float32Array => {
    const have = scratchSlots.get(slot);
    if (have && have.length >= floats) return have;
    const view = arena.alloc("f32", Math.max(floats, (have?.length ?? 0) * 2, 1024));
    scratchSlots.set(slot, view);
    return view;
  };

  return {
    name: `wasm-${kernelBuild().build}×${threads}`,
    workspace: createWorkspace(arena, options.workspaceBytes ?? 64 << 20),
    attention: createFastAttention({ arena, pool, threads, instances }, { scratch, attnScores, softmaxInPlace, attnAccumulate }),
    threads,
    arena,
    pool,
    matmul,
    accelerates,
    alloc,
    allocMatrix: (dtype, rows, cols) => arena.allocMatrix(dtype, rows, cols),
    rmsNorm,
    softmaxInPlace,
    swigluInPlace,
    ropeInterleaved,
    addInPlace,
    gatherRows,
    scatterAddRows,
    attnScores,
    attnAccumulate,
    ready: () => pool.ready(),
    close: () => pool.close(),
  };
}
