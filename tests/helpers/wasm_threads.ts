/**
 * Ends the worker threads a test module's wasm backend started, so that no
 * module leaves live worker isolates behind for the rest of the run and for
 * the test process's exit.
 *
 * @module
 */
import { shutdownWasm } from "../../lib/backend/wasm/init.ts";
import { stopRowPool } from "../../lib/backend/wasm/parallel.ts";

/**
 * `shutdownWasm()` (emscripten's pthreads and the conv kernels' helpers),
 * then the row kernels' helper thread, which `shutdownWasm()` leaves parked
 * in `Atomics.wait`: Deno cannot end a worker blocked there, not even when
 * the test module that started it is torn down.
 */
export async function stopWasmThreads(): Promise<void> {
  await shutdownWasm();
  stopRowPool();
}
