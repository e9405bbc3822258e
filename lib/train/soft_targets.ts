/**
 * Knowledge distillation's targets (Hinton et al., 2015): each training image's
 * one-hot label mixed with a teacher's distribution over the classes for that
 * image, `w·teacher + (1−w)·one-hot`, so the student learns which wrong
 * classes are near misses (fear looks like surprise, not like happy) as well as
 * the right one.
 *
 * The teacher's distributions are computed once per image, before training
 * (see `lib/distil/`), not per augmented view: running the teachers on every
 * batch would cost more than the student's own step. The cross-entropy
 * against these targets is the one the loop already uses for label smoothing
 * and mixup, which are soft targets too.
 *
 * @example
 * ```ts
 * const soft: SoftTargets = { probs, weight: 0.7, id: "05+06:auto" }; // probs: n × 7, one row per image
 * const y = mixTargets(oneHot(labels, order, s, e), soft, order, s, e);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** A teacher's distribution for every image of the data, and how much of the target it makes. */
export interface SoftTargets {
  /** `n × K` probabilities, row-major, one row per image of the data (rows never trained on may hold anything). */
  probs: Float32Array;
  /** The teacher's share of each target, in [0, 1]: `weight·teacher + (1−weight)·one-hot`. */
  weight: number;
  /** What the probabilities are (e.g. a hash of the teachers and the data): a checkpoint refuses to resume on others. */
  id: string;
}

/** Refuses soft targets that do not fit `n` images of `k` classes or do not sum to one. */
export function checkSoftTargets(soft: SoftTargets, rows: ArrayLike<number>, k: number): void {
  if (!(soft.weight >= 0 && soft.weight <= 1)) {
    throw new RangeError(`soft-target weight must be in [0, 1], got ${soft.weight}`);
  }
  if (soft.probs.length % k !== 0) {
    throw new RangeError(`soft targets hold ${soft.probs.length} values, not rows of ${k}`);
  }
  const n = soft.probs.length / k;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r >= n) throw new RangeError(`training row ${r} has no soft target (there are ${n})`);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += soft.probs[r * k + j];
    if (!(Math.abs(sum - 1) < 1e-3)) {
      throw new RangeError(`soft target of training row ${r} sums to ${sum.toFixed(3)}, not 1`);
    }
  }
}

/** `weight·teacher[rows[start..end)] + (1−weight)·oneHot`, as float32 `[b, K]`. */
export function mixTargets(
  oneHot: tf.Tensor2D,
  soft: SoftTargets,
  rows: ArrayLike<number>,
  start: number,
  end: number,
): tf.Tensor2D {
  const k = oneHot.shape[1];
  const teacher = new Float32Array((end - start) * k);
  for (let i = start; i < end; i++) teacher.set(soft.probs.subarray(rows[i] * k, (rows[i] + 1) * k), (i - start) * k);
  return tf.tidy(() =>
    tf.add(tf.mul(tf.tensor2d(teacher, [end - start, k]), soft.weight), tf.mul(oneHot, 1 - soft.weight)) as tf.Tensor2D
  );
}
