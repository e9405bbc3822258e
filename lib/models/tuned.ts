/**
 * The study's tuned model (experiment 02): three conv blocks (3×3 "same"
 * conv → optional batch norm → ReLU → 2×2 max-pool → dropout), global
 * average pooling instead of Flatten, a ReLU dense layer with dropout, and
 * a softmax. Every size and rate is a hyper-parameter the tuner chooses.
 *
 * @example
 * ```ts
 * const model = buildTuned({ filters: [32, 64, 128], convDropout: 0.2, dense: 256, denseDropout: 0.3,
 *   batchNorm: true, seed: 42 });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkPoolable, kernelInitializer, seedStream } from "./common.ts";
import { batchNormalization } from "./batch_norm.ts";

/** Hyper-parameters of {@link buildTuned}. */
export interface TunedConfig {
  /** Conv filters of each block. */
  filters: number[];
  /** Dropout after every block. */
  convDropout: number;
  /** Units of the dense layer after pooling. */
  dense: number;
  /** Dropout after the dense layer. */
  denseDropout: number;
  /** Batch norm after every conv (its shift replaces the conv's bias). */
  batchNorm: boolean;
  /** Seed of every kernel initializer. */
  seed: number;
  /** Side of the square grayscale input (default 48). */
  inputSize?: number;
  /** Classes (default 7). */
  numClasses?: number;
}

/** Builds the tuned CNN. */
export function buildTuned(cfg: TunedConfig): tf.Sequential {
  const inputSize = cfg.inputSize ?? 48;
  checkPoolable(inputSize, cfg.filters.length);
  const seeds = seedStream(cfg.seed, "tuned");
  const model = tf.sequential({ name: "tuned" });
  cfg.filters.forEach((filters, i) => {
    const b = `block${i + 1}`;
    model.add(tf.layers.conv2d({
      name: `${b}_conv`,
      ...(i === 0 ? { inputShape: [inputSize, inputSize, 1] } : {}),
      filters,
      kernelSize: 3,
      padding: "same",
      useBias: !cfg.batchNorm,
      kernelInitializer: kernelInitializer("glorotUniform", seeds),
    }));
    if (cfg.batchNorm) model.add(batchNormalization({ name: `${b}_bn` }));
    model.add(tf.layers.activation({ name: `${b}_relu`, activation: "relu" }));
    model.add(tf.layers.maxPooling2d({ name: `${b}_pool`, poolSize: 2 }));
    if (cfg.convDropout > 0) model.add(tf.layers.dropout({ name: `${b}_drop`, rate: cfg.convDropout }));
  });
  model.add(tf.layers.globalAveragePooling2d({ name: "gap" }));
  model.add(tf.layers.dense({
    name: "fc",
    units: cfg.dense,
    activation: "relu",
    kernelInitializer: kernelInitializer("glorotUniform", seeds),
  }));
  if (cfg.denseDropout > 0) model.add(tf.layers.dropout({ name: "fc_drop", rate: cfg.denseDropout }));
  model.add(tf.layers.dense({
    name: "output",
    units: cfg.numClasses ?? 7,
    activation: "softmax",
    kernelInitializer: kernelInitializer("glorotUniform", seeds),
  }));
  return model;
}
