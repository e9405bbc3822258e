/**
 * Helper thread for `parallel.ts`: waits on the shared control word, runs its
 * part of a row kernel on the shared wasm heap, and signals completion.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { ROW_KERNELS, type Views } from "./row_kernels.ts";
import { ARGS, CTL_DONE, CTL_IDLE, CTL_RUN, CTL_STOP, type RowWorkerData } from "./parallel_protocol.ts";

const { memory, control, part } = workerData as RowWorkerData;
const ctl = new Int32Array(control);
const args = new Float64Array(control, ARGS * 8);
parentPort!.postMessage("ready");
for (;;) {
  Atomics.wait(ctl, 0, CTL_IDLE);
  const state = Atomics.load(ctl, 0);
  if (state === CTL_STOP) break;
  if (state !== CTL_RUN) continue;
  const buf = memory.buffer; // fresh views: the heap may have grown since the last task
  const v: Views = { f32: new Float32Array(buf), i32: new Int32Array(buf) };
  ROW_KERNELS[ctl[1]](v, args, ctl[2 + 2 * part], ctl[3 + 2 * part]);
  Atomics.store(ctl, 0, CTL_DONE);
  Atomics.notify(ctl, 0);
  Atomics.wait(ctl, 0, CTL_DONE);
}
