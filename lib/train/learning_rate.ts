/**
 * Reading and setting an optimizer's learning rate, which tfjs keeps in
 * different places per optimizer class.
 *
 * @example
 * ```ts
 * const opt = tf.train.adam(1e-3);
 * setLearningRate(opt, getLearningRate(opt) / 2);
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** Reads an optimizer's learning rate (Adam, SGD, RMSProp, … keep it in `learningRate`). */
export function getLearningRate(optimizer: tf.Optimizer): number {
  const lr = (optimizer as unknown as { learningRate?: unknown }).learningRate;
  if (typeof lr !== "number") {
    throw new Error(`cannot read the learning rate of ${optimizer.getClassName()}`);
  }
  return lr;
}

/**
 * Sets an optimizer's learning rate so that the next step uses it. Adam &
 * co. read `learningRate` at every step; SGD/Momentum cache it in a tensor
 * that only `setLearningRate` refreshes.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as {
    learningRate?: unknown;
    setLearningRate?: (lr: number) => void;
  };
  if (typeof o.setLearningRate === "function") o.setLearningRate(lr);
  else if (typeof o.learningRate === "number") o.learningRate = lr;
  else throw new Error(`cannot set the learning rate of ${optimizer.getClassName()}`);
}
