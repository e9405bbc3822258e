/**
 * One call to get the TF.js wasm backend running under Deno, multi-threaded
 * where that works.
 *
 * ```ts
 * const { threads, notes } = await initWasm();      // "auto": one per core, max 8
 * // ... train ...
 * await shutdownWasm();                             // optional in scripts
 * ```
 *
 * The pthread workers are unref'd, so a script ends when its work does. Deno's
 * test sanitizers do not track `node:worker_threads` workers, so tests should
 * call `shutdownWasm()` themselves (in `finally`) rather than rely on a leak
 * report.
 *
 * tfjs itself never enables threads here: its `WASM_HAS_MULTITHREAD_SUPPORT`
 * flag is false whenever `IS_NODE`, which Deno is to it. Rather than fight its
 * loader (Blob worker URLs, see `./threads.ts`), we instantiate the emscripten
 * module ourselves and register a "wasm" backend factory that wraps it in the
 * stock `BackendWasm`, so every stock kernel (and ours, see `./register.ts`)
 * runs unchanged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendWasm, getThreadsCount, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import {
  ensureWorkerFile,
  guardWorkerErrors,
  keepGlobalWorker,
  makeInstantiateWasm,
  type PoolWorker,
  singleBuild,
  threadedBuild,
  trimIdleWorkers,
  unrefWorkers,
  type WasmBuild,
  wasmPackage,
  workersExited,
} from "./threads.ts";
import { stopGemm } from "./gemm_pool.ts";
import { stopRowPool } from "./parallel.ts";

const require = createRequire(import.meta.url);

/** Options of {@link initWasm}. */
export interface InitWasmOptions {
  /**
   * XNNPACK threads: a positive integer, or "auto" (the default) for
   * `navigator.hardwareConcurrency` capped at {@link AUTO_MAX_THREADS}.
   * 1 loads the plain SIMD build and starts no workers.
   */
  threads?: number | "auto";
  /** Directory for the pthread worker script (default: `.cache/wasm/`, then the OS temp dir). */
  cacheDir?: string;
  /** Give up on the threaded build after this long (ms) and use one thread. */
  timeoutMs?: number;
}

/** What {@link initWasm} ended up with. */
export interface WasmInitResult {
  /** Threads XNNPACK actually uses (the wasm package's `getThreadsCount()`). */
  threads: number;
  /** Whether a SIMD build is running. */
  simd: boolean;
  /** Why the result differs from the request (caps, fallbacks); empty if it does not. */
  notes: string[];
}

/** The threaded build pre-spawns 8 workers and its C++ caps the pool at 8. */
export const MAX_WASM_THREADS = 8;
/**
 * Upper bound for `threads: "auto"`: one thread per core up to the prebuilt
 * pool's size. ferlab's own kernels (conv GEMMs, batch norm, LeakyReLU,
 * pooling) split across the same number of threads, so they scale with it.
 */
export const AUTO_MAX_THREADS = MAX_WASM_THREADS;
/** Same priority tfjs gives its own "wasm" registration. */
const WASM_PRIORITY = 2;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Workers exit within ~10 ms of terminate(); don't wait forever for one that doesn't. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

/**
 * Turns the `threads` option into a thread count to ask for, with a note when
 * it had to be capped. `cores` is the logical core count ("auto" uses it).
 * Throws a RangeError for anything but "auto" or a positive integer.
 */
export function resolveThreads(
  requested: number | "auto" | undefined,
  cores: number,
): { threads: number; notes: string[] } {
  if (requested === undefined || requested === "auto") {
    const threads = Math.max(1, Math.min(Math.floor(cores) || 1, AUTO_MAX_THREADS));
    return { threads, notes: [] };
  }
  if (!Number.isInteger(requested) || requested < 1) {
    throw new RangeError(
      `initWasm: threads must be "auto" or a positive integer, got ${String(requested)}`,
    );
  }
  if (requested > MAX_WASM_THREADS) {
    return {
      threads: MAX_WASM_THREADS,
      notes: [`threads capped at ${MAX_WASM_THREADS} (size of the prebuilt pthread pool)`],
    };
  }
  return { threads: requested, notes: [] };
}

