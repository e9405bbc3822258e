/**
 * Phase 1 of transfer learning: a new head trained on cached backbone
 * features. An epoch is a few matrix products per batch, so this phase
 * takes seconds where running the backbone every epoch would take hours.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { batchBounds, batchOrder, oneHot } from "../data/batches.ts";
import type { Rng } from "../rng.ts";
import type { EpochLog } from "../train/callbacks.ts";
import { trainStep } from "../train/step.ts";
import { featureBatch, type FeatureCache } from "./features.ts";

/** Options of {@link trainHead}. */
export interface HeadOptions {
  head: tf.LayersModel;
  cache: FeatureCache;
  labels: Uint8Array;
  trainRows: Int32Array;
  valRows: Int32Array;
  epochs: number;
  batchSize: number;
  lr: number;
  rng: Rng;
  log?: (line: string) => void;
}

/** What {@link trainHead} returns. */
export interface HeadResult {
  history: EpochLog[];
  /** Epoch whose weights the head keeps (best validation accuracy). */
  bestEpoch: number;
  seconds: number;
  /** Training images per second (features already cached). */
  imagesPerSec: number;
}

/** Accuracy of `head` on cached features of `rows`. */
export async function headAccuracy(
  head: tf.LayersModel,
  cache: FeatureCache,
  labels: Uint8Array,
  rows: Int32Array,
  batchSize = 512,
): Promise<{ acc: number; loss: number }> {
  let correct = 0, loss = 0;
  for (const [s, e] of batchBounds(rows.length, batchSize)) {
    const r = tf.tidy(() => {
      const p = head.predict(featureBatch(cache, rows, s, e)) as tf.Tensor2D;
      const y = oneHot(labels, rows, s, e, p.shape[1]);
      const c = tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), "float32"));
      const l = tf.sum(tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), -1)));
      return tf.stack([c, l]);
    });
    const v = await r.data();
    r.dispose();
    correct += v[0];
    loss += v[1];
  }
  return { acc: correct / rows.length, loss: loss / rows.length };
}

/**
 * Trains `head` on the cached features with Adam; keeps the weights of the
 * epoch with the best validation accuracy (the last epoch when there are no
 * validation rows).
 */
export async function trainHead(o: HeadOptions): Promise<HeadResult> {
  const t0 = performance.now();
  const optimizer = tf.train.adam(o.lr);
  const history: EpochLog[] = [];
  let best = { acc: -1, epoch: 0, weights: [] as tf.Tensor[] };
  let trainSeconds = 0, seen = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    const order = batchOrder(o.trainRows, o.rng);
    let lossSum = 0, correct = 0;
    for (const [s, e] of batchBounds(order.length, o.batchSize)) {
      const x = featureBatch(o.cache, order, s, e);
      const y = oneHot(o.labels, order, s, e, o.head.outputs[0].shape[1] as number);
      const r = await trainStep(o.head, optimizer, x as unknown as tf.Tensor4D, y, { dropoutRng: o.rng });
      tf.dispose([x, y]);
      lossSum += r.loss * (e - s);
      correct += r.correct;
    }
    const epochTrain = (performance.now() - te) / 1000;
    trainSeconds += epochTrain;
    seen += order.length;
    const val = o.valRows.length ? await headAccuracy(o.head, o.cache, o.labels, o.valRows) : { acc: NaN, loss: NaN };
    const entry: EpochLog = {
      epoch,
      loss: lossSum / order.length,
      acc: correct / order.length,
      valLoss: val.loss,
      valAcc: val.acc,
      lr: o.lr,
      seconds: (performance.now() - te) / 1000,
      imagesPerSec: order.length / epochTrain,
    };
    history.push(entry);
    o.log?.(
      `head epoch ${epoch}/${o.epochs}  loss ${entry.loss.toFixed(4)} acc ${entry.acc.toFixed(4)}  ` +
        `val_loss ${val.loss.toFixed(4)} val_acc ${val.acc.toFixed(4)}`,
    );
    const score = Number.isFinite(val.acc) ? val.acc : epoch;
    if (score > best.acc) {
      tf.dispose(best.weights);
      best = { acc: score, epoch, weights: o.head.getWeights().map((w) => w.clone()) };
    }
  }
  o.head.setWeights(best.weights);
  tf.dispose(best.weights);
  optimizer.dispose();
  return {
    history,
    bestEpoch: best.epoch,
    seconds: (performance.now() - t0) / 1000,
    imagesPerSec: seen / trainSeconds,
  };
}
