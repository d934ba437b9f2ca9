// Weights and activations the WASM kernels read must live inside a WebAssembly.Memory. The
// arena hands out typed-array views placed in shared memories ({ shared: true }, so worker
// threads run kernels on the same bytes). A wasm32 memory holds at most 4 GiB: when the
// current ones cannot fit an allocation, a new memory is created and listeners (the kernel
// set, the thread pool) instantiate the module on it. Nothing is ever freed.
//
// Layout of every memory:
//   [0, 320 KiB)                     the kernels' (address 0 means "no pointer"; from 1 KiB,
//                                    one 64-byte scratch line per thread; then at 64 KiB a
//                                    256 KiB f16 → f32 table)
//   [320 KiB, 320 KiB + scratchBytes) scratch: activations copied in, outputs copied out
//   [.., limit)                      allocations, 64-byte aligned, growing upward
import type { FloatDType } from "../dtype.js";
import { matrix, type Matrix, type WeightDType } from "../matrix.js";
import { QUANT_FORMATS, isQuantDType, type QuantDType } from "../quant/index.js";
import { KERNEL_RESERVED_BYTES, MAX_MEMORY_BYTES, WASM_PAGE } from "./module.js";
import { wasm, type WasmMemory } from "./wasm-api.js";

/** What an allocation holds: a weight storage type, or raw bytes. */
export type ArenaDType = WeightDType | "u8";

export interface WasmArenaOptions {
  /** Size limit of each memory in bytes: a multiple of 64 KiB, at most 4 GiB (the default). */
  maxMemoryBytes?: number;
  /** Scratch bytes reserved at the start of every memory (default 64 MiB). */
  scratchBytes?: number;
}

export interface ArenaMemory {
  /** Position in WasmArena.memories (and in every worker's instance list). */
  readonly index: number;
  readonly memory: WasmMemory;
  readonly scratchOffset: number;
  readonly scratchBytes: number;
  /** Bytes this memory may grow to. */
  readonly limit: number;
  /** First free byte above the scratch. */
  top: number;
}

export interface ArenaLocation {
  readonly memory: ArenaMemory;
  /** Byte address of the view's first element inside that memory. */
  readonly byteOffset: number;
}

const RESERVED_BYTES = KERNEL_RESERVED_BYTES;
const ALIGN = 64;
/** Memories grow by at least this much (untouched pages cost no RSS). */
const MIN_GROWTH_BYTES = 64 << 20;

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Bytes that `count` values of `dtype` occupy (quantized: count is a whole number of blocks). */
export function arenaBytes(dtype: ArenaDType, count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`arena: bad element count ${count}`);
  if (dtype === "u8") return count;
  if (isQuantDType(dtype)) {
    const { blockSize, blockBytes } = QUANT_FORMATS[dtype];
    if (count % blockSize !== 0) throw new RangeError(`arena: ${count} ${dtype} values are not a whole number of ${blockSize}-value blocks`);
    return (count / blockSize) * blockBytes;
  }
  return dtype === "f32" ? count * 4 : count * 2;
}

export class WasmArena {
  readonly maxMemoryBytes: number;
  readonly scratchBytes: number;
  private readonly list: ArenaMemory[] = [];
  /** Every SharedArrayBuffer object handed out for a memory (a grown memory returns a new one). */
  private readonly owners = new WeakMap<ArrayBufferLike, ArenaMemory>();
  private readonly listeners: ((m: ArenaMemory) => void)[] = [];

  constructor(options: WasmArenaOptions = {}) {
    this.maxMemoryBytes = options.maxMemoryBytes ?? MAX_MEMORY_BYTES;
    this.scratchBytes = roundUp(options.scratchBytes ?? 64 << 20, ALIGN);
    if (this.maxMemoryBytes % WASM_PAGE !== 0 || this.maxMemoryBytes > MAX_MEMORY_BYTES) {
      throw new RangeError(`arena: maxMemoryBytes must be a multiple of 64 KiB up to 4 GiB, got ${this.maxMemoryBytes}`);
    }
    if (RESERVED_BYTES + this.scratchBytes >= this.maxMemoryBytes) {
      throw new RangeError(`arena: ${this.scratchBytes} scratch bytes leave no room in a ${this.maxMemoryBytes}-byte memory`);
    }
  }

  get memories(): readonly ArenaMemory[] {
    return this.list;
  }