/** The emscripten module parts we touch (BackendWasm uses many more). */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: {
    unusedWorkers: PoolWorker[];
    runningWorkers: PoolWorker[];
    terminateAllThreads(): void;
  };
  tfjs?: Record<string, unknown>;
}

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** The live module we built, so shutdown can reach its workers. */
let current: { module: EmscriptenModule; result: WasmInitResult } | null = null;

/** Adds the `tfjs` namespace `BackendWasm` expects (tfjs's own loader does the same). */
function addTfjsBindings(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
}

/** Terminates every pthread worker of `module` (no-op for single-threaded builds). */
function terminateWorkers(module: Pick<EmscriptenModule, "PThread"> | undefined): void {
  module?.PThread?.terminateAllThreads();
}

/** Instantiates the single-threaded build: no workers, nothing to go wrong beyond I/O. */
async function buildSingle(build: WasmBuild): Promise<EmscriptenModule> {
  const factory = require(build.factoryJs) as Factory;
  let failed: (e: unknown) => void = () => {};
  const instantiateFailed = new Promise<never>((_, reject) => (failed = reject));
  const config: Record<string, unknown> = {
    locateFile: (path: string, prefix: string) => (path.endsWith(".wasm") ? build.wasm : prefix + path),
    instantiateWasm: makeInstantiateWasm(build.wasm, { onError: (e) => failed(e) }),
  };
  const module = await Promise.race([factory(config), instantiateFailed]);
  addTfjsBindings(module);
  return module;
}

/**
 * Instantiates the pthreads build with a pool big enough for `threads`.
 * Rejects (after terminating any workers it started) on a worker error, an
 * instantiation error or after `timeoutMs`.
 */
