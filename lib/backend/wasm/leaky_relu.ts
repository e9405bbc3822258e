/**
 * LeakyReLU for wasm, forward and gradient, as single passes. The stock
 * gradient composes Greater + Multiply + Select over the whole activation,
 * which cost the deep model more than its batch norms.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, runStock, sizeOf, type WasmBackend } from "./heap.ts";

/** Kernel name of the fused LeakyReLU gradient. */
export const LEAKY_RELU_GRAD = "FerlabLeakyReluGrad";

/**
 * 1 when the float32 with these bits is ≤ 0 (±0 included), else 0 — without
 * a branch: activations' signs are random, and a mispredicted branch per
 * element made the plain `x > 0 ? … : …` loop five times slower.
 */
function notPositive(bits: number): number {
  return ((bits - 1) >>> 31) | (bits >>> 31);
}

/** An Int32Array view of a float32 tensor's bits. */
function i32(backend: WasmBackend, t: tf.TensorInfo): Int32Array {
  const v = f32(backend, t);
  return new Int32Array(v.buffer, v.byteOffset, v.length);
}

/** `LeakyRelu` for wasm (float32; others use the stock kernel). */
export function leakyRelu(
  { inputs, backend, attrs }: { inputs: { x: tf.TensorInfo }; backend: WasmBackend; attrs: { alpha: number } },
): tf.TensorInfo {
  const { x } = inputs;
  if (x.dtype !== "float32") return runStock(backend, "LeakyRelu", inputs, attrs);
  const out = backend.makeOutput(x.shape, "float32");
  const X = f32(backend, x), Y = f32(backend, out), XI = i32(backend, x);
  const coef = new Float32Array([1, attrs.alpha]), n = sizeOf(x.shape);
  for (let i = 0; i < n; i++) Y[i] = X[i] * coef[notPositive(XI[i])];
  return out;
}

/** dx = dy where x > 0, else alpha·dy (the rule of TF.js's own LeakyRelu gradient). */
export function leakyReluGrad(
  { inputs, backend, attrs }: {
    inputs: { dy: tf.TensorInfo; x: tf.TensorInfo };
    backend: WasmBackend;
    attrs: { alpha: number };
  },
): tf.TensorInfo {
  const { dy, x } = inputs;
  const out = backend.makeOutput(x.shape, "float32");
  const XI = i32(backend, x), DY = f32(backend, dy), DX = f32(backend, out);
  const coef = new Float32Array([1, attrs.alpha]), n = sizeOf(x.shape);
  for (let i = 0; i < n; i++) DX[i] = DY[i] * coef[notPositive(XI[i])];
  return out;
}

let gradientInstalled = false;

/**
 * Replaces TF.js's LeakyRelu gradient (for every backend) with one that uses
 * the fused kernel where the active backend has it, and TF.js's own
 * composition elsewhere — same values either way.
 */
export function installLeakyReluGradient(): void {
  if (gradientInstalled) return;
  tf.registerGradient({
    kernelName: tf.LeakyRelu,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const alpha = (attrs as unknown as { alpha: number }).alpha;
      const d = dy as tf.Tensor;
      if (tf.getKernel(LEAKY_RELU_GRAD, tf.getBackend())) {
        return { x: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { dy: d, x }, { alpha }) as tf.Tensor };
      }
      return { x: () => tf.where(tf.greater(x, 0), d, tf.mul(d, alpha)) };
    },
  });
  gradientInstalled = true;
}