  /** Bytes available for allocations in one memory. */
  get capacityPerMemory(): number {
    return this.maxMemoryBytes - RESERVED_BYTES - this.scratchBytes;
  }

  /** Calls `listener` for every memory, existing ones first, then each new one as it is created. */
  onMemory(listener: (m: ArenaMemory) => void): void {
    this.listeners.push(listener);
    for (const m of this.list) listener(m);
  }

  alloc(dtype: "f32", count: number): Float32Array;
  alloc(dtype: "f16" | "bf16", count: number): Uint16Array;
  alloc(dtype: QuantDType | "u8", count: number): Uint8Array;
  alloc(dtype: ArenaDType, count: number): Float32Array | Uint16Array | Uint8Array;
  /**
   * A zeroed view of `count` values of `dtype` inside an arena memory; for quantized types
   * `count` is the number of weights and the view holds their blocks' bytes.
   */
  alloc(dtype: ArenaDType, count: number): Float32Array | Uint16Array | Uint8Array {
    const bytes = arenaBytes(dtype, count);
    const { memory, byteOffset } = this.place(bytes, dtype);
    const buffer = this.buffer(memory);
    if (dtype === "f32") return new Float32Array(buffer, byteOffset, count);
    if (dtype === "f16" || dtype === "bf16") return new Uint16Array(buffer, byteOffset, count);
    return new Uint8Array(buffer, byteOffset, bytes);
  }

  /** A zeroed [rows, cols] matrix of `dtype` whose data lives in the arena. */
  allocMatrix(dtype: WeightDType, rows: number, cols: number): Matrix {
    if (isQuantDType(dtype)) {
      if (cols % QUANT_FORMATS[dtype].blockSize !== 0) {
        throw new RangeError(`${dtype} matrix [${rows}, ${cols}]: cols must be a multiple of ${QUANT_FORMATS[dtype].blockSize}`);
      }
      return matrix(dtype, rows, cols, this.alloc(dtype, rows * cols));
    }
    const float: FloatDType = dtype;
    return matrix(float, rows, cols, this.alloc(float, rows * cols));
  }

  /** The memory and byte address of a view into the arena, or undefined for any other array. */
  locate(view: ArrayBufferView): ArenaLocation | undefined {
    const memory = this.owners.get(view.buffer);
    return memory ? { memory, byteOffset: view.byteOffset } : undefined;
  }

  /** Bytes handed out so far, over all memories. */
  get bytesAllocated(): number {
    return this.list.reduce((s, m) => s + m.top - (RESERVED_BYTES + m.scratchBytes), 0);
  }

  /** The memory's current SharedArrayBuffer, registered so views over it are recognised. */
  buffer(m: ArenaMemory): SharedArrayBuffer {
    const buffer = m.memory.buffer as unknown as SharedArrayBuffer;
    if (!this.owners.has(buffer)) this.owners.set(buffer, m);
    return buffer;
  }

  private place(bytes: number, what: string): { memory: ArenaMemory; byteOffset: number } {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    if (size > this.capacityPerMemory) {
      throw new RangeError(
        `arena: ${bytes} bytes of ${what} exceed one wasm32 memory (${this.capacityPerMemory} usable bytes); split the tensor by rows`,
      );
    }
    // First fit: earlier memories may still have room for small tensors.
    const target = this.list.find((m) => m.top + size <= m.limit) ?? this.addMemory();
    const byteOffset = target.top;
    target.top += size;
    this.ensureSize(target, target.top);
    return { memory: target, byteOffset };
  }

  private ensureSize(m: ArenaMemory, end: number): void {
    const have = m.memory.buffer.byteLength;
    if (end <= have) return;
    const want = Math.min(m.limit, Math.max(roundUp(end, WASM_PAGE), have + MIN_GROWTH_BYTES));
    m.memory.grow((want - have) / WASM_PAGE);
  }

  private addMemory(): ArenaMemory {
    const base = RESERVED_BYTES + this.scratchBytes;
    const initialPages = Math.ceil(base / WASM_PAGE);
    const memory = new wasm.Memory({ initial: initialPages, maximum: this.maxMemoryBytes / WASM_PAGE, shared: true });
    const m: ArenaMemory = {
      index: this.list.length, memory, scratchOffset: RESERVED_BYTES, scratchBytes: this.scratchBytes,
      limit: this.maxMemoryBytes, top: base,
    };
    this.list.push(m);
    this.buffer(m);
    for (const listener of this.listeners) listener(m);
    return m;
  }
}
