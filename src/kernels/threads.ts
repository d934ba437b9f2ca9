// A pool of worker threads that run WASM row kernels on shared memories together with the
// main thread. A job is published in a shared control block and split into row chunks that
// every thread claims (wasm/control.ts); the main thread works too and then waits on the
// DONE word. Idle workers spin briefly, then sleep in Atomics.wait; they are unref'd, so an
// open pool never keeps the process alive, and close() stops them.
import { Worker, MessageChannel, type MessagePort } from "node:worker_threads";
import { availableParallelism } from "node:os";
import {
  ARGS, ARG_COUNT, CHUNK_ROWS, CLAIM, CONTROL_BYTES, DONE, ERROR, GEN, KERNEL, MAX_CHUNKS, MEMORIES, MEMORY, ROWS, SLEEPERS,
  STOP, WORKER_CHUNKS, claimWord, controlView, errorText, runChunks, type Control,
} from "./wasm/control.js";
import { ROW_KERNELS, threadSlot, type KernelExports, type RowKernelName } from "./wasm/module.js";
import type { WasmMemory, WasmModule } from "./wasm/wasm-api.js";
import type { MemoryMessage, WorkerInit } from "./threads-worker.js";

export interface ThreadPoolOptions {
  /** Threads in all, the calling thread included (default os.availableParallelism()). */
  threads?: number;
  /** Checks of the job word a worker makes before sleeping (default 20000, ~tens of µs). */
  spin?: number;
}

/**
 * The worker, started from its compiled .js beside this module; when running from .ts
 * source under tsx, workers do not inherit tsx's loader in Node 20, so a two-line
 * bootstrap registers it before importing threads-worker.ts.
 */
function startWorker(init: WorkerInit, transferList: MessagePort[]): Worker {
  if (!import.meta.url.endsWith(".ts")) {
    return new Worker(new URL("./threads-worker.js", import.meta.url), { workerData: init, transferList });
  }
  const tsx = import.meta.resolve("tsx/esm/api");
  const script = new URL("./threads-worker.ts", import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(script)}));`;
  return new Worker(bootstrap, { eval: true, workerData: init, transferList });
}

export class ThreadPool {
  /** Threads that run a job: the caller plus the workers. */
  readonly threads: number;
  private readonly control: Control;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly memories: WasmMemory[] = [];
  private readonly mainKernels: KernelExports[] = [];
  private readonly started: Promise<void>;
  private gen = 0;
  private closed = false;

  /**
   * `memories` and `mainKernels` (the caller's instances, same order) may be extended later
   * with addMemory; `module` is sent to every worker.
   */
  constructor(module: WasmModule, options: ThreadPoolOptions = {}) {
    this.threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
    this.control = controlView(new SharedArrayBuffer(CONTROL_BYTES));
    const spin = options.spin ?? 20000;
    // A worker that fails to start leaves its share to the others; ready() reports it.
    const starts: Promise<Error | undefined>[] = [];
    for (let i = 1; i < this.threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = { module, memories: [], control: this.control.buffer, port: port2, spin, slot: threadSlot(i) };
      const worker = startWorker(init, [port2]);
      worker.unref();
      port1.unref();
      starts.push(new Promise<Error | undefined>((resolve) => {
        port1.once("message", () => resolve(undefined));
        worker.once("error", (e) => resolve(e));
        worker.once("exit", (code) => resolve(new Error(`kernel worker exited with code ${code} before starting`)));
      }));
      this.workers.push(worker);
      this.ports.push(port1);
    }
    this.started = Promise.all(starts).then((errors) => {
      const failed = errors.find((e) => e !== undefined);
      if (failed) throw failed;
    });
    this.started.catch(() => undefined); // reported by ready(), never unhandled
  }

  /**
   * Resolves when every worker has started (jobs run before then are done by the others);
   * rejects if one failed to start.
   */
  ready(): Promise<void> {
    return this.started;
  }

  /** Chunks the workers (not the calling thread) have run so far. */
  get workerChunks(): number {
    return Atomics.load(this.control.i32, WORKER_CHUNKS);
  }

  /** Announces a memory (index = order of calls) with the caller's instance on it. */
  addMemory(memory: WasmMemory, mainKernels: KernelExports): number {
    const index = this.memories.length;
    this.memories.push(memory);
    this.mainKernels.push(mainKernels);
    const message: MemoryMessage = { index, memory };
    for (const port of this.ports) port.postMessage(message);
    Atomics.store(this.control.i32, MEMORIES, this.memories.length);
    return index;
  }

  /**
   * Runs `kernel(args…, r0, r1)` over rows [0, rows) of memory `memory` in chunks of
   * `chunkRows`, on every thread, and returns when all are done.
   */
  run(memory: number, kernel: RowKernelName, args: readonly number[], rows: number, chunkRows: number): void {
    if (this.closed) throw new Error("thread pool is closed");
    if (args.length !== ARG_COUNT) throw new Error(`row kernels take ${ARG_COUNT} arguments, got ${args.length}`);
    const main = this.mainKernels[memory];
    if (!main) throw new Error(`thread pool: unknown memory ${memory}`);
    if (rows <= 0) return;
    const chunks = Math.ceil(rows / chunkRows);
    if (chunks > MAX_CHUNKS) throw new RangeError(`thread pool: ${chunks} chunks exceed ${MAX_CHUNKS}`);
    if (this.workers.length === 0 || chunks === 1) {
      main[kernel](args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5]!, args[6]!, args[7]!, 0, rows, threadSlot(0));
      return;
    }
    const c = this.control;
    const i32 = c.i32;
    this.gen = (this.gen + 1) | 0;
    const gen = this.gen;
    // Parameters, then CLAIM, then GEN (see control.ts).
    i32[KERNEL] = ROW_KERNELS.indexOf(kernel);
    i32[MEMORY] = memory;
    i32[ROWS] = rows;
    i32[CHUNK_ROWS] = chunkRows;
    for (let k = 0; k < ARG_COUNT; k++) i32[ARGS + k] = args[k]!;
    Atomics.store(i32, DONE, 0);
    Atomics.store(i32, ERROR, 0);
    Atomics.store(i32, CLAIM, claimWord(gen, chunks));
    Atomics.store(i32, GEN, gen);
    if (Atomics.load(i32, SLEEPERS) > 0) Atomics.notify(i32, GEN);
    runChunks(c, gen, (m) => this.mainKernels[m]!, threadSlot(0));
    let spins = 0;
    for (;;) {
      const done = Atomics.load(i32, DONE);
      if (done >= chunks) break;
      if (++spins > 1 << 16) Atomics.wait(i32, DONE, done, 5);
    }
    if (Atomics.load(i32, ERROR) !== 0) throw new Error(`WASM kernel ${kernel} failed: ${errorText(c)}`);
  }

  /** Stops the workers; later run() calls throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const i32 = this.control.i32;
    Atomics.store(i32, STOP, 1);
    Atomics.add(i32, GEN, 1);
    Atomics.notify(i32, GEN);
    for (const port of this.ports) port.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
