/**
 * One benchmark measurement in its own process (the wasm thread count is
 * fixed when the module loads, so each backend setting needs a fresh one).
 * Prints a single JSON object on stdout; `bench/bench.ts` runs these.
 *
 *     deno run -P=bench bench/measure.ts --backend wasm --threads 2 --model baseline --batch 64 --steps 10
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendChoice, BACKENDS, KERNEL_SETS, type KernelChoice, selectBackend } from "../lib/backend/select.ts";
import { cpuModel, loadAverage } from "../lib/machine.ts";
import { parseFlags } from "../lib/cli/args.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { BUDGET_VGG, buildDeep, DEEP_ARCHITECTURES } from "../lib/models/deep.ts";
import { countFlops } from "../lib/models/flops.ts";
import { augmentBatch, augmentPreset } from "../lib/data/augment.ts";
import { makeRng } from "../lib/rng.ts";
import { trainStep } from "../lib/train/step.ts";

const a = parseFlags(Deno.args, "deno run -P=bench bench/measure.ts", {
  backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
  threads: { type: "number", help: "wasm threads" },
  stock: { type: "boolean", help: "stock wasm, without ferlab's kernels" },
  kernels: { type: "string", help: "wasm kernel set", choices: KERNEL_SETS },
  model: { type: "string", help: "what to time", choices: ["baseline", "deep", "lean", "vgg", "augment"] },
  batch: { type: "number", help: "batch size", positiveInt: true },
  micro: { type: "number", help: "micro-batch size (0 = whole batch)" },
  steps: { type: "number", help: "timed steps", positiveInt: true },
  maxSeconds: { type: "number", help: "stop timing after this many seconds" },
  soak: { type: "boolean", help: "memory over many steps" },
  profile: { type: "boolean", help: "per-kernel time of one step" },
}, {
  backend: "wasm" as BackendChoice,
  threads: 1,
  stock: false,
  kernels: "auto" as KernelChoice,
  model: "baseline",
  batch: 64,
  micro: 0,
  steps: 10,
  maxSeconds: 60,
  soak: false,
  profile: false,
});
if (!a) Deno.exit(0);

// deno-lint-ignore no-explicit-any
const wasmHeap = (): number | undefined => (tf.backend() as any).wasm?.HEAPU8?.length;
const batch = a.batch, micro = a.micro || batch, steps = a.steps;
const maxSeconds = a.maxSeconds;
const result: Record<string, unknown> = { ...a, batch, micro, steps };
try {
  const backend = await selectBackend(a.backend, { threads: a.threads, stockWasm: a.stock, kernels: a.kernels });
  Object.assign(result, {
    backendName: backend.name,
    threadsUsed: backend.threads,
    adapter: backend.adapter,
    convKernels: backend.convKernels,
    native: backend.native,
    cpu: cpuModel(),
    loadAverage: loadAverage(),
  });
  if (a.model === "augment") {
    // augmentation throughput: the study's heavy preset on batches of `batch` faces
    const x = tf.randomUniform([batch, 48, 48, 1], 0, 1, "float32", 7) as tf.Tensor4D;
    const cfg = augmentPreset("strong");
    const rng = makeRng("augment");
    tf.dispose(augmentBatch(x, cfg, rng));
    const t0 = performance.now();
    let n = 0;
    while (n < steps && performance.now() - t0 < maxSeconds * 1000) {
      const y = augmentBatch(x, cfg, rng);
      await y.data();
      y.dispose();
      n++;
    }
    result.augmentImagesPerSec = (n * batch * 1000) / (performance.now() - t0);
    result.ok = true;
    console.log(JSON.stringify(result));
    Deno.exit(0);
  }
  // baseline and deep: fixed yardsticks (DEFAULT_BASELINE, DEFAULT_DEEP); lean and vgg: what 03 and 05 train
  const model = a.model === "deep"
    ? buildDeep({ seed: 1 })
    : a.model === "lean"
    ? buildDeep({ ...DEEP_ARCHITECTURES.lean, seed: 1 })
    : a.model === "vgg"
    ? buildDeep({ ...BUDGET_VGG, seed: 1 })
    : buildBaseline({ seed: 1 });
  result.flopsPerImage = countFlops(model);
  const optimizer = tf.train.adam(1e-3);
  const rng = makeRng("bench");
  const x = tf.randomUniform([batch, 48, 48, 1], 0, 1, "float32", 7) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 7), "int32");
  const y = tf.oneHot(labels, 7).toFloat() as tf.Tensor2D;
  labels.dispose();
  const step = async () => {
    const r = await trainStep(model, optimizer, x, y, { microBatch: micro, dropoutRng: rng });
    return r;
  };
  const timeLoop = async (fn: () => Promise<unknown>, n: number) => {
    const t0 = performance.now();
    let done = 0;
    while (done < n) {
      await fn();
      done++;
      if ((performance.now() - t0) / 1000 > maxSeconds) break;
    }
    return { ms: (performance.now() - t0) / done, done };
  };
  const forward = async () => {
    const p = model.predict(x) as tf.Tensor;
    await p.data();
    p.dispose();
  };
  // warm-up: XNNPACK operator creation, JIT, heap growth
  await forward();
  try {
    await step();
    result.canTrain = true;
  } catch (e) {
    result.canTrain = false;
    result.trainError = (e as Error).message.split("\n")[0];
  }
  const fwd = await timeLoop(forward, Math.max(3, Math.ceil(steps / 2)));
  result.forwardMs = fwd.ms;
  result.inferImagesPerSec = (batch * 1000) / fwd.ms;
  if (result.canTrain) {
    const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes };
    const tr = await timeLoop(step, steps);
    const after = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes };
    Object.assign(result, {
      stepMs: tr.ms,
      stepsTimed: tr.done,
      trainImagesPerSec: (batch * 1000) / tr.ms,
      stepOverForward: tr.ms / fwd.ms,
      tensorGrowth: after.tensors - before.tensors,
      byteGrowth: after.bytes - before.bytes,
    });
    result.wasmHeapBytes = wasmHeap();
    if (a.profile) {
      // where one training step's time goes, by kernel (ms summed over calls)
      const prof = await tf.profile(async () => {
        await step();
      });
      const byKernel = new Map<string, { ms: number; calls: number }>();
      for (const k of prof.kernels) {
        const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
        e.ms += k.kernelTimeMs as number;
        e.calls++;
        byKernel.set(k.name, e);
      }
      result.profile = [...byKernel].map(([kernel, e]) => ({ kernel, ...e })).sort((x, y) => y.ms - x.ms);
    }
    if (a.soak) {
      // memory over many steps: tensor count, tensor bytes and the wasm heap size every 100 steps
      const samples = [];
      for (let i = 1; i <= steps * 100; i++) {
        await step();
        if (i % 100 === 0) {
          samples.push({ step: i, tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: wasmHeap() });
        }
      }
      result.soak = samples;
    }
  }
  result.ok = true;
} catch (e) {
  result.ok = false;
  result.error = (e as Error).message.split("\n")[0];
}
console.log(JSON.stringify(result));
Deno.exit(0);
