/**
 * Re-estimates batch-norm population statistics from training images.
 *
 * Keras-style moving averages (momentum 0.99) start at mean 0 / variance 1
 * and need several hundred steps to forget that start. On 48×48 inputs in
 * [0, 1] the first conv's true variance is ~1e-3, so after a short run the
 * moving variance is still hundreds of times too large and the model, in
 * inference mode, predicts a single class while its training accuracy climbs.
 * Recomputing the statistics as a plain average over a fixed sample of
 * training images (dropout off), as PyTorch's `update_bn` does, makes
 * inference match training from the first epoch. Training itself is unchanged:
 * batch norm trains on batch statistics either way.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { batchBounds, toImageTensor } from "../data/batches.ts";
import { fitToInput } from "../data/crops.ts";
import { inputSide } from "../models/input_spec.ts";

// deno-lint-ignore no-explicit-any
type Internals = any;

/** Evenly spaced `n` rows of `rows` (all of them when there are fewer). */
export function sampleRows(rows: Int32Array, n: number): Int32Array {
  if (rows.length <= n) return rows;
  const step = rows.length / n;
  return Int32Array.from({ length: n }, (_, i) => rows[Math.floor(i * step)]);
}

/**
 * Sets every BatchNormalization layer's moving mean and variance to the
 * average of its batch statistics over `rows` (in batches of `batchSize`),
 * on the images as inference shows them (the centre crop, for a model whose
 * input is smaller than the stored `imageSize`). Returns the number of
 * batch-norm layers updated.
 */
export function recalibrateBatchNorm(
  model: tf.LayersModel,
  data: { pixels: Uint8Array },
  rows: Int32Array,
  opts: { batchSize: number; imageSize: number },
): number {
  const bns = model.layers.filter((l) => l.getClassName() === "BatchNormalization") as Internals[];
  if (bns.length === 0 || rows.length === 0) return 0;
  const drops = model.layers.filter((l) => l.getClassName() === "Dropout") as Internals[];
  const rates = drops.map((d) => d.rate);
  const momenta = bns.map((b) => b.momentum);
  const side = inputSide(model);
  try {
    for (const d of drops) d.rate = 0;
    let k = 0;
    for (const [s, e] of batchBounds(rows.length, opts.batchSize)) {
      k++;
      // momentum 1 − 1/k turns the moving average into the running mean of batch statistics
      for (const b of bns) b.momentum = 1 - 1 / k;
      tf.tidy(() => {
        model.apply(fitToInput(toImageTensor(data.pixels, rows, s, e, opts.imageSize), side), { training: true });
      });
    }
  } finally {
    drops.forEach((d, i) => (d.rate = rates[i]));
    bns.forEach((b, i) => (b.momentum = momenta[i]));
  }
  return bns.length;
}
