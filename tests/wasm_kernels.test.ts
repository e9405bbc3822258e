/**
 * ferlab's wasm training kernels against TF.js's reference `cpu` backend.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { installWasmTrainingKernels, TRAINING_KERNELS } from "../lib/backend/wasm/register.ts";
import { makeRng, type Rng } from "../lib/rng.ts";
import { batchNormalization as fastBatchNorm } from "../lib/models/batch_norm.ts";
import { assertClose, assertSameGradients, modelGradients, smallModel, stockBatchNorm } from "./helpers/model_grads.ts";

tf.enableProdMode();
await tf.setBackend("wasm");
installWasmTrainingKernels();

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function randArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Runs `f` on both backends with the same inputs and returns [wasm, cpu] outputs. */
async function onBoth(
  inputs: { shape: number[]; data: Float32Array }[],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<[Float32Array[], Float32Array[]]> {
  const results: Float32Array[][] = [];
  for (const backend of ["wasm", "cpu"]) {
    await tf.setBackend(backend);
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const out = f(...xs);
    const outs = Array.isArray(out) ? out : [out];
    results.push(await Promise.all(outs.map(async (o) => (await o.data()) as Float32Array)));
    tf.dispose([...xs, ...outs]);
  }
  await tf.setBackend("wasm");
  return [results[0], results[1]];
}

Deno.test("every training kernel is registered for wasm", () => {
  for (const name of Object.keys(TRAINING_KERNELS)) {
    assert.equal(tf.getKernel(name, "wasm")?.kernelFunc, TRAINING_KERNELS[name] as unknown, name);
  }
});

Deno.test("conv2d gradients match cpu: strides 1 and 2, same and valid, odd sizes", async () => {
  const rng = makeRng("conv-grads");
  const cases: [number[], number[], number, "same" | "valid"][] = [
    [[2, 7, 7, 3], [3, 3, 3, 4], 1, "same"],
    [[2, 7, 7, 3], [3, 3, 3, 4], 2, "same"],
    [[2, 8, 8, 5], [3, 3, 5, 6], 2, "valid"],
    [[3, 9, 11, 6], [3, 3, 6, 5], 2, "same"],
    [[2, 8, 8, 6], [1, 1, 6, 3], 1, "valid"],
    [[2, 10, 9, 5], [5, 5, 5, 4], 2, "valid"],
    [[2, 11, 11, 1], [3, 3, 1, 4], 2, "same"],
    [[4, 12, 12, 8], [3, 3, 8, 8], 1, "valid"],
  ];
  for (const [xs, ws, s, pad] of cases) {
    type Shape4 = [number, number, number, number];
    const dyShape = tf.backend_util.computeConv2DInfo(xs as Shape4, ws as Shape4, s, 1, pad).outShape;
    const x = { shape: xs, data: randArray(xs.reduce((a, b) => a * b), rng) };
    const w = { shape: ws, data: randArray(ws.reduce((a, b) => a * b), rng) };
    const dy = { shape: dyShape, data: randArray(dyShape.reduce((a, b) => a * b), rng) };
    const [ours, ref] = await onBoth([x, w, dy], (x, w, dy) => {
      const [gx, gw] = tf.grads((x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad), dy))
      )([x, w]);
      return [gx, gw];
    });
    const label = `x${xs} w${ws} s${s} ${pad}`;
    assertClose(ours[0], ref[0], 1e-4, `${label} dx`);
    assertClose(ours[1], ref[1], 1e-4, `${label} dw`);
  }
});

Deno.test("depthwise conv gradients (missing from stock wasm) match cpu", async () => {
  const rng = makeRng("depthwise");
  const cases: [number[], number[], number, "same" | "valid", number][] = [
    [[2, 7, 7, 3], [3, 3, 3, 1], 1, "same", 1],
    [[2, 8, 9, 4], [3, 3, 4, 2], 2, "same", 1],
    [[2, 9, 9, 3], [3, 3, 3, 1], 2, "valid", 1],
    [[2, 10, 10, 4], [5, 5, 4, 3], 1, "same", 1],
  ];
  for (const [xs, ws, s, pad, d] of cases) {
    const x = { shape: xs, data: randArray(size(xs), rng) };
    const w = { shape: ws, data: randArray(size(ws), rng) };
    const [ours, ref] = await onBoth(
      [x, w],
      (x, w) =>
        tf.grads((x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.square(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad, "NHWC", d)))
        )([x, w]),
    );
    assertClose(ours[0], ref[0], 1e-4, `depthwise x${xs} w${ws} s${s} ${pad} d${d} dx`);
    assertClose(ours[1], ref[1], 1e-4, `depthwise x${xs} w${ws} s${s} ${pad} d${d} dw`);
  }
});

