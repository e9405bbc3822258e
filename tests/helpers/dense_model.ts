/**
 * The smallest model a report can hold: a seeded softmax layer over the
 * flattened grayscale input, for tests of what is done with saved models
 * (ensembles, result files), not of what a model learns.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** A softmax model over the flattened `side`-pixel grayscale input, with seeded weights. */
export function denseModel(side: number, seed: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [side, side, 1] }),
      tf.layers.dense({
        units: 7,
        activation: "softmax",
        kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.05, seed }),
      }),
    ],
  });
}
