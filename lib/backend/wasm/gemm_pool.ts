/**
 * Runs ferlab's wasm SIMD conv kernels (`kernels/conv_gemm.c`) on the TF.js
 * wasm heap, split across threads.
 *
 * The kernel module imports the heap's own `WebAssembly.Memory`, so it reads
 * and writes tensors in place. With the threaded TF.js build that memory is
 * shared: `threads − 1` helper workers instantiate the same module on it and
 * each run one part of every call, woken through `Atomics` on a shared
 * control array (no messages per call). With the single-threaded build the
 * module runs on the main thread only.
 *
 * The relaxed-SIMD build (fused multiply-add) is used where the runtime
 * validates it, else the plain-SIMD build; {@link gemmInfo} says which.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { memoryOf, type WasmBackend } from "./heap.ts";

/** The kernel module's exports (pointers are byte offsets into the heap). */
export interface GemmExports {
  conv_filter_grad(...args: number[]): void;
  conv_gemm(...args: number[]): void;
  conv_input_grad_narrow(...args: number[]): void;
  bn_stats(...args: number[]): void;
  bn_grad_sums(...args: number[]): void;
  bn_apply(...args: number[]): void;
  leaky(...args: number[]): void;
  pool2x2_grad(...args: number[]): void;
  pack_weights(...args: number[]): void;
  peak_madd(iters: number): number;
  ferlab_flavour(): number;
}

/** Kernel ids in the control protocol (also indexes into {@link KERNEL_NAMES}). */
export const KERNEL_NAMES = [
  "conv_filter_grad",
  "conv_gemm",
  "pack_weights",
  "conv_input_grad_narrow",
  "bn_stats",
  "bn_grad_sums",
  "bn_apply",
  "leaky",
  "pool2x2_grad",
] as const;
/** A kernel the pool can run. */
export type KernelName = typeof KERNEL_NAMES[number];

/** Instruction flavour of the loaded kernels. */
export type Flavour = "relaxed-simd" | "simd";

/** What is running, for backend info and reports. */
export interface GemmInfo {
  flavour: Flavour;
  threads: number;
  /** Whether helper workers share the heap (else everything runs on the main thread). */
  shared: boolean;
  /** Why fewer threads run than were asked for, if so. */
  note?: string;
}

/** Control words: [0] kernel id, [1] number of parts; [8 + w] state of worker w. */
const STATE = 8;
const IDLE = 0, RUN = 1, STOP = 2;
const MAX_HELPERS = 32;
const MAX_ARGS = 32;

/** Floats of scratch each thread gets for packed panels (fits a 512 KiB L2 with the C tiles). */
export const SCRATCH_FLOATS = 96 * 1024;

/** Data a helper worker starts with. */
export interface GemmWorkerData {
  memory: WebAssembly.Memory;
  bytes: Uint8Array<ArrayBuffer>;
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  index: number;
}

interface Runtime {
  memory: WebAssembly.Memory;
  exports: GemmExports;
  workers: Worker[];
  ctl: Int32Array;
  args: Float64Array;
  info: GemmInfo;
  /** Byte offset of thread 0's scratch (thread t's is at + t · SCRATCH_FLOATS · 4). */
  scratch: number;
}

let runtime: Runtime | null = null;

function kernelUrl(relaxed: boolean, shared: boolean): URL {
  return new URL(`./kernels/conv_gemm_${relaxed ? "relaxed" : "simd"}${shared ? "_shared" : ""}.wasm`, import.meta.url);
}

/**
 * The kernel bytes to run: the relaxed-SIMD build when this runtime validates
 * it and `FERLAB_WASM_SIMD` is not "plain", else the plain-SIMD build.
 */
