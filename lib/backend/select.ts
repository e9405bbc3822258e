/**
 * Picks the TF.js backend a run trains on, and records what it got.
 *
 * `auto` prefers, in order: native TensorFlow (`tfjs-node-gpu`/`tfjs-node`,
 * when the user installed it), WebGPU on real hardware, wasm with ferlab's
 * training kernels, and finally the pure-JS cpu backend. Software WebGPU
 * adapters (Mesa lavapipe, SwiftShader) are skipped by `auto`: on a CPU they
 * train ~20× slower than our wasm kernels.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import * as tf from "@tensorflow/tfjs";
import { installWasmTrainingKernels } from "./wasm/register.ts";
import { initWasm } from "./wasm/init.ts";
import { memoryOf, type WasmBackend } from "./wasm/heap.ts";
import { rowPoolError, startRowPool } from "./wasm/parallel.ts";
import { type GemmInfo, startGemm } from "./wasm/gemm_pool.ts";
import { type Dnnl, type DnnlInfo, loadDnnl } from "./native/dnnl.ts";

/** Backend names accepted by `--backend`. */
export const BACKENDS = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
/** A `--backend` value. */
export type BackendChoice = typeof BACKENDS[number];

/** Kernel sets accepted by `--kernels` (wasm backend): oneDNN's native kernels, ferlab's wasm ones, or native where it loads. */
export const KERNEL_SETS = ["auto", "native", "wasm"] as const;
/** A `--kernels` value. */
export type KernelChoice = typeof KERNEL_SETS[number];

/** What a run actually trained on; printed in every report. */
export interface BackendInfo {
  /** The `--backend` value asked for. */
  requested: BackendChoice;
  /** The TF.js backend in use: "tensorflow", "webgpu", "wasm" or "cpu". */
  name: string;
  /** TF.js version. */
  tfjs: string;
  /** Threads used by the backend's kernels (wasm), when known. */
  threads?: number;
  /** GPU adapter description (webgpu, tensorflow-gpu), when known. */
  adapter?: string;
  /** Training kernels ferlab added to the backend (wasm). */
  kernels?: string[];
  /** Threads running ferlab's JS kernels (wasm; 2 when the heap is shared and threads > 1). */
  kernelThreads?: number;
  /** ferlab's wasm conv kernels: SIMD flavour ("relaxed-simd" = fused multiply-add, or "simd") and threads. */
  convKernels?: GemmInfo;
  /** oneDNN's native kernels (convolutions, batch norm) when they ran: version, the ISA they dispatched to, threads. */
  native?: DnnlInfo;
  /** Why `auto` skipped a candidate, fallbacks taken, and similar. */
  notes: string[];
}

/** A backend that was asked for explicitly but cannot run here. */
export class BackendUnavailable extends UserError {
  constructor(readonly backend: string, reason: string, readonly howToGet: string) {
    super(`backend "${backend}" is not available: ${reason}\n  How to get it: ${howToGet}`);
  }
}

/** Options for {@link selectBackend}. */
export interface SelectOptions {
  /** wasm threads: a count, or "auto" for one per core (capped at 8). */
  threads?: number | "auto";
  /** wasm without ferlab's kernels (the benchmark's "stock wasm" baseline). */
  stockWasm?: boolean;
  /** wasm's kernel set (default "auto": native where oneDNN loads, else wasm). */
  kernels?: KernelChoice;
}

const NATIVE_HELP = "install oneDNN (apt-get install libdnnl2) and run under a permission set that grants " +
  "--allow-ffi for lib/backend/native/libferlab_dnnl.so (every training task's set does), or use --kernels wasm";

/**
 * oneDNN's kernels for `--kernels` on `threads` threads: loaded for auto and
 * native, with the reason in `notes` when auto falls back; native that cannot
 * load throws {@link BackendUnavailable}.
 */
