/**
 * Helper thread for `gemm_pool.ts`: instantiates the conv kernels on the
 * shared wasm heap, then waits on its control word and runs part `index + 1`
 * of each posted call.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { callPart, type GemmExports, type GemmWorkerData, PROTOCOL } from "./gemm_pool.ts";

const { memory, bytes, control, args, index } = workerData as GemmWorkerData;
const { STATE, IDLE, RUN, STOP } = PROTOCOL;
const ctl = new Int32Array(control);
const a = new Float64Array(args);
const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })
  .exports as unknown as GemmExports;
parentPort!.postMessage("ready");
for (;;) {
  Atomics.wait(ctl, STATE + index, IDLE);
  const state = Atomics.load(ctl, STATE + index);
  if (state === STOP) break;
  if (state !== RUN) continue;
  callPart(exports, ctl[0], a.subarray(0, ctl[2]), ctl[3], index + 1, ctl[1]);
  Atomics.store(ctl, STATE + index, IDLE);
  Atomics.notify(ctl, STATE + index);
}
