/**
 * Shims that let the emscripten pthreads build of the TF.js wasm backend run
 * under Deno.
 *
 * Deno looks like Node to emscripten (`process.versions.node` is set), so the
 * threaded build spawns its pthreads as `node:worker_threads` Workers. Three
 * things stand in the way, and each has a helper here:
 *
 * - tfjs hands the worker script to emscripten as a `blob:` URL, which Deno's
 *   `worker_threads.Worker` rejects (`ERR_WORKER_PATH`: "The worker script or
 *   module filename must be an absolute path or a relative path starting with
 *   './' or '../'"). We write the script to a real `.cjs` file once
 *   ({@link ensureWorkerFile}). tfjs also sends the factory source to each
 *   worker as a Blob, which the Node-mode worker can only load from a path
 *   (`fs.readFileSync`); we pass the path of the package's factory file
 *   instead ({@link threadedBuild}).
 * - That script does `Object.assign(global, {location, ...})`, and `location` is
 *   a getter-only property of Deno's worker global scope ("Cannot set property
 *   location of #<DedicatedWorkerGlobalScope> which has only a getter"). A
 *   one-line prelude turns it into a plain data property
 *   ({@link workerScriptSource}).
 * - The C++ side caps the XNNPACK pool at `emscripten_num_logical_cores() / 2`,
 *   i.e. one thread on a 2-core machine. We answer that import ourselves while
 *   instantiating ({@link makeInstantiateWasm}).
 *
 * The emscripten main-thread code also overwrites `globalThis.Worker` with the
 * Node class; {@link keepGlobalWorker} undoes that.
 *
 * @module
 */
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

/** Where the installed `@tensorflow/tfjs-backend-wasm` lives, and its version. */
export interface WasmPackage {
  /** Absolute directory of the npm package. */
  dir: string;
  /** `version` from its package.json (keys the worker-script cache). */
  version: string;
}

/** Locates the installed `@tensorflow/tfjs-backend-wasm` package. */
export function wasmPackage(): WasmPackage {
  const pkgJson = require.resolve("@tensorflow/tfjs-backend-wasm/package.json");
  const { version } = require(pkgJson) as { version: string };
  return { dir: dirname(pkgJson), version };
}

/** Absolute paths of the emscripten outputs for one build of the backend. */
export interface WasmBuild {
  /** The emscripten JS factory (CommonJS). */
  factoryJs: string;
  /** The `.wasm` binary that factory instantiates. */
  wasm: string;
}

/**
 * Files of the pthreads + SIMD build. Its factory JS doubles as the "main
 * script" each pthread worker evaluates, so it must stay a real file path.
 */
export function threadedBuild(pkg: WasmPackage = wasmPackage()): WasmBuild {
  return {
    factoryJs: join(pkg.dir, "wasm-out", "tfjs-backend-wasm-threaded-simd.js"),
    wasm: join(pkg.dir, "wasm-out", "tfjs-backend-wasm-threaded-simd.wasm"),
  };
}

/** Files of the single-threaded build (one JS factory serves both binaries). */
export function singleBuild(
  simd: boolean,
  pkg: WasmPackage = wasmPackage(),
): WasmBuild {
  const name = simd ? "tfjs-backend-wasm-simd.wasm" : "tfjs-backend-wasm.wasm";
  return {
    factoryJs: join(pkg.dir, "wasm-out", "tfjs-backend-wasm.js"),
    wasm: join(pkg.dir, "wasm-out", name),
  };
}

/**
 * Runs before the emscripten worker code. `location` is an own getter-only
 * accessor on Deno's worker global, so the worker's `Object.assign(global,
 * {location: ...})` throws in strict mode; redefining it as writable data
 * lets the assignment land. (`self` and `importScripts` are simply absent in
 * Deno's node workers and get created by the same assignment.)
 */
export const WORKER_PRELUDE =
  'Object.defineProperty(globalThis, "location", { value: undefined, writable: true, configurable: true, enumerable: true });\n';

/**
 * The pthread worker script we write to disk: {@link WORKER_PRELUDE} plus
 * tfjs's embedded emscripten worker. tfjs ships that worker as a template
 * literal whose `"\n"` escapes became real newlines (tfjs re-escapes them
 * before making its Blob), so we re-escape them the same way; otherwise string
 * literals span lines and the file does not parse.
 */
