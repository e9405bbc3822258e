/**
 * GFLOPS of each conv kernel on the study models' layer shapes (batch 64),
 * next to the machine's wasm SIMD peak measured by a tight multiply-add loop.
 * Prints one JSON object; `bench/bench.ts` runs it.
 *
 *     deno run -P=bench bench/kernels.ts --threads 2 [--model baseline|deep] [--reps 3]
 *
 * Kernels: XNNPACK's forward conv (stock), and the registered set's forward,
 * filter and input gradients: ferlab's wasm kernels
 * (`lib/backend/wasm/kernels/conv_gemm.c`, `--kernels wasm`, the default) or
 * oneDNN's (`--kernels native`). Every kernel is called
 * once before timing so V8 has tiered the wasm up from Liftoff.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseFlags } from "../lib/cli/args.ts";
import { parsedOrExit } from "../lib/cli/shell.ts";
import { KERNEL_SETS, type KernelChoice, selectBackend } from "../lib/backend/select.ts";
import { gemmExports } from "../lib/backend/wasm/gemm_pool.ts";
import { runStock, type WasmBackend } from "../lib/backend/wasm/heap.ts";

const a = parsedOrExit(() =>
  parseFlags(Deno.args, "deno run -P=bench bench/kernels.ts", {
    threads: { type: "number", help: "wasm threads (0 = one per core)" },
    model: { type: "string", help: "layer shapes of this study model", choices: ["all", "baseline", "deep"] },
    reps: { type: "number", help: "timings per kernel (the best is kept)", positiveInt: true },
    batch: { type: "number", help: "batch size", positiveInt: true },
    kernels: { type: "string", help: "kernel set timed (forward and gradients)", choices: KERNEL_SETS },
  }, { threads: 2, model: "all", reps: 3, batch: 64, kernels: "wasm" as KernelChoice })
);

/** [name, H (=W), Cin, Cout] of each 3×3 "same" conv. */
const LAYERS: Record<string, [string, number, number, number][]> = {
  baseline: [["conv1", 48, 1, 32], ["conv2", 24, 32, 64], ["conv3", 12, 64, 128], ["conv4", 6, 128, 128]],
  deep: [
    ["conv1", 48, 1, 64],
    ["conv2", 48, 64, 64],
    ["conv3", 24, 64, 128],
    ["conv4", 24, 128, 128],
    ["conv5", 12, 128, 256],
    ["conv6", 6, 256, 512],
    ["conv7", 3, 512, 512],
  ],
};

/**
 * Best of `reps` timings of `fn` in ms, after two untimed calls. wasm kernels
 * run synchronously inside the call, so no read-back is timed.
 */
function best(fn: () => tf.Tensor, reps: number): number {
  for (let i = 0; i < 2; i++) fn().dispose();
  let ms = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const out = fn();
    ms = Math.min(ms, performance.now() - t0);
    out.dispose();
  }
  return ms;
}

/**
 * Single-thread SIMD peak in GFLOPS: 12 independent multiply-add chains, 2
 * flops per lane. Measured again beside every layer (the machine is shared,
 * so a peak from other minutes would flatter or shame the kernels).
 */
export function measurePeak(tries = 5): number {
  const k = gemmExports();
  k.peak_madd(1000); // tier up
  k.peak_madd(1000);
  const iters = 1_000_000;
  let bestS = Infinity;
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now();
    k.peak_madd(iters);
    bestS = Math.min(bestS, (performance.now() - t0) / 1000);
  }
  return (iters * 12 * 4 * 2) / bestS / 1e9;
}

const backend = await selectBackend("wasm", { threads: a.threads, kernels: a.kernels });
const reps = a.reps, B = a.batch;
const wasm = tf.backend() as unknown as WasmBackend;
const rows: Record<string, unknown>[] = [];
const models = a.model === "all" ? Object.keys(LAYERS) : [a.model];
for (const model of models) {
  for (const [name, S, C, O] of LAYERS[model]) {
    const x = tf.randomNormal([B, S, S, C]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, C, O]) as tf.Tensor4D;
    const dy = tf.randomNormal([B, S, S, O]) as tf.Tensor4D;
    const attrs = { strides: [1, 1], pad: "same", dataFormat: "NHWC", dimRoundingMode: undefined, dilations: [1, 1] };
    const gflop = (2 * B * S * S * 9 * C * O) / 1e9;
    const peakBefore = measurePeak();
    const fwdMs = best(() => tf.conv2d(x, w, 1, "same"), reps);
    // XNNPACK's forward conv for the same layer, for comparison where ours runs the forward
    const stockFwd = best(() => {
      const out = runStock(wasm, "Conv2D", { x, filter: w }, attrs) as tf.TensorInfo;
      return { dispose: () => wasm.disposeData(out.dataId) } as unknown as tf.Tensor;
    }, reps);
    const run = (kernel: string, inputs: Record<string, tf.Tensor>, extra: Record<string, unknown>) => () =>
      tf.engine().runKernel(kernel, inputs, { ...attrs, ...extra } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dW = best(run("Conv2DBackpropFilter", { x, dy }, { filterShape: [3, 3, C, O] }), reps);
    const dX = best(run("Conv2DBackpropInput", { dy, filter: w }, { inputShape: [B, S, S, C] }), reps);
    const peak = Math.max(peakBefore, measurePeak());
    rows.push({
      model,
      peakGflopsPerThread: peak,
      layer: name,
      shape: `${S}×${S}×${C}→${O}`,
      gflop,
      forwardMs: fwdMs,
      stockForwardMs: stockFwd,
      filterGradMs: dW,
      inputGradMs: dX,
      forwardGflops: gflop / (fwdMs / 1000),
      stockForwardGflops: gflop / (stockFwd / 1000),
      filterGradGflops: gflop / (dW / 1000),
      inputGradGflops: gflop / (dX / 1000),
    });
    tf.dispose([x, w, dy]);
  }
}
console.log(JSON.stringify({
  threads: backend.threads,
  convKernels: backend.convKernels,
  native: backend.native,
  peakGflopsPerThread: Math.max(...rows.map((r) => r.peakGflopsPerThread as number)),
  rows,
}));
Deno.exit(0);
