/**
 * The training mechanics experiment 05 adds, on the pure-JS cpu backend with
 * a tiny left/right task: a per-step learning-rate schedule, resuming in the
 * middle of it, PyTorch-style weight decay with Nesterov momentum, and flip TTA.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { makeRng } from "../lib/rng.ts";
import { buildDeep } from "../lib/models/deep.ts";
import { train, type TrainOptions } from "../lib/train/loop.ts";
import { getLearningRate } from "../lib/train/learning_rate.ts";
import { oneCycle } from "../lib/train/lr_schedule.ts";
import { trainStep } from "../lib/train/step.ts";
import { addWeightDecay, WeightDecayError } from "../lib/train/weight_decay.ts";
import { evaluateWithFlip } from "../lib/budget/by_usage.ts";
import { gatherImages } from "../lib/eval/ensemble.ts";
import { transformImages, ttaViews } from "../lib/eval/tta.ts";
import { leftRightImages } from "./helpers/left_right.ts";

await tf.setBackend("cpu");

const SIZE = 8;

const leftRight = (n: number, seed: number) => leftRightImages(n, seed, { size: SIZE });

/** `rows` of square `side × side` images, each mirrored left–right by eval's flip view. */
const mirroredImages = (pixels: Uint8Array, rows: ArrayLike<number>, side: number) =>
  transformImages(gatherImages(pixels, rows, side), side, ttaViews("flip")[1]);

const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);

/** Experiment 05's architecture, shrunk: 2 stages × 2 convs of 4 and 8 filters, GAP, head dropout. */
const tinyVgg = (seed = 1) =>
  buildDeep({
    filters: [4, 8],
    convsPerBlock: 2,
    leakyAlpha: 0,
    dropout: [0, 0],
    head: "globalAverage",
    headDropout: 0.25,
    dense: [],
    inputSize: SIZE,
    numClasses: 2,
    seed,
  });

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => w.dataSync() as Float32Array);
function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

/** 3 epochs × 5 steps of batch 16 on a one-cycle schedule, Nesterov SGD with weight decay. */
function scheduledOptions(model: tf.LayersModel, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model,
    optimizer: tf.train.momentum(0.05, 0.9, true),
    data: leftRight(100, 7),
    trainRows: range(0, 80),
    valRows: range(80, 100),
    epochs: 3,
    batchSize: 16,
    labelSmoothing: 0.1,
    weightDecay: 5e-4,
    lrSchedule: oneCycle({ peak: 0.05, totalSteps: 15 }),
    augment: (x, rng) => (rng.next() < 0.5 ? tf.reverse(x, 2) : x),
    rng: makeRng(11),
    bnRecalibrationRows: 32,
    progress: false,
    log: () => {},
    ...extra,
  };
}

Deno.test("a per-step schedule sets every step's rate and ends at its final value", async () => {
  const schedule = oneCycle({ peak: 0.05, totalSteps: 15 });
  const opts = scheduledOptions(tinyVgg());
  const res = await train(opts);
  // Each epoch logs the rate of its first step: global steps 0, 5 and 10.
  assert.deepEqual(res.history.map((h) => h.lr), [schedule(0), schedule(5), schedule(10)]);
  assert.equal(getLearningRate(opts.optimizer), schedule(14));
  assert.ok(Math.abs(schedule(14) - 0.05 / 25 / 1e4) < 1e-12 && res.history[1].lr > res.history[2].lr);
  assert.ok(res.history.every((h) => Number.isFinite(h.loss)));
});

Deno.test("resuming in the middle of a scheduled run equals the uninterrupted run", async () => {
  const dirA = await Deno.makeTempDir();
  const dirB = await Deno.makeTempDir();
  try {
    const straightModel = tinyVgg(5);
    const straight = await train(scheduledOptions(straightModel, { checkpoint: { dir: dirA } }));
    // Cut short after epoch 1 (of 3) — mid-warm-up — then resumed by a fresh process-like setup.
    const cut = await train(scheduledOptions(tinyVgg(5), { checkpoint: { dir: dirB }, maxSeconds: 0 }));
    assert.equal(cut.cutShort, true);
    assert.equal(cut.history.length, 1);
    const resumedModel = tinyVgg(5);
    const opts = scheduledOptions(resumedModel, { checkpoint: { dir: dirB }, resume: true });
    const resumed = await train(opts);
    assert.equal(resumed.resumedFrom, 1);
    assert.deepEqual(resumed.history.map((h) => h.lr), straight.history.map((h) => h.lr));
    const diff = maxAbsDiff(weightsOf(straightModel), weightsOf(resumedModel));
    assert.ok(diff <= 1e-6, `weights differ by ${diff}`);
    assert.equal(getLearningRate(opts.optimizer), oneCycle({ peak: 0.05, totalSteps: 15 })(14));
    // Not vacuous: without the schedule the same run ends elsewhere.
    const flat = tinyVgg(5);
    await train(scheduledOptions(flat, { lrSchedule: undefined }));
    assert.ok(maxAbsDiff(weightsOf(flat), weightsOf(straightModel)) > 1e-3);
  } finally {
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  }
});

