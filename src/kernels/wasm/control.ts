// The control block a thread pool shares with its workers: one job at a time, split into
// row chunks that the main thread and the workers claim with compare-and-swap, so no
// message is sent per call and a slow or not-yet-started worker never holds a job up.
//
//   Int32 words: GEN job generation (workers Atomics.wait on it), DONE chunks finished,
//   STOP, ERROR failed chunks, SLEEPERS workers blocked in Atomics.wait, MEMORIES memories
//   announced, WORKER_CHUNKS chunks run by workers (a statistic), CLAIM, then the job:
//   KERNEL, MEMORY, ROWS, CHUNK_ROWS, ARGS[8]; ERROR_TEXT the first failure's message.
//   CLAIM = tag << 22 | chunks << 11 | next chunk, tag = generation mod 1024.
// Publishing a job: parameters first, then CLAIM, then GEN. A thread claims by CAS on CLAIM
// with the tag of the generation it woke for and reads the parameters only after a
// successful claim: the CAS synchronises with the CLAIM store, which follows the
// parameters, and the job cannot finish (so nothing is overwritten) while a chunk of it is
// claimed and not done. A worker that slept through 1024 jobs and matches a wrapped tag
// therefore still runs a genuine chunk of the current job with its parameters.
import { ROW_KERNELS, type KernelExports, type MatmulKernel } from "./module.js";

export const GEN = 0;
export const DONE = 1;
export const STOP = 2;
export const ERROR = 3;
export const SLEEPERS = 4;
export const MEMORIES = 5;
export const WORKER_CHUNKS = 6;
export const CLAIM = 7;
export const KERNEL = 8;
export const MEMORY = 9;
export const ROWS = 10;
export const CHUNK_ROWS = 11;
export const ARGS = 12;
export const ARG_COUNT = 8;
const WORDS = ARGS + ARG_COUNT;
const ERROR_TEXT_BYTE = 128;
const ERROR_TEXT_BYTES = 1024;
export const CONTROL_BYTES = ERROR_TEXT_BYTE + ERROR_TEXT_BYTES;
/** Chunks per job are counted in 11 bits. */
export const MAX_CHUNKS = 0x7ff;

export interface Control {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly errorText: Uint8Array;
}

export function controlView(buffer: SharedArrayBuffer): Control {
  return {
    buffer,
    i32: new Int32Array(buffer, 0, WORDS),
    errorText: new Uint8Array(buffer, ERROR_TEXT_BYTE, ERROR_TEXT_BYTES),
  };
}

/** The CLAIM word of job `gen` with `chunks` chunks, none claimed. */
export function claimWord(gen: number, chunks: number): number {
  return ((gen & 0x3ff) << 22) | (chunks << 11);
}

/** Claims the next chunk of job `gen`: its index, or −1 when that job has none left (or is over). */
export function claimChunk(c: Control, gen: number): number {
  const tag = gen & 0x3ff;
  for (;;) {
    const word = Atomics.load(c.i32, CLAIM);
    if (word >>> 22 !== tag) return -1;
    const next = word & 0x7ff;
    if (next >= ((word >>> 11) & 0x7ff)) return -1;
    if (Atomics.compareExchange(c.i32, CLAIM, word, word + 1) === word) return next;
  }
}

/**
 * Claims and runs chunks of job `gen` until none is left, with `kernelsFor` giving the
 * caller's instance on the job's memory (looked up after the first claim, when the job is
 * pinned). Returns the number of chunks run.
 */
export function runChunks(c: Control, gen: number, kernelsFor: (memory: number) => KernelExports, slot: number): number {
  let chunk = claimChunk(c, gen);
  if (chunk < 0) return 0;
  let ran = 0;
  const i32 = c.i32;
  const rows = i32[ROWS]!;
  const chunkRows = i32[CHUNK_ROWS]!;
  const chunks = Math.ceil(rows / chunkRows);
  const a = i32.slice(ARGS, ARGS + ARG_COUNT);
  let kernel: MatmulKernel | undefined;
  let failure: unknown;
  try {
    kernel = kernelsFor(i32[MEMORY]!)[ROW_KERNELS[i32[KERNEL]!]!];
  } catch (e) {
    failure = e;
  }
  while (chunk >= 0) {
    const r0 = chunk * chunkRows;
    const r1 = Math.min(rows, r0 + chunkRows);
    try {
      if (!kernel) throw failure;
      kernel(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, r0, r1, slot);
    } catch (e) {
      recordError(c, e);
    }
    ran++;
    if (Atomics.add(i32, DONE, 1) + 1 === chunks) Atomics.notify(i32, DONE);
    chunk = claimChunk(c, gen);
  }
  return ran;
}

function recordError(c: Control, e: unknown): void {
  if (Atomics.add(c.i32, ERROR, 1) !== 0) return;
  const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, c.errorText.length - 1);
  c.errorText.fill(0);
  c.errorText.set(text);
}

export function errorText(c: Control): string {
  const end = c.errorText.indexOf(0);
  return new TextDecoder().decode(c.errorText.slice(0, end < 0 ? c.errorText.length : end));
}