export function workerScriptSource(emscriptenWorker: string): string {
  return WORKER_PRELUDE + emscriptenWorker.replace(/\n/g, "\\n");
}

/** tfjs's embedded emscripten worker for the threaded build, as shipped. */
export function embeddedWorkerContents(pkg: WasmPackage = wasmPackage()): string {
  const mod = require(
    join(pkg.dir, "wasm-out", "tfjs-backend-wasm-threaded-simd.worker.js"),
  ) as { wasmWorkerContents?: unknown };
  if (typeof mod.wasmWorkerContents !== "string") {
    throw new Error(
      `${pkg.dir}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js: no string export "wasmWorkerContents"`,
    );
  }
  return mod.wasmWorkerContents;
}

/**
 * Candidate cache directories for the worker script, most preferred first:
 * the project's git-ignored `.cache/wasm/`, then the OS temp dir. Both are
 * keyed by tfjs version so an upgrade never runs a stale worker.
 */
export function defaultCacheDirs(version: string): string[] {
  const dirs: string[] = [];
  if (import.meta.url.startsWith("file:")) {
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    dirs.push(join(root, ".cache", "wasm", `tfjs-${version}`));
  }
  dirs.push(join(tmpdir(), "ferlab-wasm", `tfjs-${version}`));
  return dirs;
}

/** File name of the worker script; `.cjs` so Deno loads it as CommonJS. */
export const WORKER_FILE_NAME = "tfjs-backend-wasm-threaded-simd.worker.cjs";

/**
 * Makes sure `dir/WORKER_FILE_NAME` holds exactly `source` and returns its
 * absolute path. An up-to-date file is left untouched; otherwise the content
 * goes to a fresh temp file in the same directory that is then renamed over
 * the target, so concurrent processes never see a half-written script.
 */
