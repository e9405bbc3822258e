/** Metric functions on hand-made cases, and model-driven evaluation. */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import {
  accuracy,
  confusionMatrix,
  evaluate,
  evaluatePredictions,
  macroF1,
  perClassMetrics,
  predictClasses,
} from "../lib/eval/metrics.ts";

await tf.setBackend("cpu");

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

// 10 samples over 3 classes, worked out by hand:
//   true 0: predicted 0,0,1     true 1: predicted 1,1,0,2     true 2: predicted 2,2,1
const yTrue = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2];
const yPred = [0, 0, 1, 1, 1, 0, 2, 2, 2, 1];

Deno.test("accuracy and confusion matrix", () => {
  close(accuracy(yTrue, yPred), 6 / 10);
  assert.deepEqual(confusionMatrix(yTrue, yPred, 3), [
    [2, 1, 0],
    [1, 2, 1],
    [0, 1, 2],
  ]);
  assert.ok(Number.isNaN(accuracy([], [])));
  assert.throws(() => accuracy([1], [1, 2]), RangeError);
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /position 1/);
});

Deno.test("per-class precision, recall, F1 and macro F1", () => {
  const per = perClassMetrics(confusionMatrix(yTrue, yPred, 3));
  // class 0: tp 2, predicted 3, support 3 → P 2/3, R 2/3
  // class 1: tp 2, predicted 4, support 4 → P 1/2, R 1/2
  // class 2: tp 2, predicted 3, support 3 → P 2/3, R 2/3
  const expect = [[2 / 3, 2 / 3, 3], [1 / 2, 1 / 2, 4], [2 / 3, 2 / 3, 3]];
  per.forEach((m, c) => {
    assert.equal(m.label, c);
    assert.equal(m.name, String(c));
    close(m.precision, expect[c][0]);
    close(m.recall, expect[c][1]);
    close(m.f1, expect[c][0]); // P = R ⇒ F1 = P
    assert.equal(m.support, expect[c][2]);
  });
  close(macroF1(confusionMatrix(yTrue, yPred, 3)), (2 / 3 + 1 / 2 + 2 / 3) / 3);

  // Unequal P and R: class 0 has tp 1, predicted 3, support 2 → P 1/3, R 1/2, F1 0.4.
  const m = perClassMetrics(confusionMatrix([0, 0, 1, 1], [0, 1, 0, 0], 2));
  close(m[0].precision, 1 / 3);
  close(m[0].recall, 1 / 2);
  close(m[0].f1, 0.4);
  // Class 1 is never predicted correctly: P = R = F1 = 0 (no NaN).
  assert.deepEqual([m[1].precision, m[1].recall, m[1].f1], [0, 0, 0]);
});

Deno.test("macro F1 skips classes absent from both truth and predictions; 7 classes get emotion names", () => {
  const ev = evaluatePredictions([0, 0, 3, 3], [0, 3, 3, 3], 7);
  // class 0: P 1, R 1/2 → F1 2/3; class 3: P 2/3, R 1 → F1 4/5; others absent.
  close(ev.macroF1, (2 / 3 + 4 / 5) / 2);
  close(ev.accuracy, 0.75);
  assert.equal(ev.n, 4);
  assert.equal(ev.perClass[3].name, "happy");
  assert.equal(ev.perClass[1].support, 0);
  assert.equal(ev.confusion[0][3], 1);
});

/** Flatten → Dense softmax scoring left-half vs right-half brightness of 2×2 images. */
function leftRightModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [2, 2, 1] }));
  m.add(tf.layers.dense({ units: 2, activation: "softmax" }));
  // pixels (r,c) row-major: 0=(0,0) 1=(0,1) 2=(1,0) 3=(1,1); left = 0,2.
  const k = [[10, -10], [-10, 10], [10, -10], [-10, 10]];
  m.setWeights([tf.tensor2d(k), tf.zeros([2])]);
  return m;
}

Deno.test("predictClasses and evaluate run the model in batches over the given rows", async () => {
  const imgs = [
    [200, 0, 200, 0], // left → 0
    [0, 200, 0, 200], // right → 1
    [255, 10, 90, 0], // left → 0
    [5, 90, 0, 80], // right → 1
    [100, 0, 100, 0], // left → 0
  ];
  const pixels = new Uint8Array(imgs.flat());
  const labels = new Uint8Array([0, 1, 1, 1, 0]); // row 2 is mislabelled on purpose
  const model = leftRightModel();
  const rows = [4, 3, 2, 1, 0, 2, 3];
  const before = tf.memory().numTensors;
  const pred = await predictClasses(model, pixels, rows, 3);
  assert.deepEqual(Array.from(pred), [0, 1, 0, 1, 0, 0, 1]);
  const ev = await evaluate(model, { pixels, labels }, rows, 2);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(ev.n, 7);
  close(ev.accuracy, 5 / 7);
  assert.deepEqual(ev.confusion, [[2, 0], [2, 3]]);
  close(ev.perClass[1].recall, 3 / 5);
  close(ev.perClass[0].precision, 2 / 4);
  assert.ok(ev.calibration.nll > 0 && ev.calibration.ece >= 0 && ev.calibration.bins.length === 15);
});
