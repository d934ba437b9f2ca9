// The slice of the WebAssembly JS API the kernels use. The project compiles without the DOM
// lib, where TypeScript declares `WebAssembly`; Node has it at run time, so it is typed here
// once instead of declaring a global.

export interface WasmMemory {
  /** A SharedArrayBuffer for shared memories; a new object after every grow. */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Grows by `pages` 64 KiB pages and returns the old size in pages. */
  grow(pages: number): number;
}

/** A compiled module (opaque; may be sent to workers). */
export interface WasmModule {
  readonly __brand?: "WasmModule";
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