export async function writeFileAtomic(dir: string, source: string): Promise<string> {
  const target = join(dir, WORKER_FILE_NAME);
  try {
    if ((await Deno.readTextFile(target)) === source) return target;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempFile({ dir, prefix: ".worker-", suffix: ".tmp" });
  try {
    await Deno.writeTextFile(tmp, source);
    // makeTempFile creates 0600; other users sharing the temp-dir cache must read it
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return target;
}

/**
 * Writes the pthread worker script (once per tfjs version) and returns its
 * path. Tries `cacheDir` alone when given, else {@link defaultCacheDirs} in
 * order; throws with every directory's error when none is writable.
 */
export async function ensureWorkerFile(
  opts: { cacheDir?: string; pkg?: WasmPackage } = {},
): Promise<string> {
  const pkg = opts.pkg ?? wasmPackage();
  const source = workerScriptSource(embeddedWorkerContents(pkg));
  const dirs = opts.cacheDir != null ? [opts.cacheDir] : defaultCacheDirs(pkg.version);
  const failures: string[] = [];
  for (const dir of dirs) {
    try {
      return await writeFileAtomic(dir, source);
    } catch (e) {
      failures.push(`${dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`cannot write the wasm pthread worker script (${failures.join("; ")})`);
}

/**
 * Calls `fn` and puts `globalThis.Worker` back afterwards. The emscripten
 * main-thread code replaces the global with `worker_threads.Worker`
 * (synchronously, while the factory runs), which would break any web
 * `new Worker(url, {type: "module"})` elsewhere in the program. Restoring is
 * safe because emscripten spawns its whole pool (8 workers) inside the same
 * synchronous call; a worker spawned later (see {@link trimIdleWorkers}) would
 * hit Deno's web `Worker` and fail loudly.
 */
export function keepGlobalWorker<T>(fn: () => T): T {
  const g = globalThis as { Worker?: unknown };
  const before = g.Worker;
  try {
    return fn();
  } finally {
    g.Worker = before;
  }
}

/** The imports object emscripten passes to `instantiateWasm`. */
export type WasmImports = Record<string, Record<string, unknown>>;

/**
 * Builds an emscripten `instantiateWasm` hook that reads `wasmFile` from disk
 * and instantiates it.
 *
 * `logicalCores`, when given, replaces the `emscripten_num_logical_cores`
 * import: tfjs's C++ computes `num_cores = logical_cores / 2` in a static
 * constructor and caps `init_with_threads_count(n)` at it, so to get `n`
 * threads we report `2n` cores. Nothing else in the build reads it.
 *
 * `afterReceive` runs right after emscripten has received the instance; for
 * the threaded build that is when it has attached its handlers to the pool's
 * workers (see {@link guardWorkerErrors}).
 */
export function makeInstantiateWasm(
  wasmFile: string,
  opts: { logicalCores?: number; afterReceive?: () => void; onError: (e: unknown) => void },
): (
  imports: WasmImports,
  receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
) => Record<string, never> {
  return (imports, receive) => {
    if (opts.logicalCores != null && imports.env?.emscripten_num_logical_cores) {
      const cores = opts.logicalCores;
      imports.env.emscripten_num_logical_cores = () => cores;
    }
    Deno.readFile(wasmFile)
      .then((bytes) => WebAssembly.instantiate(bytes, imports as WebAssembly.Imports))
      .then(({ instance, module }) => {
        receive(instance, module);
        opts.afterReceive?.();
      })
      .catch(opts.onError);
    // emscripten's contract: return {} when instantiation is asynchronous
    return {};
  };
}

/** A `worker_threads.Worker` as emscripten holds it in its pool. */
export interface PoolWorker {
  on(event: "error", listener: (e: unknown) => void): unknown;
  onerror?: ((e: unknown) => void) | null;
  once(event: "exit", listener: () => void): unknown;
  terminate(): unknown;
  unref?(): unknown;
}

/**
 * Resolves once every worker in `workers` has emitted "exit" (or after
 * `timeoutMs`, so a stuck worker cannot hang the caller). Attach before
 * terminating them: a worker that is already gone never emits.
 */
export function workersExited(workers: PoolWorker[], timeoutMs: number): Promise<void> {
  if (workers.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let left = workers.length;
    const timer = setTimeout(resolve, timeoutMs);
    for (const w of workers) {
      w.once("exit", () => {
        if (--left === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
}

/**
 * Terminates the pool workers no pthread runs on and drops them from the pool
 * (returns how many). Emscripten pre-spawns 8 workers, ~14 MB each, while
 * XNNPACK keeps only `threads - 1` busy, created once at init. Should anything
 * start a pthread later anyway, emscripten spawns a fresh worker through the
 * (restored, web) global `Worker`, which Deno refuses with an exception: a
 * loud failure, never a silent hang on a dead worker.
 */
export function trimIdleWorkers(pool: { unusedWorkers: PoolWorker[] }): number {
  const idle = pool.unusedWorkers.splice(0);
  for (const w of idle) w.terminate();
  return idle.length;
}

/**
 * Lets the process exit while pool workers are alive. Emscripten `ref()`s a
 * worker for as long as its pthread runs, and XNNPACK's pool threads run (idle,
 * blocked on a futex) until the module is disposed, so without this a script
 * never ends on its own. Safe because the main thread blocks inside every
 * parallel kernel until the workers are done: the event loop can only run dry
 * between kernels, when there is nothing left for the workers to lose.
 */
export function unrefWorkers(workers: PoolWorker[]): void {
  for (const w of workers) w.unref?.();
}

/**
 * Routes errors of pool workers to `onError` instead of letting them crash the
 * process. Emscripten's own handler rethrows on the main thread, and before it
 * is attached an `"error"` event without listener throws too; either way a
 * worker that fails to load would kill the program rather than let us fall
 * back to one thread. Call once right after the workers exist (adds a
 * listener) and again after emscripten attached its handler (`replaceOnerror`,
 * returns the replaced handlers so they can be restored once init succeeded).
 */
export function guardWorkerErrors(
  workers: PoolWorker[],
  onError: (e: unknown) => void,
  replaceOnerror: boolean,
): Map<PoolWorker, PoolWorker["onerror"]> {
  const replaced = new Map<PoolWorker, PoolWorker["onerror"]>();
  for (const w of workers) {
    if (replaceOnerror) {
      replaced.set(w, w.onerror);
      w.onerror = onError;
    } else {
      w.on("error", onError);
    }
  }
  return replaced;
}
