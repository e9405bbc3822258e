/**
 * Installs ferlab's training kernels into the TF.js wasm backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { captureStock, type KernelFn } from "./heap.ts";
import { conv2DBackpropFilter, conv2DBackpropInput } from "./conv_grads.ts";
import { conv2D, fusedConv2D } from "./conv_forward.ts";
import { batchNormTrain, batchNormTrainGrad, BN_BACKWARD, BN_FORWARD } from "./batch_norm.ts";
import { depthwiseBackpropFilter, depthwiseBackpropInput } from "./depthwise_grads.ts";
import { identity } from "./identity.ts";
import { installLeakyReluGradient, LEAKY_RELU_GRAD, leakyRelu, leakyReluGrad, relu } from "./leaky_relu.ts";
import { batchMatMul } from "./matmul.ts";
import { maxPoolGrad } from "./pool_grads.ts";
import { mean, sum } from "./reduce.ts";
import { tile } from "./tile.ts";
import type { Dnnl } from "../native/dnnl.ts";
import { nativeKernels } from "../native/kernels.ts";

/** Kernels we add or replace, by TF.js kernel name. */
export const TRAINING_KERNELS: Record<string, KernelFn> = {
  Conv2D: conv2D as unknown as KernelFn,
  FusedConv2D: fusedConv2D as unknown as KernelFn,
  Conv2DBackpropFilter: conv2DBackpropFilter as unknown as KernelFn,
  Conv2DBackpropInput: conv2DBackpropInput as unknown as KernelFn,
  BatchMatMul: batchMatMul as unknown as KernelFn,
  [BN_FORWARD]: batchNormTrain as unknown as KernelFn,
  [BN_BACKWARD]: batchNormTrainGrad as unknown as KernelFn,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter as unknown as KernelFn,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput as unknown as KernelFn,
  Identity: identity as unknown as KernelFn,
  LeakyRelu: leakyRelu as unknown as KernelFn,
  Relu: relu as unknown as KernelFn,
  [LEAKY_RELU_GRAD]: leakyReluGrad as unknown as KernelFn,
  MaxPoolGrad: maxPoolGrad as unknown as KernelFn,
  Sum: sum as unknown as KernelFn,
  Mean: mean as unknown as KernelFn,
  Tile: tile as unknown as KernelFn,
};

/** Stock kernels our kernels call; captured before anything is replaced. */
const CALLED = ["Conv2D", "FusedConv2D", "Transpose", "Slice", "BatchMatMul"];

/** Which kernel set is registered now: none yet, the wasm kernels, or the native ones over them. */
let installed: "wasm" | Dnnl | undefined;

/**
 * Registers the training kernels for "wasm": ferlab's wasm kernels, and with
 * `native` oneDNN's in place of those it covers (`lib/backend/native/`). Call
 * after `tf.setBackend("wasm")` has resolved, so the stock kernels' setup has
 * run. Calling it again with another set swaps the set (tests compare them in
 * one process). Returns the kernel names registered.
 */
export function installWasmTrainingKernels(native?: Dnnl): string[] {
  const set = native ?? "wasm";
  if (installed === set) return Object.keys(TRAINING_KERNELS);
  if (!installed) { for (const name of CALLED) captureStock(name); }
  const kernels = native ? { ...TRAINING_KERNELS, ...nativeKernels(native, TRAINING_KERNELS) } : TRAINING_KERNELS;
  for (const [name, fn] of Object.entries(kernels)) {
    const existing = tf.getKernel(name, "wasm");
    if (existing) {
      if (!installed) captureStock(name);
      tf.unregisterKernel(name, "wasm");
    }
    tf.registerKernel({
      kernelName: name,
      backendName: "wasm",
      // keep the stock setup so a re-initialized backend still wires up the fallback
      setupFunc: existing?.setupFunc,
      kernelFunc: fn as unknown as tf.KernelFunc,
    });
  }
  if (!installed) installLeakyReluGradient();
  installed = set;
  return Object.keys(kernels);
}