Deno.test("sum and mean over leading, trailing and middle axes match cpu", async () => {
  const rng = makeRng("reduce");
  const shape = [4, 5, 6, 7];
  const x = { shape, data: randArray(4 * 5 * 6 * 7, rng) };
  for (const axes of [[0, 1, 2], [0], [3], [2, 3], [1], [1, 2], [0, 1, 2, 3]]) {
    for (const keepDims of [false, true]) {
      const [ours, ref] = await onBoth([x], (t) => [tf.sum(t, axes, keepDims), tf.mean(t, axes, keepDims)]);
      assertClose(ours[0], ref[0], 1e-5, `sum ${axes} keep=${keepDims}`);
      assertClose(ours[1], ref[1], 1e-5, `mean ${axes} keep=${keepDims}`);
    }
  }
});

Deno.test("tile matches cpu for broadcast-style and general reps", async () => {
  const rng = makeRng("tile");
  for (const [shape, reps] of [[[1, 1, 1, 5], [3, 4, 2, 1]], [[2, 3], [3, 2]], [[2, 1, 3], [1, 4, 2]], [[7], [3]]]) {
    const x = { shape, data: randArray(shape.reduce((a, b) => a * b), rng) };
    const [ours, ref] = await onBoth([x], (t) => tf.tile(t, reps));
    assertClose(ours[0], ref[0], 0, `tile ${shape} × ${reps}`);
  }
});

Deno.test("max-pool gradient matches cpu (2×2/2 valid, 3×3/2 same, odd sizes)", async () => {
  const rng = makeRng("pool");
  for (
    const [shape, k, s, pad] of [[[2, 8, 8, 3], 2, 2, "valid"], [[2, 9, 7, 4], 2, 2, "valid"], [
      [2, 9, 7, 4],
      3,
      2,
      "same",
    ], [[1, 5, 5, 2], 2, 1, "valid"]] as const
  ) {
    const x = { shape: [...shape] as number[], data: randArray(size([...shape]), rng) };
    const [ours, ref] = await onBoth(
      [x],
      (t) => tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.maxPool(tf.relu(t) as tf.Tensor4D, k, s, pad))))(t),
    );
    assertClose(ours[0], ref[0], 1e-6, `maxPoolGrad ${shape} k${k} s${s} ${pad}`);
  }
});

Deno.test("matmul with transposed operands matches cpu", async () => {
  const rng = makeRng("matmul");
  const a = { shape: [2, 5, 3], data: randArray(30, rng) };
  const b = { shape: [2, 3, 4], data: randArray(24, rng) };
  const [ours, ref] = await onBoth([a, b], (a, b) => [
    tf.matMul(a, b),
    tf.matMul(tf.transpose(a, [0, 2, 1]), b, true, false),
    tf.matMul(a, tf.transpose(b, [0, 2, 1]), false, true),
    tf.matMul(tf.transpose(a, [0, 2, 1]), tf.transpose(b, [0, 2, 1]), true, true),
  ]);
  for (let i = 0; i < 4; i++) assertClose(ours[i], ref[i], 1e-5, `matmul variant ${i}`);
});

Deno.test("zero-copy identity keeps values independent of the source's disposal", () => {
  const a = tf.tensor([1, 2, 3]);
  const b = tf.clone(a);
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
  b.dispose();
});

Deno.test("a whole model's gradients match cpu", async () => {
  const [wasm, cpu] = await modelGradients([["wasm", stockBatchNorm], ["cpu", stockBatchNorm]]);
  assertSameGradients(wasm, cpu, "stock BN");
});

Deno.test("fused batch norm (wasm kernels and composite ops) matches the stock layer", async () => {
  const [fusedWasm, compositeCpu, stockCpu] = await modelGradients([
    ["wasm", fastBatchNorm],
    ["cpu", fastBatchNorm],
    ["cpu", stockBatchNorm],
  ]);
  assertSameGradients(fusedWasm, stockCpu, "fused BN on wasm vs stock BN on cpu");
  assertSameGradients(compositeCpu, stockCpu, "fused BN on cpu vs stock BN on cpu");
});

Deno.test("training steps on wasm leak no tensors and no heap", () => {
  const model = smallModel(3);
  const opt = tf.train.adam(1e-3);
  const x = tf.randomNormal([8, 12, 12, 1]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], "int32"), 5);
  const step = () =>
    opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
  for (let i = 0; i < 3; i++) step();
  const heapIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
  const before = { ...tf.memory(), ids: heapIds() };
  for (let i = 0; i < 30; i++) step();
  const after = { ...tf.memory(), ids: heapIds() };
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(after.ids, before.ids, "wasm buffers allocated by kernels were not all freed");
  tf.dispose([x, y]);
});
