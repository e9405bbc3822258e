/**
 * The literature's ten-crop for models trained on crops: the views' pixels
 * checked by hand on a tiny image, and an ensemble that shows a crop model its
 * own views (and weighs it as one model beside a whole-image model).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { evaluateEnsemble, predictEnsemble } from "../lib/eval/ensemble.ts";
import { predictProbabilities } from "../lib/eval/metrics.ts";
import { transformImages, TtaError, ttaViews, type View } from "../lib/eval/tta.ts";
import { setModelInput } from "../lib/models/input_spec.ts";

await tf.setBackend("cpu");

/** One 6×6 image whose pixel (row r, column c) holds 6r + c. */
const IMAGE = Uint8Array.from({ length: 36 }, (_, j) => j);
const SIZES = { imageSize: 6, inputSize: 4 };

/** The 4×4 output of view `name` as rows of numbers. */
function crop(name: string): number[][] {
  const v = ttaViews("crops", SIZES).find((w) => w.name === name);
  assert.ok(v, `no view ${name}`);
  const out = transformImages(IMAGE, 6, v);
  assert.equal(out.length, 16);
  return [0, 1, 2, 3].map((r) => [...out.subarray(4 * r, 4 * r + 4)]);
}

Deno.test("ten-crop: the four corners and the centre at the crop size, each also of the mirrored image", () => {
  const names = ttaViews("crops", SIZES).map((v) => v.name);
  assert.deepEqual(names, [
    "centre",
    "top-left",
    "top-right",
    "bottom-left",
    "bottom-right",
    "mirror+centre",
    "mirror+top-left",
    "mirror+top-right",
    "mirror+bottom-left",
    "mirror+bottom-right",
  ]);
  assert.deepEqual(crop("top-left"), [[0, 1, 2, 3], [6, 7, 8, 9], [12, 13, 14, 15], [18, 19, 20, 21]]);
  assert.deepEqual(crop("top-right"), [[2, 3, 4, 5], [8, 9, 10, 11], [14, 15, 16, 17], [20, 21, 22, 23]]);
  assert.deepEqual(crop("bottom-left"), [[12, 13, 14, 15], [18, 19, 20, 21], [24, 25, 26, 27], [30, 31, 32, 33]]);
  assert.deepEqual(crop("bottom-right"), [[14, 15, 16, 17], [20, 21, 22, 23], [26, 27, 28, 29], [32, 33, 34, 35]]);
  assert.deepEqual(crop("centre"), [[7, 8, 9, 10], [13, 14, 15, 16], [19, 20, 21, 22], [25, 26, 27, 28]]);
  // The mirrored image's row 1 reads 11 10 9 8 7 6; its centre crop is the centre crop mirrored.
  assert.deepEqual(crop("mirror+centre"), [[10, 9, 8, 7], [16, 15, 14, 13], [22, 21, 20, 19], [28, 27, 26, 25]]);
  // The mirrored image's top-left corner is the original's top-right corner, mirrored.
  assert.deepEqual(crop("mirror+top-left"), crop("top-right").map((row) => row.toReversed()));
  assert.deepEqual(crop("mirror+bottom-right"), crop("bottom-left").map((row) => row.toReversed()));
});

Deno.test("a crop model's none and flip are the centre crop and its mirror; a crop that cannot be centred is refused", () => {
  assert.deepEqual(ttaViews("none", SIZES).map((v) => v.name), ["centre"]);
  assert.deepEqual(ttaViews("flip", SIZES).map((v) => v.name), ["centre", "mirror+centre"]);
  // Whole-image models keep their views.
  assert.deepEqual(ttaViews("flip", { imageSize: 6, inputSize: 6 }).map((v) => v.name), ["identity", "mirror"]);
  assert.throws(() => ttaViews("crops", { imageSize: 6, inputSize: 3 }), TtaError);
  assert.throws(() => ttaViews("none", { imageSize: 4, inputSize: 6 }), /cannot be centred/);
});

