/** NLL, ECE and reliability bins against hand-computed values. */
import assert from "node:assert/strict";
import {
  calibrate,
  expectedCalibrationError,
  negativeLogLikelihood,
  overconfidence,
  PROB_EPSILON,
  reliabilityBins,
} from "../lib/eval/calibration.ts";
import { argmaxRows, evaluateProbabilities } from "../lib/eval/metrics.ts";

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

// Four images, three classes, in float64 so that the bin edges are exact.
// Top-class confidences 0.7, 0.5, 0.9, 0.4; top classes 0, 1, 2, 0.
// deno-fmt-ignore
const probs = [
  0.7, 0.2, 0.1, // label 0: right, conf 0.7
  0.3, 0.5, 0.2, // label 0: wrong, conf 0.5
  0.05, 0.05, 0.9, // label 2: right, conf 0.9
  0.4, 0.35, 0.25, // label 1: wrong, conf 0.4
];
const labels = [0, 0, 2, 1];

Deno.test("NLL is the mean −ln p(true class), clamped at epsilon", () => {
  close(negativeLogLikelihood(probs, labels, 3), -(Math.log(0.7) + Math.log(0.3) + Math.log(0.9) + Math.log(0.35)) / 4);
  // A zero probability on the truth costs −ln(1e-7), not Infinity.
  close(negativeLogLikelihood([1, 0], [1], 2), -Math.log(PROB_EPSILON), 1e-9);
  assert.ok(Number.isNaN(negativeLogLikelihood([], [], 3)));
  assert.throws(() => negativeLogLikelihood(probs, [0, 0, 2], 3), /12 probabilities for 3 labels/);
  assert.throws(() => negativeLogLikelihood(probs, [0, 0, 3, 1], 3), /position 2: label 3/);
});

Deno.test("reliability bins and ECE with 5 bins, by hand", () => {
  // Bins of width 0.2, upper edge inclusive: 0.4 → bin 1 (0.2, 0.4]; 0.5 → bin 2; 0.7 → bin 3; 0.9 → bin 4.
  const bins = reliabilityBins(probs, labels, 3, 5);
  assert.deepEqual(bins.map((b) => b.count), [0, 1, 1, 1, 1]);
  assert.deepEqual(bins.map((b) => b.accuracy), [0, 0, 0, 1, 1]);
  close(bins[1].confidence, 0.4);
  close(bins[4].confidence, 0.9);
  close(bins[1].hi, 0.4);
  // ECE = (|0 − 0.4| + |0 − 0.5| + |1 − 0.7| + |1 − 0.9|) / 4 = 1.3 / 4
  close(expectedCalibrationError(bins), 1.3 / 4);
  // Mean confidence − accuracy = ((0.4 − 0) + (0.5 − 0) + (0.7 − 1) + (0.9 − 1)) / 4 = 0.5 / 4: overconfident.
  close(overconfidence(bins), 0.5 / 4);
});

Deno.test("overconfidence keeps the sign ECE drops: an underconfident model is negative", () => {
  // Two images at confidence 0.6, both right: ECE 0.4 either way, but the model is underconfident.
  const under = calibrate([0.6, 0.4, 0.4, 0.6], [0, 1], 2, 5);
  close(under.ece, 0.4);
  close(overconfidence(under.bins), -0.4);
  // The same confidences, both wrong: overconfident by 0.6.
  close(overconfidence(calibrate([0.6, 0.4, 0.4, 0.6], [1, 0], 2, 5).bins), 0.6);
  assert.ok(Number.isNaN(overconfidence([])));
});

Deno.test("ECE pools images that share a bin before taking the gap", () => {
  // Two images in (0.6, 0.8]: confidences 0.7 and 0.8, one right → |0.5 − 0.75| = 0.25 for the bin.
  const p = [0.7, 0.3, 0.2, 0.8];
  const c = calibrate(p, [0, 0], 2, 5);
  close(c.ece, 0.25);
  assert.equal(c.bins[3].count, 2);
  // A confidence of exactly 1 lands in the last bin; of exactly 0.2 in the first.
  assert.equal(reliabilityBins([1, 0], [0], 2, 5)[4].count, 1);
  assert.equal(reliabilityBins([0.2, 0.2, 0.2, 0.2, 0.2], [0], 5, 5)[0].count, 1);
  assert.ok(Number.isNaN(calibrate([], [], 2).ece));
  assert.equal(calibrate(p, [0, 0], 2).bins.length, 15);
});

Deno.test("evaluateProbabilities scores the argmax and carries the calibration", () => {
  assert.deepEqual(Array.from(argmaxRows(probs, 3)), [0, 1, 2, 0]);
  assert.deepEqual(Array.from(argmaxRows([0.5, 0.5], 2)), [0]); // ties go to the first class
  const ev = evaluateProbabilities(labels, probs, 3);
  close(ev.accuracy, 0.5);
  assert.deepEqual(ev.confusion, [[1, 1, 0], [1, 0, 0], [0, 0, 1]]);
  close(ev.calibration.nll, negativeLogLikelihood(probs, labels, 3));
});
