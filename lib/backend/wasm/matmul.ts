/**
 * `BatchMatMul` with transposed operands for wasm. The stock kernel only
 * uses XNNPACK when neither operand is transposed and otherwise runs a scalar
 * triple loop; dense-layer gradients always ask for a transpose. Transposing
 * explicitly first (cheap: weights and activations of a dense layer are small)
 * keeps the product on XNNPACK.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { free, runStock, type WasmBackend } from "./heap.ts";

function swapLast2(backend: WasmBackend, t: tf.TensorInfo): tf.TensorInfo {
  const r = t.shape.length;
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  return runStock(backend, "Transpose", { x: t }, { perm });
}

/** `BatchMatMul` for wasm. */
export function batchMatMul(
  { inputs, backend, attrs }: {
    inputs: { a: tf.TensorInfo; b: tf.TensorInfo };
    backend: WasmBackend;
    attrs: { transposeA: boolean; transposeB: boolean };
  },
): tf.TensorInfo {
  const { transposeA, transposeB } = attrs;
  if (!transposeA && !transposeB) return runStock(backend, "BatchMatMul", inputs, attrs);
  const a = transposeA ? swapLast2(backend, inputs.a) : inputs.a;
  const b = transposeB ? swapLast2(backend, inputs.b) : inputs.b;
  const out = runStock(backend, "BatchMatMul", { a, b }, { transposeA: false, transposeB: false });
  if (a !== inputs.a) free(backend, a);
  if (b !== inputs.b) free(backend, b);
  return out;
}