function nativeFor(choice: KernelChoice, threads: number, notes: string[]): Dnnl | undefined {
  if (choice === "wasm") return undefined;
  const dnnl = loadDnnl({ threads });
  if (!("reason" in dnnl)) return dnnl;
  if (choice === "native") throw new BackendUnavailable("wasm with --kernels native", dnnl.reason, NATIVE_HELP);
  notes.push(`native kernels unavailable (${dnnl.reason}): wasm kernels`);
  return undefined;
}

// Kept in variables so `deno check` and the installer never try to resolve
// them: tfjs-node downloads libtensorflow at install time, which is optional.
const TFJS_NODE_SPECIFIERS = [
  `npm:@tensorflow/tfjs-node-gpu@${tf.version.tfjs}`,
  `npm:@tensorflow/tfjs-node@${tf.version.tfjs}`,
];
const TFJS_NODE_HELP =
  `install it where the internet is reachable: "deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu ` +
  `npm:@tensorflow/tfjs-node-gpu@${tf.version.tfjs}" (CUDA 11.x + cuDNN 8 on Linux), or @tensorflow/tfjs-node for CPU; ` +
  `its install script downloads libtensorflow, so it cannot be installed offline.`;
const WEBGPU_HELP = "needs a WebGPU adapter (a GPU driver; on Linux without a GPU, Mesa's lavapipe: " +
  "apt-get install mesa-vulkan-drivers, which is software and slow).";

/** tfjs-node packages present in the project's node_modules (what `auto` may try without downloading). */
async function installedTfjsNode(): Promise<string[]> {
  const found: string[] = [];
  for (const spec of TFJS_NODE_SPECIFIERS) {
    const name = spec.slice(4, spec.lastIndexOf("@"));
    try {
      await Deno.stat(`node_modules/${name}/package.json`);
      found.push(spec);
    } catch {
      // not installed
    }
  }
  return found;
}