Deno.test("weight decay adds λ·w to each gradient, by name", () => {
  const w = tf.variable(tf.tensor1d([1, -2, 4]), true, "wd_test_w");
  const g = tf.tensor1d([0.5, 0.5, 0.5]);
  const [out] = addWeightDecay([{ name: w.name, tensor: g }], 0.1);
  assert.deepEqual(Array.from(out.tensor.dataSync()).map((v) => +v.toFixed(6)), [0.6, 0.3, 0.9]);
  assert.throws(() => addWeightDecay([{ name: "no_such_variable", tensor: g }], 0.1), WeightDecayError);
  assert.throws(() => addWeightDecay([{ name: w.name, tensor: g }], -1), /weight decay must be/);
  tf.dispose([w, g, out.tensor]);
});

Deno.test("Nesterov SGD with weight decay follows PyTorch's update, by hand", () => {
  // PyTorch: d = g + λw; buf = m·buf + d; w ← w − lr·(d + m·buf). Loss ½w² so g = w.
  const [lr, m, lambda] = [0.1, 0.9, 0.5];
  const w = tf.variable(tf.scalar(2), true, "nesterov_test_w");
  const opt = tf.train.momentum(lr, m, true);
  let [ref, buf] = [2, 0];
  for (let step = 0; step < 3; step++) {
    const g = tf.scalar(w.dataSync()[0]);
    const grads = addWeightDecay([{ name: w.name, tensor: g }], lambda);
    opt.applyGradients(grads);
    tf.dispose([g, grads[0].tensor]);
    const d = ref + lambda * ref;
    buf = m * buf + d;
    ref -= lr * (d + m * buf);
    assert.ok(Math.abs(w.dataSync()[0] - ref) < 1e-6, `step ${step}: ${w.dataSync()[0]} vs ${ref}`);
  }
  opt.dispose();
  w.dispose();
});

Deno.test("trainStep's weightDecay shrinks the weights by exactly lr·λ·w under plain SGD", async () => {
  const data = leftRight(16, 3);
  const x = tf.tensor4d(Float32Array.from(data.pixels, (v) => v / 255), [16, SIZE, SIZE, 1]);
  const y = tf.oneHot(tf.tensor1d(data.labels, "int32"), 2).toFloat() as tf.Tensor2D;
  const noDropout = () => buildDeep({ ...tinyVggConfig, headDropout: 0, seed: 9 });
  const [a, b] = [noDropout(), noDropout()];
  const w0 = weightsOf(a);
  await trainStep(a, tf.train.sgd(0.1), x, y);
  await trainStep(b, tf.train.sgd(0.1), x, y, { weightDecay: 0.01 });
  // Trainable weights differ by −lr·λ·w0; batch-norm moving statistics (not trainable) agree.
  const trainable = new Set(a.trainableWeights.map((t) => t.originalName));
  a.weights.forEach((v, i) => {
    const [wa, wb] = [weightsOf(a)[i], weightsOf(b)[i]];
    for (let j = 0; j < wa.length; j++) {
      const want = trainable.has(v.originalName) ? -0.1 * 0.01 * w0[i][j] : 0;
      assert.ok(Math.abs(wb[j] - wa[j] - want) < 1e-6, `${v.originalName}[${j}]`);
    }
  });
  tf.dispose([x, y]);
});

const tinyVggConfig = {
  filters: [4, 8],
  convsPerBlock: 2,
  leakyAlpha: 0,
  dropout: [0, 0],
  head: "globalAverage" as const,
  dense: [],
  inputSize: SIZE,
  numClasses: 2,
};

Deno.test("flip TTA averages the probabilities of each image and its mirror", async () => {
  // Mirroring is exact and involutive.
  const px = Uint8Array.from({ length: 2 * 9 }, (_, i) => i);
  assert.deepEqual(Array.from(mirroredImages(px, [1], 3)), [11, 10, 9, 14, 13, 12, 17, 16, 15]);
  assert.deepEqual(mirroredImages(mirroredImages(px, [0, 1], 3), [0, 1], 3), px);
  // By hand: the mean of the model's probabilities on the batch and on the batch reversed along the width.
  const data = leftRight(20, 4);
  const model = buildDeep({ ...tinyVggConfig, seed: 2 });
  const rows = range(0, 20);
  const { plain, flip } = await evaluateWithFlip(model, data, rows);
  const x = tf.tensor4d(Float32Array.from(data.pixels, (v) => v / 255), [20, SIZE, SIZE, 1]);
  const p1 = (model.predict(x) as tf.Tensor2D).arraySync();
  const p2 = (model.predict(tf.reverse(x, 2)) as tf.Tensor2D).arraySync();
  const nll = (p: number[][]) => -p.reduce((a, r, i) => a + Math.log(r[data.labels[i]]), 0) / p.length;
  const mean = p1.map((r, i) => r.map((v, j) => (v + p2[i][j]) / 2));
  assert.ok(Math.abs(plain.calibration.nll - nll(p1)) < 1e-5);
  assert.ok(Math.abs(flip.calibration.nll - nll(mean)) < 1e-5, `${flip.calibration.nll} vs ${nll(mean)}`);
  // Not vacuous: the mirror images really change this model's predictions.
  assert.ok(Math.abs(nll(p1) - nll(p2)) > 1e-4);
  const argmax = (r: number[]) => r.indexOf(Math.max(...r));
  assert.equal(flip.accuracy, mean.filter((r, i) => argmax(r) === data.labels[i]).length / 20);
  x.dispose();
  model.dispose();
});
