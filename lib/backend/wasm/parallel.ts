/**
 * Runs ferlab's JS kernels on both cores. XNNPACK's own threads only speed up
 * convolutions and matmuls; batch norm, LeakyReLU, pooling gradients and the
 * conv-gradient transposes are JS loops that ran on one core. When the wasm
 * heap is shared (the threaded build), one helper thread maps the same heap
 * and takes the second half of every large row range, synchronized with
 * `Atomics` on a shared control word (microseconds per call, no messages).
 * Without a shared heap, or for small ranges, everything runs inline.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { ROW_KERNELS, type Views } from "./row_kernels.ts";
import { ARGS, CONTROL_BYTES, CTL_DONE, CTL_IDLE, CTL_RUN, CTL_STOP, type RowWorkerData } from "./parallel_protocol.ts";

/** Below this many elements of work a call is not worth splitting. */
const MIN_SPLIT_WORK = 1 << 15;

interface Pool {
  memory: WebAssembly.Memory;
  worker: Worker;
  ctl: Int32Array;
  args: Float64Array;
}

const control = new SharedArrayBuffer(CONTROL_BYTES);
const localArgs = new Float64Array(control, ARGS * 8);
let pool: Pool | null = null;
let heap: WebAssembly.Memory | null = null;
let lastError: string | null = null;

/** Why the helper thread could not start, if it could not. */
export function rowPoolError(): string | null {
  return lastError;
}

/**
 * Binds the row kernels to a wasm memory; starts the helper thread when the
 * memory is shared and `threads > 1`. Returns the number of threads the JS
 * kernels will use.
 */
export async function startRowPool(memory: WebAssembly.Memory, threads: number): Promise<number> {
  if (pool && pool.memory === memory) return 2;
  stopRowPool();
  heap = memory;
  if (threads < 2 || !(memory.buffer instanceof SharedArrayBuffer)) return 1;
  // FERLAB_KERNEL_THREADS=1 keeps the JS kernels on the main thread (for A/B timing)
  if (Deno.env.get("FERLAB_KERNEL_THREADS") === "1") return 1;
  const data: RowWorkerData = { memory, control, part: 1 };
  let worker: Worker;
  try {
    worker = new Worker(new URL("./row_worker.ts", import.meta.url), { workerData: data });
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
  } catch (e) {
    lastError = (e as Error).message;
    return 1; // the kernels run inline: slower, same results
  }
  worker.unref(); // once running, a parked helper must not keep scripts alive
  pool = { memory, worker, ctl: new Int32Array(control), args: localArgs };
  return 2;
}

/** Stops the helper thread (kernels then run inline). */
export function stopRowPool(): void {
  if (!pool) return;
  Atomics.store(pool.ctl, 0, CTL_STOP);
  Atomics.notify(pool.ctl, 0);
  pool.worker.terminate();
  pool = null;
}

/** Threads the row kernels currently use. */
export function rowThreads(): number {
  return pool ? 2 : 1;
}

function views(memory: WebAssembly.Memory): Views {
  const buf = memory.buffer;
  return { f32: new Float32Array(buf), i32: new Int32Array(buf) };
}

/**
 * Runs row kernel `id` over rows [0, rows) with arguments `a` (heap offsets in
 * float32 elements), split in two parts when a helper thread is running and
 * `rows × rowWork` is large. Returns the number of parts (partials to combine).
 */
export function runRows(
  memory: WebAssembly.Memory,
  id: number,
  a: number[],
  rows: number,
  rowWork = 1,
): number {
  if (memory !== heap) heap = memory;
  for (let i = 0; i < a.length; i++) localArgs[i] = a[i];
  const v = views(memory);
  if (!pool || pool.memory !== memory || rows < 2 || rows * rowWork < MIN_SPLIT_WORK) {
    ROW_KERNELS[id](v, localArgs, 0, rows);
    return 1;
  }
  const half = Math.floor(rows / 2);
  const ctl = pool.ctl;
  ctl[1] = id;
  ctl[2] = 0, ctl[3] = half, ctl[4] = half, ctl[5] = rows;
  Atomics.store(ctl, 0, CTL_RUN);
  Atomics.notify(ctl, 0);
  ROW_KERNELS[id](v, localArgs, 0, half);
  while (Atomics.load(ctl, 0) !== CTL_DONE) Atomics.wait(ctl, 0, CTL_RUN, 50);
  Atomics.store(ctl, 0, CTL_IDLE);
  Atomics.notify(ctl, 0);
  return 2;
}