/** A softmax model over flattened `side`×`side` images with fixed, left-right asymmetric weights. */
function denseModel(side: number, seed: number): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [side, side, 1] }),
      tf.layers.dense({ units: 3, activation: "softmax" }),
    ],
  });
  const n = side * side;
  const w = Float32Array.from({ length: n * 3 }, (_, j) => Math.sin(seed * 7 + j * 1.3) * 20);
  model.setWeights([tf.tensor2d(w, [n, 3]), tf.tensor1d([0.1 * seed, 0, -0.1])]);
  return model;
}

/** Probabilities of `model` on one view of each of `images`. */
async function onView(model: tf.LayersModel, images: Uint8Array, v: View, count: number): Promise<Float32Array> {
  const shown = transformImages(images, 6, v);
  return await predictProbabilities(model, shown, [...Array(count).keys()], 8, v.size ?? 6);
}

Deno.test("an ensemble shows a crop model its own views and weighs it as one model", async () => {
  const images = Uint8Array.from({ length: 72 }, (_, j) => (j * 37) % 256); // two 6×6 images
  const cropModel = denseModel(4, 1);
  setModelInput(cropModel, { imageSize: 6, inputSize: 4, tta: "crops" });
  const whole = denseModel(6, 2);
  const rows = [1, 0];
  const swap = (p: Float32Array) => Float32Array.from([...p.subarray(3, 6), ...p.subarray(0, 3)]);

  // auto: the crop model's own ten-crop, averaged view by view
  const views = ttaViews("crops", SIZES);
  const perView = await Promise.all(views.map((v) => onView(cropModel, images, v, 2)));
  const tenCrop = Float32Array.from({ length: 6 }, (_, j) => perView.reduce((a, p) => a + p[j], 0) / 10);
  const auto = await predictEnsemble([cropModel], images, rows, { tta: "auto", imageSize: 6 });
  auto.forEach((p, j) => assert.ok(Math.abs(p - swap(tenCrop)[j]) < 1e-6, `ten-crop[${j}]`));
  assert.ok(
    perView.some((p) => p.some((x, j) => Math.abs(x - perView[0][j]) > 1e-3)),
    "the views must differ for the test to mean anything",
  );

  // none: the centre crop, which is also what plain prediction of the stored images gives
  const centre = await onView(cropModel, images, views[0], 2);
  const plain = await predictProbabilities(cropModel, images, [0, 1], 8);
  const none = await predictEnsemble([cropModel], images, rows, { imageSize: 6 });
  none.forEach((p, j) => assert.ok(Math.abs(p - swap(centre)[j]) < 1e-6, `centre[${j}]`));
  plain.forEach((p, j) => assert.ok(Math.abs(p - centre[j]) < 1e-6, `plain[${j}]`));

  // beside a whole-image model, each model's views are averaged first: (whole + mean of the ten crops) / 2
  const w = await predictProbabilities(whole, images, rows, 8, 6);
  const both = await predictEnsemble([whole, cropModel], images, rows, { tta: "auto", imageSize: 6 });
  both.forEach((p, j) => assert.ok(Math.abs(p - (w[j] + auto[j]) / 2) < 1e-6, `mixed[${j}]`));
  const r = await evaluateEnsemble([whole, cropModel], { pixels: images, labels: Uint8Array.of(0, 2) }, rows, {
    tta: "auto",
    imageSize: 6,
  });
  assert.equal(r.tta, "auto", "the members' modes differ");
  assert.deepEqual(r.members.map((m) => [m.inputSize, m.tta, m.views.length]), [[6, "none", 1], [4, "crops", 10]]);

  // a crop model cannot be fed images of another size
  await assert.rejects(
    () => predictEnsemble([cropModel], IMAGE.subarray(0, 16), [0], { imageSize: 4 }),
    /takes 4×4 crops of 6×6 images, but the data holds 4×4 images/,
  );
});
