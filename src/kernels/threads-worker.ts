// A kernel worker: instantiates kernels.wasm on every arena memory, then sleeps on the
// control block's generation word and claims row chunks of each job (see wasm/control.ts).
// New memories arrive as messages on `port`, read synchronously when the control block
// announces more memories than this worker has instances for.
import { receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { instantiateKernels, type KernelExports } from "./wasm/module.js";
import { GEN, MEMORIES, SLEEPERS, STOP, WORKER_CHUNKS, controlView, runChunks } from "./wasm/control.js";
import type { WasmMemory, WasmModule } from "./wasm/wasm-api.js";

export interface WorkerInit {
  readonly module: WasmModule;
  readonly memories: readonly WasmMemory[];
  readonly control: SharedArrayBuffer;
  readonly port: MessagePort;
  /** Checks of the generation word before sleeping on it. */
  readonly spin: number;
  /** This worker's private scratch line (threadSlot). */
  readonly slot: number;
}

/** A memory announced after the worker started: { index, memory }. */
export interface MemoryMessage {
  readonly index: number;
  readonly memory: WasmMemory;
}

const init = workerData as WorkerInit;
const control = controlView(init.control);
const i32 = control.i32;
const instances: KernelExports[] = init.memories.map((m) => instantiateKernels(init.module, m));

function kernelsFor(index: number): KernelExports {
  const k = instances[index];
  if (!k) throw new Error(`kernel worker has no instance for memory ${index}`);
  return k;
}

/** Instantiates memories announced since the last look; false if one is still missing. */
function catchUpMemories(): boolean {
  const announced = Atomics.load(i32, MEMORIES);
  while (instances.length < announced) {
    const received = receiveMessageOnPort(init.port);
    if (!received) return false;
    const { index, memory } = received.message as MemoryMessage;
    if (index === instances.length) instances.push(instantiateKernels(init.module, memory));
  }
  return true;
}

init.port.postMessage("ready");
let seen = Atomics.load(i32, GEN);
for (;;) {
  let spins = 0;
  while (Atomics.load(i32, GEN) === seen) {
    if (++spins < init.spin) continue;
    Atomics.add(i32, SLEEPERS, 1);
    Atomics.wait(i32, GEN, seen);
    Atomics.sub(i32, SLEEPERS, 1);
  }
  if (Atomics.load(i32, STOP) !== 0) break;
  seen = Atomics.load(i32, GEN);
  // A memory too new to have reached this worker: leave the job to the others.
  if (catchUpMemories()) {
    const ran = runChunks(control, seen, kernelsFor, init.slot);
    if (ran > 0) Atomics.add(i32, WORKER_CHUNKS, ran);
  }
}
init.port.close();
