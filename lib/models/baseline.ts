/**
 * The study's baseline: a 4-block VGG-style CNN for 48×48 grayscale faces.
 *
 * Each block is Conv2D 3×3 "same" → BatchNorm → ReLU → MaxPool 2×2 → Dropout,
 * with dropout growing with depth; the head is Flatten → Dense → BatchNorm →
 * ReLU → Dropout → Dense softmax. Built with `tf.layers` so it saves in the
 * TF.js Layers format, and initialised from a seed so that the same config
 * always gives the same starting weights.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { batchNormalization } from "./batch_norm.ts";
import { checkPoolable, type KernelInit, kernelInitializer, seedStream } from "./common.ts";

/** Hyper-parameters of {@link buildBaseline}. */
export interface BaselineConfig {
  /** Conv filters per block; one block per entry. */
  filters: number[];
  /** Dropout rate after each block (same length as `filters`). */
  dropout: number[];
  /** Units of the hidden dense layer. */
  dense: number;
  /** Dropout rate after the hidden dense layer. */
  denseDropout: number;
  /** BatchNorm after every conv and the hidden dense layer. */
  batchNorm: boolean;
  /** Side of the square grayscale input. */
  inputSize: number;
  /** Number of output classes. */
  numClasses: number;
  /** Seed for every kernel initializer. */
  seed: number;
  /** Initializer of hidden kernels (the softmax layer is always Glorot). */
  kernelInit: KernelInit;
}

/** The study's baseline settings. */
export const DEFAULT_BASELINE: BaselineConfig = {
  filters: [32, 64, 128, 128],
  dropout: [0.1, 0.2, 0.3, 0.4],
  dense: 256,
  denseDropout: 0.5,
  batchNorm: true,
  inputSize: 48,
  numClasses: 7,
  seed: 42,
  // Keras' default, which the study relied on; with BatchNorm after every
  // hidden layer the choice barely matters.
  kernelInit: "glorotUniform",
};

/** Builds the baseline CNN; missing fields take {@link DEFAULT_BASELINE}. */
export function buildBaseline(
  config: Partial<BaselineConfig> = {},
): tf.Sequential {
  const cfg = { ...DEFAULT_BASELINE, ...config };
  if (cfg.dropout.length !== cfg.filters.length) {
    throw new Error(
      `dropout has ${cfg.dropout.length} rates but filters has ${cfg.filters.length} blocks`,
    );
  }
  checkPoolable(cfg.inputSize, cfg.filters.length);
  const seeds = seedStream(cfg.seed, "baseline");
  // A bias right before BatchNorm is cancelled by its mean subtraction.
  const useBias = !cfg.batchNorm;
  const model = tf.sequential({ name: "baseline" });

  cfg.filters.forEach((filters, i) => {
    const b = `block${i + 1}`;
    model.add(tf.layers.conv2d({
      name: `${b}_conv`,
      ...(i === 0 ? { inputShape: [cfg.inputSize, cfg.inputSize, 1] } : {}),
      filters,
      kernelSize: 3,
      padding: "same",
      useBias,
      kernelInitializer: kernelInitializer(cfg.kernelInit, seeds),
    }));
    if (cfg.batchNorm) {
      model.add(batchNormalization({ name: `${b}_bn` }));
    }
    model.add(tf.layers.activation({ name: `${b}_relu`, activation: "relu" }));
    model.add(tf.layers.maxPooling2d({ name: `${b}_pool`, poolSize: 2 }));
    if (cfg.dropout[i] > 0) {
      model.add(tf.layers.dropout({ name: `${b}_drop`, rate: cfg.dropout[i] }));
    }
  });

  model.add(tf.layers.flatten({ name: "flatten" }));
  model.add(tf.layers.dense({
    name: "fc",
    units: cfg.dense,
    useBias,
    kernelInitializer: kernelInitializer(cfg.kernelInit, seeds),
  }));
  if (cfg.batchNorm) model.add(batchNormalization({ name: "fc_bn" }));
  model.add(tf.layers.activation({ name: "fc_relu", activation: "relu" }));
  if (cfg.denseDropout > 0) {
    model.add(tf.layers.dropout({ name: "fc_drop", rate: cfg.denseDropout }));
  }
  model.add(tf.layers.dense({
    name: "output",
    units: cfg.numClasses,
    activation: "softmax",
    kernelInitializer: kernelInitializer("glorotUniform", seeds),
  }));
  return model;
}
