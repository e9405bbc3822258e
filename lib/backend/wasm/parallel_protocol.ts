/**
 * The shared-memory protocol between `parallel.ts` and `row_worker.ts`.
 * Control words (Int32): [0] state, [1] kernel id, [2 + 2p, 3 + 2p] the row
 * range of part p; kernel arguments are float64 slots from `ARGS`.
 *
 * @module
 */

/** State: no task. */
export const CTL_IDLE = 0;
/** State: a task is posted. */
export const CTL_RUN = 1;
/** State: the worker finished its part. */
export const CTL_DONE = 2;
/** State: the worker should exit. */
export const CTL_STOP = 3;
/** First float64 slot of the arguments in the control buffer. */
export const ARGS = 4;
/** Bytes of the control buffer: 8 int32 words (4 float64 slots), then 16 float64 arguments. */
export const CONTROL_BYTES = (ARGS + 16) * 8;

/** What the worker is started with. */
export interface RowWorkerData {
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  /** Which part of each row range this worker runs (the main thread runs part 0). */
  part: number;
}
