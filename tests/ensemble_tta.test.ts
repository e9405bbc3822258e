/** Test-time augmentation views, probability averaging and model ensembles. */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { averageProbabilities, evaluateEnsemble, gatherImages, predictEnsemble } from "../lib/eval/ensemble.ts";
import { argmaxRows, predictProbabilities } from "../lib/eval/metrics.ts";
import { parseTtaMode, transformImages, TtaError, ttaViews } from "../lib/eval/tta.ts";

await tf.setBackend("cpu");

const SIDE = 4;
/** Two 4×4 images with distinct bytes: image i, pixel p holds 16i + p. */
const TWO = Uint8Array.from({ length: 2 * SIDE * SIDE }, (_, j) => j);

Deno.test("flip mirrors each row of each image, and twice is the identity", () => {
  const [, mirror] = ttaViews("flip");
  assert.equal(mirror.name, "mirror");
  const out = transformImages(TWO, SIDE, mirror);
  // first row of image 0 is 0 1 2 3 → 3 2 1 0; first row of image 1 is 16..19 → 19..16
  assert.deepEqual([...out.subarray(0, 4)], [3, 2, 1, 0]);
  assert.deepEqual([...out.subarray(16, 20)], [19, 18, 17, 16]);
  assert.deepEqual(transformImages(out, SIDE, mirror), TWO);
  assert.notStrictEqual(transformImages(TWO, SIDE, ttaViews("none")[0]), TWO, "a copy, never the input");
});

Deno.test("shifted crops move the window and replicate edge pixels", () => {
  const img = TWO.subarray(0, 16);
  const right = { name: "right1", flip: false, dx: 1, dy: 0 };
  // row 0: 0 1 2 3 → window moved right by one: 1 2 3 3 (edge repeated)
  assert.deepEqual([...transformImages(img, SIDE, right).subarray(0, 4)], [1, 2, 3, 3]);
  const down = { name: "down1", flip: false, dx: 0, dy: 1 };
  const d = transformImages(img, SIDE, down);
  assert.deepEqual([...d.subarray(0, 4)], [4, 5, 6, 7]);
  assert.deepEqual([...d.subarray(12, 16)], [12, 13, 14, 15]);
  // mirror first, then shift: mirrored row 0 is 3 2 1 0, moved right by one → 2 1 0 0
  const both = { name: "mirror+right1", flip: true, dx: 1, dy: 0 };
  assert.deepEqual([...transformImages(img, SIDE, both).subarray(0, 4)], [2, 1, 0, 0]);
  assert.throws(() => transformImages(new Uint8Array(15), SIDE, right), RangeError);
});

Deno.test("TTA modes: view lists and flag parsing", () => {
  assert.deepEqual(ttaViews("none").map((v) => v.name), ["identity"]);
  assert.deepEqual(ttaViews("flip").map((v) => v.name), ["identity", "mirror"]);
  const crops = ttaViews("crops").map((v) => v.name);
  assert.equal(crops.length, 10);
  assert.equal(new Set(crops).size, 10);
  assert.ok(crops.includes("mirror+up2") && crops.includes("left2"));
  assert.equal(parseTtaMode("crops"), "crops");
  assert.throws(() => parseTtaMode("rotate"), TtaError);
});

Deno.test("averageProbabilities is the element-wise mean and checks lengths", () => {
  const avg = averageProbabilities([Float32Array.of(0.2, 0.8), [0.6, 0.4], [0.1, 0.9]]);
  assert.ok(Math.abs(avg[0] - 0.3) < 1e-7 && Math.abs(avg[1] - 0.7) < 1e-7, String(avg));
  assert.throws(() => averageProbabilities([]), RangeError);
  assert.throws(() => averageProbabilities([[1, 0], [1]]), /part 1 holds 1/);
});

