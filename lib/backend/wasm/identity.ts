/**
 * Zero-copy `Identity` for wasm. The engine clones every tensor it saves for
 * backprop through Identity; the stock kernel copies the bytes, but tensors
 * are immutable, so sharing the buffer by reference count is enough (the cpu
 * backend does the same).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { WasmBackend } from "./heap.ts";

/** `Identity` for wasm. */
export function identity({ inputs, backend }: { inputs: { x: tf.TensorInfo }; backend: WasmBackend }): tf.TensorInfo {
  const { x } = inputs;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
