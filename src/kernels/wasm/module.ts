// Loading kernels.wasm (built from ./assembly by `npm run build:wasm`) and instantiating it
// on a shared memory. The module has no data segments and no globals, so one compiled
// module is instantiated on every memory, in the main thread and in every worker.
import { existsSync, readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
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
  /** 1 in the relaxed-SIMD build (q8_k activations int8 in order), else 0 (int16, evens first per 16). */
  relaxed_simd(): number;
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
  ...ROW_KERNELS, "pair_split", "init_f16_table", "reserved_bytes", "relaxed_simd", "quantize_q8_32", "quantize_q8_k", "dot", "axpy", "rmsnorm", "softmax", "swiglu", "rope",
  "attn_scores", "attn_accumulate", "attn_merge", "add_in_place", "gather_rows", "scatter_add_rows", "encode_kv_f16", "encode_kv_q8_0",
];

/**
 * The two builds of the kernels from the same source: "simd" (WebAssembly SIMD, every engine
 * since 2021) and "relaxed-simd" (adds the 8-bit dot product i16x8.relaxed_dot_i8x16_i7x16_s,
 * which the K-quant kernels use; Chrome 114+, Node 22+, Node 20 behind a V8 flag). Both give
 * the same bits: the relaxed instruction is only fed operands where it is exact.
 */
export type KernelBuild = "simd" | "relaxed-simd";

const FILES: Record<KernelBuild, string> = { "simd": "kernels.wasm", "relaxed-simd": "kernels-relaxed.wasm" };

/** Where a build's file may be: beside this file (source tree, or copied into dist), else the source tree. */
function wasmCandidates(file: string): string[] {
  return [fileURLToPath(new URL(`./${file}`, import.meta.url)), fileURLToPath(new URL(`../../../src/kernels/wasm/${file}`, import.meta.url))];
}

/**
 * A 1-function module computing Σ (relaxed_dot_i8x16_i7x16_s(a, b) pair sums) for constant
 * a = [-127, -100, …] (signed) and b = [0, 63, …] (7-bit): it validates only where relaxed
 * SIMD is on, and its result checks that the engine computes the instruction as specified.
 */
const PROBE_A = [-127, -100, -64, -1, 0, 1, 2, 3, 17, 33, 64, 100, 120, 126, 127, -50];
const PROBE_B = [0, 63, 1, 62, 2, 61, 3, 60, 4, 59, 5, 58, 6, 57, 7, 63];
function relaxedProbe(): Uint8Array {
  const u8 = (xs: number[]) => xs.map((v) => v & 0xff);
  const lane = (i: number) => [0x20, 0x00, 0xfd, 0x1b, i]; // local.get 0; i32x4.extract_lane i
  const body = [
    0x01, 0x01, 0x7b, // one v128 local
    0xfd, 0x0c, ...u8(PROBE_A), // v128.const a
    0xfd, 0x0c, ...u8(PROBE_B), // v128.const b
    0xfd, 0x92, 0x02, // i16x8.relaxed_dot_i8x16_i7x16_s
    0xfd, 0x7e, // i32x4.extadd_pairwise_i16x8_s
    0x21, 0x00, // local.set 0
    ...lane(0), ...lane(1), 0x6a, ...lane(2), 0x6a, ...lane(3), 0x6a, // i32.add ×3
    0x0b, // end
  ];
  const code = [0x01, body.length, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f" = function 0
    0x0a, code.length, ...code,
  ]);
}

/** Whether this engine runs relaxed SIMD correctly; on Node 20 it first turns on V8's flag for it. */
function relaxedSimdWorks(): boolean {
  const probe = relaxedProbe();
  if (!wasm.validate(probe)) {
    // Node 20 (V8 11.3) has the feature behind a flag: wasm features are checked when a
    // module is compiled, so enabling it now applies to every module compiled afterwards.
    if (typeof process === "undefined" || !process.versions?.node) return false;
    setFlagsFromString("--experimental-wasm-relaxed-simd");
    if (!wasm.validate(probe)) return false;
  }
  const f = new wasm.Instance(new wasm.Module(probe), {}).exports["f"] as () => number;
  let want = 0;
  for (let i = 0; i < 16; i++) want += PROBE_A[i]! * PROBE_B[i]!;
  return f() === want;
}

let compiled: { module: WasmModule; build: KernelBuild; path: string } | undefined;

/**
 * The build to use: $LLAMA4_KERNELS ("simd" or "relaxed-simd") if set, else relaxed SIMD where
 * the engine runs it. $LLAMA4_KERNELS_WASM names a file to load instead (its build is asked).
 */
function chooseBuild(): KernelBuild {
  const forced = process.env["LLAMA4_KERNELS"];
  if (forced !== undefined && forced !== "") {
    if (forced !== "simd" && forced !== "relaxed-simd") throw new Error(`LLAMA4_KERNELS must be "simd" or "relaxed-simd", got "${forced}"`);
    if (forced === "relaxed-simd" && !relaxedSimdWorks()) throw new Error("LLAMA4_KERNELS=relaxed-simd: this JavaScript engine does not run relaxed SIMD");
    return forced;
  }
  return relaxedSimdWorks() ? "relaxed-simd" : "simd";
}

/**
 * One build compiled on its own (tests compare the builds); undefined where the engine does
 * not run it. Engines use kernelModule().
 */
export function compileKernelBuild(build: KernelBuild): WasmModule | undefined {
  if (build === "relaxed-simd" && !relaxedSimdWorks()) return undefined;
  const path = wasmCandidates(FILES[build]).find((p) => existsSync(p));
  if (!path) throw new Error(`${FILES[build]} not found; run \`npm run build:wasm\``);
  return new wasm.Module(readFileSync(path));
}

/** The compiled kernel module (compiled once per thread; workers receive it ready-made). */
export function kernelModule(): WasmModule {
  return loadKernels().module;
}

/** Which build of the kernels runs, and from where. */
export function kernelBuild(): { build: KernelBuild; path: string } {
  const { build, path } = loadKernels();
  return { build, path };
}

function loadKernels(): { module: WasmModule; build: KernelBuild; path: string } {
  if (compiled) return compiled;
  const env = process.env["LLAMA4_KERNELS_WASM"];
  let build = env ? undefined : chooseBuild();
  const candidates = env ? [env] : wasmCandidates(FILES[build!]);
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new Error(`${env ? "$LLAMA4_KERNELS_WASM" : FILES[build!]} not found (looked in ${candidates.join(", ")}); run \`npm run build:wasm\``);
  const bytes = readFileSync(path);
  if (env && !wasm.validate(bytes)) relaxedSimdWorks(); // a relaxed build on Node 20 needs the flag
  const module = new wasm.Module(bytes);
  if (build === undefined) {
    const probe = new wasm.Instance(module, { env: { memory: new wasm.Memory({ initial: 6, maximum: 65536, shared: true }) } }).exports["relaxed_simd"];
    build = typeof probe === "function" && (probe as () => number)() === 1 ? "relaxed-simd" : "simd";
  }
  compiled = { module, build, path };
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