export function kernelBytes(shared: boolean): { bytes: Uint8Array<ArrayBuffer>; flavour: Flavour } {
  const relaxed = Deno.readFileSync(kernelUrl(true, shared));
  if (Deno.env.get("FERLAB_WASM_SIMD") !== "plain" && WebAssembly.validate(relaxed)) {
    return { bytes: relaxed, flavour: "relaxed-simd" };
  }
  return { bytes: Deno.readFileSync(kernelUrl(false, shared)), flavour: "simd" };
}

/**
 * Loads the kernels against `memory` (the TF.js heap) and starts `threads − 1`
 * helper workers when the memory is shared. `malloc` reserves the scratch
 * (once per thread). Replaces any earlier runtime.
 */
export async function startGemm(
  memory: WebAssembly.Memory,
  threads: number,
  malloc: (bytes: number) => number,
): Promise<GemmInfo> {
  if (runtime && runtime.memory === memory && runtime.info.threads === threads) return runtime.info;
  stopGemm();
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const { bytes, flavour } = kernelBytes(shared);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const exports = instance.exports as unknown as GemmExports;
  let helpers = shared ? Math.min(threads - 1, MAX_HELPERS) : 0;
  let note = !shared && threads > 1 ? "the wasm heap is not shared: conv kernels run on one thread" : undefined;
  const control = new SharedArrayBuffer(4 * (STATE + MAX_HELPERS));
  const argsBuf = new SharedArrayBuffer(8 * MAX_ARGS);
  const workers: Worker[] = [];
  try {
    for (let index = 0; index < helpers; index++) {
      const data: GemmWorkerData = { memory, bytes, control, args: argsBuf, index };
      const w = new Worker(new URL("./gemm_worker.ts", import.meta.url), { workerData: data });
      workers.push(w);
      await new Promise<void>((resolve, reject) => {
        w.once("message", () => resolve());
        w.once("error", reject);
      });
      w.unref(); // a parked helper must not keep scripts alive
    }
  } catch (e) {
    for (const w of workers) w.terminate();
    workers.length = 0;
    helpers = 0;
    note = `conv kernel helper threads failed to start, running on one thread: ${(e as Error).message}`;
  }
  const nthreads = helpers + 1;
  // 16-byte aligned scratch per thread, kept for the module's lifetime
  const scratch = (malloc(nthreads * SCRATCH_FLOATS * 4 + 16) + 15) & ~15;
  runtime = {
    memory,
    exports,
    workers,
    ctl: new Int32Array(control),
    args: new Float64Array(argsBuf),
    info: { flavour, threads: nthreads, shared, ...(note ? { note } : {}) },
    scratch,
  };
  return runtime.info;
}

/**
 * Makes sure kernels are loaded on `memory`: keeps a running runtime for it,
 * else loads them for the main thread only (kernels called before
 * {@link startGemm}, e.g. in tests that set the backend themselves).
 */
export function ensureGemm(memory: WebAssembly.Memory, malloc: (bytes: number) => number): void {
  if (runtime && runtime.memory === memory) return;
  stopGemm();
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const { bytes, flavour } = kernelBytes(shared);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  runtime = {
    memory,
    exports: instance.exports as unknown as GemmExports,
    workers: [],
    ctl: new Int32Array(new SharedArrayBuffer(4 * (STATE + MAX_HELPERS))),
    args: new Float64Array(new SharedArrayBuffer(8 * MAX_ARGS)),
    info: { flavour, threads: 1, shared },
    scratch: (malloc(SCRATCH_FLOATS * 4 + 16) + 15) & ~15,
  };
}

/** Below this many elements of work a call runs on one thread: waking helpers costs more. */
export const MIN_SPLIT_WORK = 1 << 15;

/** {@link ensureGemm} for a TF.js wasm backend (its heap and allocator). */
export function ensureGemmFor(backend: WasmBackend): void {
  ensureGemm(memoryOf(backend), (n) => backend.wasm._malloc(n));
}

