/**
 * Validation loss and accuracy in inference mode, batch by batch, with the
 * same loss (and label smoothing) the training step uses, as Keras does.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { batchBounds, oneHot, toImageTensor, type TrainData } from "../data/batches.ts";
import { fitToInput } from "../data/crops.ts";
import { inputSide } from "../models/input_spec.ts";
import { crossEntropy, type OutputKind, outputKind } from "./step.ts";

/** Options of {@link evaluateLoss}. */
export interface EvalLossOptions {
  /** Images per forward pass. */
  batchSize: number;
  /** Side of the stored images (a model with a smaller input sees their centre crop). */
  imageSize: number;
  /** Number of classes. */
  numClasses: number;
  /** Output kind (default: detected). */
  kind?: OutputKind;
  /** Label smoothing, as in training (Keras applies it to val_loss too). */
  labelSmoothing?: number;
}

/** Mean loss and accuracy over `rows`, in inference mode, batch by batch. */
export async function evaluateLoss(
  model: tf.LayersModel,
  data: TrainData,
  rows: ArrayLike<number>,
  opts: EvalLossOptions,
): Promise<{ loss: number; acc: number }> {
  if (rows.length === 0) return { loss: NaN, acc: NaN };
  const kind = opts.kind ?? outputKind(model);
  const side = inputSide(model);
  let lossSum = 0;
  let correct = 0;
  for (const [s, e] of batchBounds(rows.length, opts.batchSize)) {
    const stats = tf.tidy(() => {
      const x = fitToInput(toImageTensor(data.pixels, rows, s, e, opts.imageSize), side);
      const y = oneHot(data.labels, rows, s, e, opts.numClasses);
      const p = model.predict(x) as tf.Tensor2D;
      const l = tf.mul(crossEntropy(y, p, kind, opts.labelSmoothing ?? 0), e - s);
      const c = tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), "float32"));
      return tf.stack([l, c]);
    });
    const v = await stats.data();
    stats.dispose();
    lossSum += v[0];
    correct += v[1];
  }
  return { loss: lossSum / rows.length, acc: correct / rows.length };
}