async function tryTensorflow(specs: string[]): Promise<{ ok: true; adapter?: string } | { ok: false; reason: string }> {
  const errors: string[] = [];
  if (specs.length === 0) {
    return { ok: false, reason: "neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed" };
  }
  for (const spec of specs) {
    try {
      await import(spec);
      if (await tf.setBackend("tensorflow")) {
        return { ok: true, adapter: spec.includes("gpu") ? "CUDA (tfjs-node-gpu)" : "CPU (tfjs-node)" };
      }
      errors.push(`${spec}: loaded but setBackend("tensorflow") failed`);
    } catch (e) {
      errors.push(`${spec}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  return { ok: false, reason: errors.join("; ") };
}

/** Describes the WebGPU adapter, or explains why there is none. */
export async function probeWebGpu(): Promise<{ adapter: string; software: boolean } | { reason: string }> {
  // deno-lint-ignore no-explicit-any
  const gpu = (globalThis.navigator as any)?.gpu;
  if (!gpu) return { reason: "navigator.gpu is missing (no WebGPU in this runtime)" };
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { reason: "no WebGPU adapter found" };
  const info = adapter.info ?? {};
  const text = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
  const software = Boolean(adapter.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software/i.test(text);
  return { adapter: text || "unknown adapter", software };
}

async function useWebGpu(): Promise<void> {
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) throw new Error('setBackend("webgpu") failed');
}

/**
 * Sets the TF.js backend for this process and returns what was chosen. An
 * explicit choice that cannot run throws {@link BackendUnavailable} naming how
 * to get it; `auto` falls through to the next candidate and notes why.
 */
export async function selectBackend(requested: BackendChoice, opts: SelectOptions = {}): Promise<BackendInfo> {
  tf.enableProdMode(); // skips per-op NaN checks and the "install tfjs-node" banner
  const base = { requested, tfjs: tf.version.tfjs, notes: [] as string[] };
  const auto = requested === "auto";

  if (requested === "tensorflow" || auto) {
    // auto never triggers a download: it only tries packages already installed
    const r = await tryTensorflow(auto ? await installedTfjsNode() : TFJS_NODE_SPECIFIERS);
    if (r.ok) return { ...base, name: "tensorflow", adapter: r.adapter };
    if (!auto) throw new BackendUnavailable("tensorflow", r.reason, TFJS_NODE_HELP);
    base.notes.push("tfjs-node not installed (optional native backend)");
  }
  if (requested === "webgpu" || auto) {
    const probe = await probeWebGpu();
    if ("reason" in probe) {
      if (!auto) throw new BackendUnavailable("webgpu", probe.reason, WEBGPU_HELP);
      base.notes.push(`webgpu skipped: ${probe.reason}`);
    } else if (auto && probe.software) {
      base.notes.push(`webgpu skipped: software adapter (${probe.adapter}) is slower than wasm`);
    } else {
      await useWebGpu();
      return { ...base, name: "webgpu", adapter: probe.adapter };
    }
  }
  if (requested === "wasm" || auto) {
    try {
      const w = await initWasm({ threads: opts.threads ?? "auto" });
      const nativeNotes: string[] = [];
      const dnnl = opts.stockWasm ? undefined : nativeFor(opts.kernels ?? "auto", w.threads, nativeNotes);
      const kernels = opts.stockWasm ? undefined : installWasmTrainingKernels(dnnl);
      const kernelThreads = kernels
        ? await startRowPool(memoryOf(tf.backend() as unknown as WasmBackend), w.threads)
        : 1;
      const wasmBackend = tf.backend() as unknown as WasmBackend;
      const convKernels = kernels
        ? await startGemm(memoryOf(wasmBackend), w.threads, (n) => wasmBackend.wasm._malloc(n))
        : undefined;
      const notes = [...base.notes, ...w.notes, ...nativeNotes, ...(convKernels?.note ? [convKernels.note] : [])];
      if (kernels && w.threads > 1 && kernelThreads < 2) {
        notes.push(`JS kernels run on one thread: ${rowPoolError() ?? "the wasm heap is not shared"}`);
      }
      return {
        ...base,
        name: "wasm",
        threads: w.threads,
        kernels,
        kernelThreads,
        convKernels,
        native: dnnl?.info,
        notes,
      };
    } catch (e) {
      if (e instanceof BackendUnavailable) throw e;
      if (!auto) {
        throw new BackendUnavailable(
          "wasm",
          (e as Error).message,
          "reinstall @tensorflow/tfjs-backend-wasm (deno install)",
        );
      }
      base.notes.push(`wasm failed: ${(e as Error).message}`);
    }
  }
  await tf.setBackend("cpu");
  return { ...base, name: "cpu", threads: 1 };
}

/** What computes a run's kernels, in a few words: "oneDNN 2.6.3 avx512_core_bf16", "wasm relaxed-simd", "cpu". */
export function kernelsLabel(b: BackendInfo): string {
  if (b.native) return `oneDNN ${b.native.version} ${b.native.isa}`;
  if (b.name === "wasm") return b.convKernels ? `wasm ${b.convKernels.flavour}` : "wasm (stock)";
  return b.adapter ? `${b.name} (${b.adapter})` : b.name;
}

/** One line for logs: "wasm (2 threads, 9 ferlab kernels, tfjs 4.22.0)". */
export function describeBackend(b: BackendInfo): string {
  const parts = [
    b.threads ? `${b.threads} thread${b.threads > 1 ? "s" : ""}` : null,
    b.kernelThreads && b.kernelThreads > 1 ? `JS kernels on ${b.kernelThreads} threads` : null,
    b.kernels ? `${b.kernels.length} ferlab kernels` : null,
    b.native ? `native kernels: oneDNN ${b.native.version} ${b.native.isa} on ${b.native.threads} threads` : null,
    b.convKernels ? `conv kernels ${b.convKernels.flavour} on ${b.convKernels.threads} threads` : null,
    b.adapter ?? null,
    `tfjs ${b.tfjs}`,
  ].filter(Boolean);
  return `${b.name} (${parts.join(", ")})`;
}