/** A softmax model over flattened 4×4 images with fixed, left-right asymmetric weights. */
function denseModel(seed: number): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [SIDE, SIDE, 1] }),
      tf.layers.dense({ units: 3, activation: "softmax" }),
    ],
  });
  const w = Float32Array.from({ length: 16 * 3 }, (_, j) => Math.sin(seed * 7 + j * 1.3) * 40);
  model.setWeights([tf.tensor2d(w, [16, 3]), tf.tensor1d([0.1 * seed, 0, -0.1])]);
  return model;
}

Deno.test("ensemble averages its models' probabilities; flip TTA averages over the true mirror", async () => {
  const a = denseModel(1);
  const b = denseModel(2);
  const rows = [1, 0];
  const pa = await predictProbabilities(a, TWO, rows, 8, SIDE);
  const pb = await predictProbabilities(b, TWO, rows, 8, SIDE);
  assert.ok(
    pa.some((p, i) => Math.abs(p - pb[i]) > 1e-3),
    "the two models must disagree for the test to mean anything",
  );
  const ens = await predictEnsemble([a, b], TWO, rows, { imageSize: SIDE });
  ens.forEach((p, i) => assert.ok(Math.abs(p - (pa[i] + pb[i]) / 2) < 1e-6, `ensemble[${i}]`));

  // The mirror made independently by tf.reverse along the width axis.
  const x = tf.tensor4d(Float32Array.from(gatherImages(TWO, rows, SIDE), (v) => v / 255), [2, SIDE, SIDE, 1]);
  const mirrored = await (a.predict(tf.reverse(x, 2)) as tf.Tensor).data();
  const withFlip = await predictEnsemble([a], TWO, rows, { imageSize: SIDE, tta: "flip" });
  assert.ok(pa.some((p, i) => Math.abs(p - mirrored[i]) > 1e-3), "the model is not mirror-symmetric");
  withFlip.forEach((p, i) => assert.ok(Math.abs(p - (pa[i] + mirrored[i]) / 2) < 1e-6, `flip TTA[${i}]`));
  x.dispose();
});

Deno.test("a mirror-symmetric model is unchanged by flip TTA", async () => {
  const model = denseModel(3);
  // Make the kernel symmetric in x: weight of (y, x) equals that of (y, 3 − x).
  const [k, bias] = model.getWeights();
  const w = await k.data() as Float32Array;
  for (let y = 0; y < SIDE; y++) {
    for (let xx = 0; xx < SIDE / 2; xx++) {
      for (let c = 0; c < 3; c++) w[(y * SIDE + SIDE - 1 - xx) * 3 + c] = w[(y * SIDE + xx) * 3 + c];
    }
  }
  model.setWeights([tf.tensor2d(w, [16, 3]), bias]);
  const plain = await predictEnsemble([model], TWO, [0, 1], { imageSize: SIDE });
  const flipped = await predictEnsemble([model], TWO, [0, 1], { imageSize: SIDE, tta: "flip" });
  plain.forEach((p, i) => assert.ok(Math.abs(p - flipped[i]) < 1e-6));
});

Deno.test("evaluateEnsemble scores the averaged probabilities and says what it averaged", async () => {
  const models = [denseModel(1), denseModel(2)];
  const data = { pixels: TWO, labels: Uint8Array.of(2, 0) };
  const probs = await predictEnsemble(models, TWO, [0, 1], { imageSize: SIDE, tta: "crops" });
  const predicted = argmaxRows(probs, 3);
  const r = await evaluateEnsemble(models, data, [0, 1], { imageSize: SIDE, tta: "crops" });
  assert.equal(r.models, 2);
  assert.equal(r.tta, "crops");
  assert.equal(r.views.length, 10);
  assert.equal(r.n, 2);
  assert.equal(r.accuracy, ((predicted[0] === 2 ? 1 : 0) + (predicted[1] === 0 ? 1 : 0)) / 2);
  const nll = -(Math.log(probs[0 * 3 + 2]) + Math.log(probs[1 * 3 + 0])) / 2;
  assert.ok(Math.abs(r.calibration.nll - nll) < 1e-6);
  await assert.rejects(() => predictEnsemble([], TWO, [0]), /at least one model/);
});
