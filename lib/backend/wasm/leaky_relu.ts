/**
 * LeakyReLU for wasm, forward and gradient, as single passes. The stock
 * gradient composes Greater + Multiply + Select over the whole activation,
 * which cost the deep model more than its batch norms.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { runStock, sizeOf, type WasmBackend } from "./heap.ts";
import { ensureGemmFor, gemmParts, MIN_SPLIT_WORK, runParallel } from "./gemm_pool.ts";

/** Byte offset of a tensor in the heap. */
function ptr(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** Runs the wasm SIMD LeakyReLU loop (gradient when dy is given), split across threads when large. */
function runLeaky(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo | null, alpha: number): tf.TensorInfo {
  ensureGemmFor(backend);
  const out = backend.makeOutput(x.shape, "float32");
  const n = sizeOf(x.shape);
  const args = [ptr(backend, x), dy ? ptr(backend, dy) : 0, ptr(backend, out), n, alpha];
  runParallel("leaky", args, gemmParts(n < MIN_SPLIT_WORK ? 1 : Infinity));
  return out;
}

/** Kernel name of the fused LeakyReLU gradient. */
export const LEAKY_RELU_GRAD = "FerlabLeakyReluGrad";

/** `LeakyRelu` for wasm (float32; others use the stock kernel). */
export function leakyRelu(
  { inputs, backend, attrs }: { inputs: { x: tf.TensorInfo }; backend: WasmBackend; attrs: { alpha: number } },
): tf.TensorInfo {
  const { x } = inputs;
  if (x.dtype !== "float32") return runStock(backend, "LeakyRelu", inputs, attrs);
  return runLeaky(backend, x, null, attrs.alpha);
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
  return runLeaky(backend, x, dy, attrs.alpha);
}

/** `Relu` for wasm: the LeakyReLU loop with α = 0 (one SIMD pass, split across threads). */
export function relu(
  { inputs, backend }: { inputs: { x: tf.TensorInfo }; backend: WasmBackend },
): tf.TensorInfo {
  const { x } = inputs;
  if (x.dtype !== "float32") return runStock(backend, "Relu", inputs);
  return runLeaky(backend, x, null, 0);
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
  // ReLU's gradient is LeakyReLU's with α = 0: one pass instead of Step then Multiply
  tf.registerGradient({
    kernelName: tf.Relu,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const d = dy as tf.Tensor;
      if (tf.getKernel(LEAKY_RELU_GRAD, tf.getBackend()) && x.dtype === "float32") {
        return { x: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { dy: d, x }, { alpha: 0 }) as tf.Tensor };
      }
      return { x: () => tf.mul(d, tf.step(tf.cast(x, "float32"))) };
    },
  });
  gradientInstalled = true;
}
