/**
 * Low-level access to the TF.js wasm backend for our own kernels.
 *
 * Our kernels run *inside* a kernel call, so nothing here may touch the
 * gradient tape or the engine's tensor bookkeeping: we work on `TensorInfo`s,
 * call the backend's own kernel functions directly, and free every
 * intermediate ourselves.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The parts of `BackendWasm` our kernels use (it is not exported with types we can reach). */
export interface WasmBackend extends tf.KernelBackend {
  wasm: {
    HEAPU8: Uint8Array;
    /** The module's memory (set by emscripten's threaded build). */
    wasmMemory?: WebAssembly.Memory;
    /** The module's exports (emscripten's single-threaded build exports its memory here). */
    asm?: { memory?: WebAssembly.Memory };
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  };
  dataIdMap: {
    get(dataId: tf.DataId): { id: number; memoryOffset: number; shape: number[] };
  };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  incRef(dataId: tf.DataId): void;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** A kernel function as registered with TF.js. */
export type KernelFn = (args: {
  inputs: Record<string, tf.TensorInfo>;
  backend: WasmBackend;
  attrs?: Record<string, unknown>;
}) => tf.TensorInfo | tf.TensorInfo[];

/** The stock wasm kernels we call or replace, captured before replacing any. */
const stock = new Map<string, tf.KernelConfig>();

/** Remembers the stock wasm kernel `name` (once) so replacements can fall back to it. */
export function captureStock(name: string): tf.KernelConfig {
  let cfg = stock.get(name);
  if (!cfg) {
    const found = tf.getKernel(name, "wasm");
    if (!found) throw new Error(`wasm backend has no stock kernel ${name}`);
    cfg = found;
    stock.set(name, cfg);
  }
  return cfg;
}

/** Runs the stock wasm kernel `name` on TensorInfos and returns its single output. */
export function runStock(
  backend: WasmBackend,
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown> = {},
): tf.TensorInfo {
  const fn = captureStock(name).kernelFunc as unknown as KernelFn;
  const out = fn({ inputs, backend, attrs });
  return Array.isArray(out) ? out[0] : out;
}

/** Frees a TensorInfo made inside a kernel. */
export function free(backend: WasmBackend, ...ts: tf.TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/** A Float32Array view of a tensor in the wasm heap. Take views only after all allocations: the heap may grow and detach earlier views. */
export function f32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Product of a shape's dimensions. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The wasm memory behind the heap: the module's own `WebAssembly.Memory` when
 * it exposes one (threaded build), else a stand-in whose `buffer` is the heap's.
 */
export function memoryOf(backend: WasmBackend): WebAssembly.Memory {
  return backend.wasm.wasmMemory ?? backend.wasm.asm?.memory ?? ({
    get buffer() {
      return backend.wasm.HEAPU8.buffer;
    },
  } as WebAssembly.Memory);
}

/** A tensor's position in the heap in float32 elements (its byte offset / 4). */
export function at(backend: WasmBackend, t: { dataId: object }): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset / 4;
}
