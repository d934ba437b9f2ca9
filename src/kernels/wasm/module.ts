// Loading kernels.wasm (built from ./assembly by `npm run build:wasm`) and instantiating it
// on a shared memory. The module has no data segments and no globals, so one compiled
// module is instantiated on every memory, in the main thread and in every worker.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { wasm, type WasmMemory, type WasmModule } from "./wasm-api.js";

/**
 * A row-range matmul kernel: y[t, r0..r1) for t < T. Pointers are byte addresses; `slot` is
 * the calling thread's private scratch line (threadSlot).
 */
export type MatmulKernel = (
  y: number, x: number, xScale: number, xSum: number, w: number, T: number, I: number, O: number, r0: number, r1: number, slot: number,
) => void;

/** Byte address of thread `i`'s private 64-byte scratch line in every memory (assembly/common.ts THREAD_SLOTS). */
export function threadSlot(i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= 1008) throw new RangeError(`thread slot ${i} out of range`);
  return 1024 + 64 * i;
}

/** The exports of kernels.wasm, typed (see assembly/index.ts). */
export interface KernelExports {
  readonly matmul_f32: MatmulKernel;
  readonly matmul_f16: MatmulKernel;
  readonly matmul_bf16: MatmulKernel;
  readonly matmul_q8_0: MatmulKernel;
  readonly matmul_q4_0: MatmulKernel;
  readonly matmul_q5_0: MatmulKernel;
  readonly matmul_q4_k: MatmulKernel;
  readonly matmul_q5_k: MatmulKernel;
  readonly matmul_q6_k: MatmulKernel;
  /**
   * Attention over (token, head) units [r0, r1) with the KV cache stored as f32 / f16 / Q8_0:
   * (params, q, out, k, v, 0, 0, 0, r0, r1), parameters in memory (assembly/attention.ts).
   */
  readonly attn_rows_f32: MatmulKernel;
  readonly attn_rows_f16: MatmulKernel;
  readonly attn_rows_q8_0: MatmulKernel;
  /**
   * One query token against rows [r0, r1) of its visible rows, into per-chunk partials:
   * (params, q, k, v, 0, 0, 0, 0, r0, r1) (assembly/attention.ts).
   */
  readonly attn_decode_f32: MatmulKernel;
  readonly attn_decode_f16: MatmulKernel;
  readonly attn_decode_q8_0: MatmulKernel;
  /** f16 / q8_0 cache rows [r0, r1) widened to f32: (dst, src, 0, 0, 0, 0, width, 0, r0, r1). */
  readonly widen_rows_f16: MatmulKernel;
  readonly widen_rows_q8_0: MatmulKernel;
  /** Combines attn_decode's `chunks` partials into out [H, d]. */
  attn_merge(params: number, out: number, chunks: number): void;
  /** quantize_q8_32 / quantize_q8_k for tokens [r0, r1): (x, q, d, sums, 0, T, I, 0, r0, r1). */
  readonly quantize_rows_q8_32: MatmulKernel;
  readonly quantize_rows_q8_k: MatmulKernel;
  /** Rows of x f32 [T, I] reordered for matmul_f16/bf16: each group of 8 → evens, then odds. */
  pair_split(src: number, dst: number, T: number, I: number): void;
  /** x f32 [T, I] → q int16 [T, I], d f32 [T, I/32] (ggml Q8_0 rules). */
  quantize_q8_32(x: number, q: number, d: number, T: number, I: number): void;
  /** x f32 [T, I] → q int16 [T, I], d f32 [T, I/256], sums int16 [T, I/32] (ggml Q8_K rules). */
  quantize_q8_k(x: number, q: number, d: number, sums: number, T: number, I: number): void;
  dot(a: number, b: number, n: number): number;
  axpy(y: number, alpha: number, x: number, n: number): void;
  /** w = 0: no weight. */
  rmsnorm(out: number, x: number, w: number, eps: number, T: number, D: number): void;
  softmax(v: number, n: number): void;
  swiglu(gate: number, up: number, n: number): void;
  add_in_place(h: number, y: number, n: number): void;
  /** n f32 values → f16 / ggml Q8_0 KV-cache bytes (encodeKVRows' bits). */
  encode_kv_f16(src: number, dst: number, n: number): void;
  encode_kv_q8_0(src: number, dst: number, n: number): void;
  /** dst[r] = scales[r] · src[rows[r]], rows of D floats, r < n (rows: i32, scales: f32). */
  gather_rows(dst: number, src: number, rows: number, scales: number, n: number, D: number): void;
  /** dst[rows[r]] += src[r], rows of D floats, r < n. */
  scatter_add_rows(dst: number, src: number, rows: number, n: number, D: number): void;
  rope(x: number, cos: number, sin: number, T: number, nHeads: number, d: number): void;
  attn_scores(scores: number, q: number, k: number, stride: number, n: number, d: number, scale: number): void;
  attn_accumulate(out: number, p: number, v: number, stride: number, n: number, d: number): void;
  /** Fills the memory's f16 → f32 table (once per memory, before any quantized matmul). */
  init_f16_table(): void;
  /** Bytes at the start of a memory the kernels own (must equal KERNEL_RESERVED_BYTES). */
  reserved_bytes(): number;
}