async function buildThreaded(
  threads: number,
  workerFile: string,
  timeoutMs: number,
): Promise<EmscriptenModule> {
  const build = threadedBuild();
  const factory = require(build.factoryJs) as Factory;
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  let replaced = new Map<PoolWorker, PoolWorker["onerror"]>();
  // emscripten uses this very object as its Module, so PThread shows up on it
  const config: Record<string, unknown> & { PThread?: EmscriptenModule["PThread"] } = {
    locateFile: (path: string, prefix: string) => {
      if (path.endsWith(".worker.js")) return workerFile;
      if (path.endsWith(".wasm")) return build.wasm;
      return prefix + path;
    },
    // each worker importScripts() this to get the factory; a path, not a Blob
    mainScriptUrlOrBlob: build.factoryJs,
    instantiateWasm: makeInstantiateWasm(build.wasm, {
      logicalCores: 2 * threads,
      afterReceive: () => {
        replaced = guardWorkerErrors(config.PThread?.unusedWorkers ?? [], fail, true);
      },
      onError: fail,
    }),
    onAbort: (what: unknown) => fail(new Error(`wasm aborted: ${String(what)}`)),
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const ready = keepGlobalWorker(() => factory(config));
    guardWorkerErrors(config.PThread?.unusedWorkers ?? [], fail, false);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`threaded wasm did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const module = await Promise.race([ready, failed, timeout]);
    // from here on a dying worker is a real bug: let emscripten's handler be loud again
    for (const [w, onerror] of replaced) w.onerror = onerror;
    addTfjsBindings(module);
    return module;
  } catch (e) {
    terminateWorkers(config);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Makes `module` the "wasm" backend, replacing whatever factory was registered. */
async function activate(module: EmscriptenModule, threads: number): Promise<void> {
  if (tf.findBackendFactory("wasm") != null) tf.removeBackend("wasm");
  setThreadsCount(threads);
  tf.registerBackend(
    "wasm",
    () => new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]),
    WASM_PRIORITY,
  );
  if (!(await tf.setBackend("wasm"))) {
    throw new Error('tf.setBackend("wasm") returned false (see the console for the cause)');
  }
}

/** Registers a lazily built single-threaded "wasm" backend, as tfjs does by default. */
function registerLazySingle(simd: boolean): void {
  if (tf.findBackendFactory("wasm") != null) tf.removeBackend("wasm");
  setThreadsCount(1);
  tf.registerBackend(
    "wasm",
    async () =>
      new BackendWasm(
        (await buildSingle(singleBuild(simd))) as unknown as ConstructorParameters<
          typeof BackendWasm
        >[0],
      ),
    WASM_PRIORITY,
  );
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Sets up the TF.js wasm backend and makes it current (`tf.setBackend("wasm")`).
 *
 * Threads > 1 use the pthreads + SIMD build with emscripten workers; if
 * anything about that fails, it falls back to one thread and says why in
 * `notes` instead of throwing. Call it before creating tensors: it replaces
 * any "wasm" backend already running (its tensors become invalid). Calling it
 * again with the same options returns the current result; different options
 * shut the old module down first.
 *
 * Throws only for invalid options, or if not even the single-threaded build
 * can be loaded.
 */
export async function initWasm(opts: InitWasmOptions = {}): Promise<WasmInitResult> {
  const { threads: wanted, notes } = resolveThreads(opts.threads, navigator.hardwareConcurrency);
  if (current && current.result.threads === wanted && tf.getBackend() === "wasm") {
    return current.result;
  }
  await shutdownWasm();

  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") as boolean;
  if (wanted > 1) {
    if (!simd) {
      notes.push("no WebAssembly SIMD support; tfjs ships threads only in its SIMD build");
    } else {
      let module: EmscriptenModule | undefined;
      try {
        const workerFile = await ensureWorkerFile({ cacheDir: opts.cacheDir, pkg: wasmPackage() });
        module = await buildThreaded(wanted, workerFile, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        await activate(module, wanted);
        // the XNNPACK pool threads exist now (BackendWasm's constructor made them)
        if (module.PThread) {
          trimIdleWorkers(module.PThread);
          unrefWorkers(module.PThread.runningWorkers);
        }
        tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
        const threads = getThreadsCount();
        if (threads !== wanted) notes.push(`asked XNNPACK for ${wanted} threads, it runs ${threads}`);
        current = { module, result: { threads, simd, notes } };
        return current.result;
      } catch (e) {
        if (tf.findBackendFactory("wasm") != null) tf.removeBackend("wasm");
        terminateWorkers(module);
        notes.push(`threaded wasm failed, using 1 thread: ${message(e)}`);
      }
    }
  }

  const module = await buildSingle(singleBuild(simd));
  await activate(module, 1);
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  current = { module, result: { threads: getThreadsCount(), simd, notes } };
  return current.result;
}

/**
 * Disposes the "wasm" backend set up by {@link initWasm}, terminates its
 * pthread workers and waits (at most 5 s) until they have exited. Tensors on
 * that backend become invalid. Afterwards "wasm" is registered
 * again as a lazily built single-threaded backend, like tfjs's default.
 * Safe to call any number of times, also without a prior `initWasm`.
 */
export async function shutdownWasm(): Promise<void> {
  if (current == null) return;
  const { module, result } = current;
  current = null;
  stopGemm(); // ferlab's kernel helpers map this module's memory
  stopRowPool(); // its helper waits in Atomics.wait, where nothing else would end it

  const pool = module.PThread;
  const exited = workersExited(
    pool ? [...pool.runningWorkers, ...pool.unusedWorkers] : [],
    SHUTDOWN_TIMEOUT_MS,
  );
  // BackendWasm.dispose terminates the workers too, but not if the backend was never created
  if (tf.findBackendFactory("wasm") != null) tf.removeBackend("wasm");
  terminateWorkers(module);
  registerLazySingle(result.simd);
  await exited;
}
