/**
 * Test-time augmentation by horizontal flip: the class probabilities of each
 * image and of its mirror image, averaged. Kept here, small and local to the
 * budget experiment, until lib/eval grows a general TTA.
 *
 * @example
 * ```ts
 * const { plain, flip } = await evaluateWithFlip(model, data, split.test);
 * console.log(plain.accuracy, flip.accuracy);
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { evaluateProbabilities, predictProbabilities, type ProbabilisticEvaluation } from "../eval/metrics.ts";
import { modelInput } from "../models/input_spec.ts";

/** `rows` of a square `side × side` byte store, each mirrored left–right, as a new store of `rows.length` images. */
export function mirroredImages(pixels: Uint8Array, rows: ArrayLike<number>, side: number): Uint8Array {
  const px = side * side;
  const out = new Uint8Array(rows.length * px);
  for (let i = 0; i < rows.length; i++) {
    const src = rows[i] * px;
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) out[i * px + r * side + c] = pixels[src + r * side + side - 1 - c];
    }
  }
  return out;
}

/**
 * The model scored on `rows` as it is and with flip TTA (probabilities of
 * image and mirror averaged); a model trained on crops sees the centre crop
 * of each.
 */
export async function evaluateWithFlip(
  model: tf.LayersModel,
  data: { pixels: Uint8Array; labels: Uint8Array },
  rows: ArrayLike<number>,
): Promise<{ plain: ProbabilisticEvaluation; flip: ProbabilisticEvaluation }> {
  const side = modelInput(model).imageSize;
  const k = model.outputs[0].shape.at(-1)!;
  const truth = Int32Array.from({ length: rows.length }, (_, i) => data.labels[rows[i]]);
  const probs = await predictProbabilities(model, data.pixels, rows, 256, side);
  const order = Int32Array.from({ length: rows.length }, (_, i) => i);
  const mirrored = await predictProbabilities(model, mirroredImages(data.pixels, rows, side), order, 256, side);
  const mean = probs.map((p, i) => (p + mirrored[i]) / 2);
  return { plain: evaluateProbabilities(truth, probs, k), flip: evaluateProbabilities(truth, mean, k) };
}