/** Stops the helper workers and forgets the kernels. */
export function stopGemm(): void {
  if (!runtime) return;
  const { ctl, workers } = runtime;
  for (let w = 0; w < workers.length; w++) {
    Atomics.store(ctl, STATE + w, STOP);
    Atomics.notify(ctl, STATE + w);
    workers[w].terminate();
  }
  runtime = null;
}

/** The running kernels' flavour and thread count, or null when not loaded. */
export function gemmInfo(): GemmInfo | null {
  return runtime?.info ?? null;
}

/** Whether the kernels are loaded on `memory`. */
export function gemmReady(memory: WebAssembly.Memory): boolean {
  return runtime !== null && runtime.memory === memory;
}

/** The main thread's kernel exports (for single-part calls and the peak measurement). */
export function gemmExports(): GemmExports {
  if (!runtime) throw new Error("ferlab wasm conv kernels are not loaded (startGemm)");
  return runtime.exports;
}

/**
 * Runs `kernel` with `args` (then scratch, scratch size, part, nparts are
 * appended where the kernel takes them) split across all threads; returns when
 * every part is done. `parts` caps the split (1 = main thread only). Returns
 * the number of parts it ran.
 */
export function runParallel(kernel: KernelName, args: number[], parts = Infinity): number {
  const r = runtime;
  if (!r) throw new Error("ferlab wasm conv kernels are not loaded (startGemm)");
  const nparts = Math.max(1, Math.min(parts, r.info.threads));
  const id = KERNEL_NAMES.indexOf(kernel);
  if (nparts > 1) {
    for (let i = 0; i < args.length; i++) r.args[i] = args[i];
    r.ctl[0] = id, r.ctl[1] = nparts, r.ctl[2] = args.length, r.ctl[3] = r.scratch;
    for (let w = 0; w < nparts - 1; w++) {
      Atomics.store(r.ctl, STATE + w, RUN);
      Atomics.notify(r.ctl, STATE + w);
    }
  }
  callPart(r.exports, id, args, r.scratch, 0, nparts);
  for (let w = 0; w < nparts - 1; w++) {
    while (Atomics.load(r.ctl, STATE + w) === RUN) Atomics.wait(r.ctl, STATE + w, RUN, 100);
  }
  return nparts;
}

/** The number of parts {@link runParallel} would use now, capped at `parts`. */
export function gemmParts(parts = Infinity): number {
  return Math.max(1, Math.min(parts, runtime?.info.threads ?? 1));
}

/** Calls part `part` of kernel `id` on `exports` (shared by the main thread and the workers). */
export function callPart(
  exports: GemmExports,
  id: number,
  args: ArrayLike<number>,
  scratchBase: number,
  part: number,
  nparts: number,
): void {
  const a = Array.from(args);
  const scratch = scratchBase + part * SCRATCH_FLOATS * 4;
  switch (KERNEL_NAMES[id]) {
    case "conv_filter_grad": // x, dy, dw | scratch, floats | B..pl | part, nparts
      exports.conv_filter_grad(a[0], a[1], a[2], scratch, SCRATCH_FLOATS, ...a.slice(3), part, nparts);
      break;
    case "conv_gemm": // src, bpack, out, bias, relu | scratch, floats | geometry | part, nparts
      exports.conv_gemm(a[0], a[1], a[2], a[3], a[4], scratch, SCRATCH_FLOATS, ...a.slice(5), part, nparts);
      break;
    case "conv_input_grad_narrow": // dy, w, dx, geometry | part, nparts
      exports.conv_input_grad_narrow(...a, part, nparts);
      break;
    case "bn_stats":
    case "bn_grad_sums":
    case "bn_apply":
    case "leaky":
    case "pool2x2_grad":
      exports[KERNEL_NAMES[id] as "bn_stats"](...a, part, nparts);
      break;
    case "pack_weights": // w, bpack, KHW, C, N, transposed | part, nparts
      exports.pack_weights(...a, part, nparts);
      break;
  }
}

/** Worker-side protocol constants. */
export const PROTOCOL = { STATE, IDLE, RUN, STOP } as const;
