/**
 * The study's deep model: 5 VGG-style blocks with LeakyReLU.
 *
 * Each block stacks `convsPerBlock` × (Conv2D 3×3 "same" → BatchNorm →
 * LeakyReLU), then MaxPool 2×2 → Dropout (growing with depth); the head is
 * Flatten or global average pooling → [Dense → BatchNorm → LeakyReLU →
 * Dropout]* → Dense softmax.
 *
 * Defaults are chosen to cost about 0.64 GFLOP per 48×48 image (see
 * `countFlops` in ./flops.ts): doubling every block's convs would cost
 * ~1 GFLOP, a single conv per block only ~0.3.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { batchNormalization } from "./batch_norm.ts";
import { checkPoolable, type KernelInit, kernelInitializer, seedStream } from "./common.ts";

/** Hyper-parameters of {@link buildDeep}. */
export interface DeepConfig {
  /** Conv filters per block; one block per entry. */
  filters: number[];
  /** Convs per block: one number for all blocks, or one per block. */
  convsPerBlock: number | number[];
  /** Negative slope of LeakyReLU. */
  leakyAlpha: number;
  /** Dropout after each block (same length as `filters`). */
  dropout: number[];
  /** How the conv maps become a vector: Flatten, or global average pooling (one value per filter). */
  head: "flatten" | "globalAverage";
  /** Dropout right after the Flatten / global-average-pooling head, before any dense layer (default 0: none). */
  headDropout?: number;
  /** Units of each hidden dense layer (may be empty). */
  dense: number[];
  /** Order in the dense head: batch norm then LeakyReLU (default), or LeakyReLU then batch norm as the study wrote it. */
  denseOrder?: "bn-act" | "act-bn";
  /** Dropout after each hidden dense layer. */
  denseDropout: number;
  /** BatchNorm after every conv and hidden dense layer. */
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

/** The deep model's default settings (≈0.64 GFLOP per 48×48 image). */
export const DEFAULT_DEEP: DeepConfig = {
  filters: [64, 128, 256, 512, 512],
  // Two convs where maps are large and cheap in channels, one where they are
  // wide: keeps depth at 7 convs for ~0.64 GFLOP instead of 10 for ~1.0.
  convsPerBlock: [2, 2, 1, 1, 1],
  leakyAlpha: 0.1,
  dropout: [0.1, 0.2, 0.25, 0.3, 0.4],
  head: "flatten",
  dense: [512],
  denseDropout: 0.5,
  batchNorm: true,
  inputSize: 48,
  numClasses: 7,
  seed: 42,
  kernelInit: "heNormal",
};

/** The study's deep recipe as experiment 03 trains it, one conv per block (filters set by the architecture). */
const STUDY_BLOCKS: Partial<DeepConfig> = {
  convsPerBlock: 1,
  leakyAlpha: 0.1,
  dropout: [0.1, 0.2, 0.25, 0.3, 0.4],
  head: "globalAverage",
  dense: [512],
  denseOrder: "act-bn",
  denseDropout: 0.5,
  batchNorm: true,
  kernelInit: "heNormal",
};

/** Experiment 03's architectures: the study's filters and the lighter `lean` default (also timed by the bench). */
export const DEEP_ARCHITECTURES: Record<"study" | "lean", Partial<DeepConfig>> = {
  study: { ...STUDY_BLOCKS, filters: [128, 256, 512, 512, 512] },
  lean: { ...STUDY_BLOCKS, filters: [32, 64, 128, 256, 512] },
};

/**
 * Experiment 05's VGG: 4 stages of 2 × (conv 3×3 → BN → ReLU), max-pool;
 * global average pooling → dropout → softmax (also timed by the bench).
 */
export const BUDGET_VGG: Partial<DeepConfig> = {
  filters: [32, 64, 128, 256],
  convsPerBlock: 2,
  leakyAlpha: 0, // plain ReLU
  dropout: [0, 0, 0, 0],
  head: "globalAverage",
  headDropout: 0.4,
  dense: [],
  kernelInit: "heNormal",
};

/** Builds the deep CNN; missing fields take {@link DEFAULT_DEEP}. */
export function buildDeep(config: Partial<DeepConfig> = {}): tf.Sequential {
  const cfg = { ...DEFAULT_DEEP, ...config };
  const blocks = cfg.filters.length;
  const convs = typeof cfg.convsPerBlock === "number"
    ? new Array<number>(blocks).fill(cfg.convsPerBlock)
    : cfg.convsPerBlock;
  if (convs.length !== blocks) {
    throw new Error(
      `convsPerBlock has ${convs.length} entries but filters has ${blocks} blocks`,
    );
  }
  if (convs.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(`convsPerBlock must be positive integers, got ${convs}`);
  }
  if (cfg.dropout.length !== blocks) {
    throw new Error(
      `dropout has ${cfg.dropout.length} rates but filters has ${blocks} blocks`,
    );
  }
  checkPoolable(cfg.inputSize, blocks);
  const seeds = seedStream(cfg.seed, "deep");
  // A bias right before BatchNorm is cancelled by its mean subtraction.
  const useBias = !cfg.batchNorm;
  const model = tf.sequential({ name: "deep" });
  let first = true;

  cfg.filters.forEach((filters, i) => {
    const b = `block${i + 1}`;
    for (let j = 0; j < convs[i]; j++) {
      const c = `${b}_conv${j + 1}`;
      model.add(tf.layers.conv2d({
        name: c,
        ...(first ? { inputShape: [cfg.inputSize, cfg.inputSize, 1] } : {}),
        filters,
        kernelSize: 3,
        padding: "same",
        useBias,
        kernelInitializer: kernelInitializer(cfg.kernelInit, seeds),
      }));
      first = false;
      if (cfg.batchNorm) {
        model.add(batchNormalization({ name: `${c}_bn` }));
      }
      model.add(tf.layers.leakyReLU({ name: `${c}_lrelu`, alpha: cfg.leakyAlpha }));
    }
    model.add(tf.layers.maxPooling2d({ name: `${b}_pool`, poolSize: 2 }));
    if (cfg.dropout[i] > 0) {
      model.add(tf.layers.dropout({ name: `${b}_drop`, rate: cfg.dropout[i] }));
    }
  });

  model.add(
    cfg.head === "globalAverage"
      ? tf.layers.globalAveragePooling2d({ name: "gap" })
      : tf.layers.flatten({ name: "flatten" }),
  );
  if (cfg.headDropout) model.add(tf.layers.dropout({ name: "head_drop", rate: cfg.headDropout }));
  cfg.dense.forEach((units, i) => {
    const d = `fc${i + 1}`;
    const actFirst = cfg.denseOrder === "act-bn";
    model.add(tf.layers.dense({
      name: d,
      units,
      // With the activation between them, batch norm no longer cancels the bias.
      useBias: useBias || actFirst,
      kernelInitializer: kernelInitializer(cfg.kernelInit, seeds),
    }));
    const bn = () => cfg.batchNorm && model.add(batchNormalization({ name: `${d}_bn` }));
    if (!actFirst) bn();
    model.add(tf.layers.leakyReLU({ name: `${d}_lrelu`, alpha: cfg.leakyAlpha }));
    if (actFirst) bn();
    if (cfg.denseDropout > 0) {
      model.add(tf.layers.dropout({ name: `${d}_drop`, rate: cfg.denseDropout }));
    }
  });
  model.add(tf.layers.dense({
    name: "output",
    units: cfg.numClasses,
    activation: "softmax",
    kernelInitializer: kernelInitializer("glorotUniform", seeds),
  }));
  return model;
}
