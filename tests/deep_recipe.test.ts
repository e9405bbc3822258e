/**
 * Experiment 03's training recipe in the real loop, shrunk to 12×12 images on
 * the cpu backend: ReduceLROnPlateau and EarlyStopping on validation accuracy,
 * label smoothing, strong augmentation, the GAP/LeakyReLU deep model — the LR
 * drops when Keras' rule says it must, the best epoch's weights come back,
 * and an interrupted run resumes to exactly the uninterrupted one.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { augmentBatch, augmentPreset } from "../lib/data/augment.ts";
import { buildDeep } from "../lib/models/deep.ts";
import { makeRng, type Rng } from "../lib/rng.ts";
import { EarlyStopping, isImprovement, ReduceLROnPlateau } from "../lib/train/callbacks.ts";
import { train, type TrainOptions } from "../lib/train/loop.ts";
import { evaluateLoss } from "../lib/train/validate.ts";
import { leftRightImages } from "./helpers/left_right.ts";

await tf.setBackend("cpu");

const SIZE = 12;

/** Heavy noise, so validation accuracy wanders. */
const leftRight = (n: number, seed: number) =>
  leftRightImages(n, seed, { size: SIZE, bright: 140, dark: 110, noise: 120 });

const tinyDeep = () =>
  buildDeep({
    filters: [4, 8],
    convsPerBlock: 1,
    leakyAlpha: 0.1,
    dropout: [0.1, 0.2],
    head: "globalAverage",
    dense: [8],
    denseDropout: 0.5,
    inputSize: SIZE,
    numClasses: 2,
    seed: 5,
  });

const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
const strong = augmentPreset("strong");

function options(model: tf.LayersModel, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model,
    optimizer: tf.train.adam(0.02),
    data: leftRight(96, 3),
    trainRows: range(0, 64),
    valRows: range(64, 96),
    epochs: 8,
    batchSize: 16,
    labelSmoothing: 0.1,
    augment: (x: tf.Tensor4D, rng: Rng) => augmentBatch(x, strong, rng),
    rng: makeRng(21),
    progress: false,
    log: () => {},
    ...extra,
  };
}

const recipe = () => [
  new ReduceLROnPlateau({ monitor: "valAcc", factor: 0.5, patience: 1, minDelta: 0 }),
  new EarlyStopping({ monitor: "valAcc", patience: 3, restoreBestWeights: true }),
];

Deno.test("03's recipe: the LR halves exactly when val accuracy stalls, and the best epoch's weights come back", async () => {
  const model = tinyDeep();
  const res = await train(options(model, { callbacks: recipe() }));
  const h = res.history;
  // Replay Keras' rule on the recorded val accuracies: which epochs must have a lower LR than the one before?
  let best: number | null = null;
  let wait = 0;
  const expected: number[] = [0.02];
  for (const e of h.slice(0, -1)) {
    let lr = expected.at(-1)!;
    if (isImprovement(e.valAcc, best, "max", 0)) [best, wait] = [e.valAcc, 0];
    else if (++wait >= 1) [lr, wait] = [lr * 0.5, 0];
    expected.push(lr);
  }
  assert.deepEqual(h.map((e) => e.lr), expected);
  assert.ok(expected.some((lr) => lr < 0.02), "the plateau rule acted in this run");
  // The model handed back is the best epoch's: its val accuracy is the best recorded one.
  const bestAcc = Math.max(...h.map((e) => e.valAcc));
  const data = leftRight(96, 3);
  const now = await evaluateLoss(model, data, range(64, 96), { batchSize: 16, imageSize: SIZE, numClasses: 2 });
  assert.equal(now.acc, bestAcc);
});

Deno.test("03's recipe resumes after an interruption to exactly the uninterrupted run", async () => {
  const [dirA, dirB] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    const run = async (epochs: number, dir: string, resume: boolean) => {
      const model = tinyDeep();
      const res = await train(options(model, { epochs, callbacks: recipe(), checkpoint: { dir }, resume }));
      return { res, weights: model.getWeights().map((w) => Array.from(w.dataSync())) };
    };
    const straight = await run(6, dirA, false);
    await run(3, dirB, false);
    const resumed = await run(6, dirB, true);
    assert.equal(resumed.res.resumedFrom, 3);
    const strip = (r: typeof straight) => r.res.history.map((e) => [e.loss, e.valAcc, e.lr]);
    assert.deepEqual(strip(resumed), strip(straight));
    assert.deepEqual(resumed.weights, straight.weights);
  } finally {
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  }
});