/** Names of the row-range kernels, in the order the thread pool numbers them. */
export const ROW_KERNELS = [
  "matmul_f32", "matmul_f16", "matmul_bf16", "matmul_q8_0", "matmul_q4_0", "matmul_q5_0",
  "matmul_q4_k", "matmul_q5_k", "matmul_q6_k",
  "attn_rows_f32", "attn_rows_f16", "attn_rows_q8_0",
  "attn_decode_f32", "attn_decode_f16", "attn_decode_q8_0", "widen_rows_f16", "widen_rows_q8_0",
  "quantize_rows_q8_32", "quantize_rows_q8_k",
] as const;
export type RowKernelName = (typeof ROW_KERNELS)[number];

const EXPORTED: readonly (keyof KernelExports)[] = [
  ...ROW_KERNELS, "pair_split", "init_f16_table", "reserved_bytes", "quantize_q8_32", "quantize_q8_k", "dot", "axpy", "rmsnorm", "softmax", "swiglu", "rope",
  "attn_scores", "attn_accumulate", "attn_merge", "add_in_place", "gather_rows", "scatter_add_rows", "encode_kv_f16", "encode_kv_q8_0",
];

/** Where kernels.wasm may be: beside this file (source tree, or copied into dist), else the source tree. */
function wasmCandidates(): string[] {
  const here = new URL("./kernels.wasm", import.meta.url);
  const fromDist = new URL("../../../src/kernels/wasm/kernels.wasm", import.meta.url);
  const env = process.env["LLAMA4_KERNELS_WASM"];
  return [...(env ? [env] : []), fileURLToPath(here), fileURLToPath(fromDist)];
}

let compiled: WasmModule | undefined;

/** The compiled kernel module (compiled once per thread; workers receive it ready-made). */
export function kernelModule(): WasmModule {
  if (compiled) return compiled;
  const candidates = wasmCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new Error(`kernels.wasm not found (looked in ${candidates.join(", ")}); run \`npm run build:wasm\``);
  compiled = new wasm.Module(readFileSync(path));
  return compiled;
}

/** One instance of the kernels reading and writing `memory`. */
export function instantiateKernels(module: WasmModule, memory: WasmMemory): KernelExports {
  const exports = new wasm.Instance(module, { env: { memory } }).exports;
  for (const name of EXPORTED) {
    if (typeof exports[name] !== "function") throw new Error(`kernels.wasm does not export ${name}; rebuild it with \`npm run build:wasm\``);
  }
  const kernels = exports as unknown as KernelExports;
  if (kernels.reserved_bytes() !== KERNEL_RESERVED_BYTES) {
    throw new Error(`kernels.wasm reserves ${kernels.reserved_bytes()} bytes, the arena expects ${KERNEL_RESERVED_BYTES}; rebuild it`);
  }
  return kernels;
}

/**
 * Bytes at the start of every memory that belong to the kernels: 64 KiB never used (address
 * 0 means "no pointer") and the 256 KiB f16 → f32 table (assembly/common.ts).
 */
export const KERNEL_RESERVED_BYTES = 5 * 65536;

/** Bytes of a wasm page. */
export const WASM_PAGE = 65536;
/** The most a wasm32 memory can hold: 65536 pages = 4 GiB. */
export const MAX_MEMORY_BYTES = 65536 * WASM_PAGE;
