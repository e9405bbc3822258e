/**
 * What every architecture here shares: one model seed split into per-layer
 * initializer seeds (the same config always starts from the same weights),
 * the seeded kernel initializers, and the check that a stack of 2×2 poolings
 * fits the input.
 *
 * @example
 * ```ts
 * const seeds = seedStream(42, "deep");
 * checkPoolable(48, 4);
 * tf.layers.conv2d({ filters: 32, kernelSize: 3, kernelInitializer: kernelInitializer("heNormal", seeds) });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { makeRng, type Rng } from "../rng.ts";

/** A tfjs-layers weight initializer (its class is not exported by name). */
export type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

/** Kernel initializer family for the hidden conv/dense layers. */
export type KernelInit = "glorotUniform" | "heNormal";

/**
 * A source of per-layer initializer seeds derived from one model seed, so
 * layers get different (yet reproducible) random streams.
 */
export function seedStream(seed: number, model: string): Rng {
  return makeRng(`${model}:${seed}`);
}

/** A seeded kernel initializer of the given family. */
export function kernelInitializer(
  kind: KernelInit,
  seeds: Rng,
): Initializer {
  // tfjs treats a falsy seed as "unseeded" (Math.random) in its normal
  // samplers, so 0 must never be passed.
  const seed = (seeds.int32() >>> 0) || 1;
  return kind === "heNormal" ? tf.initializers.heNormal({ seed }) : tf.initializers.glorotUniform({ seed });
}

/** Throws unless `n` poolings by 2 leave at least a 1×1 map. */
export function checkPoolable(inputSize: number, blocks: number): void {
  if (!Number.isInteger(inputSize) || inputSize < 1) {
    throw new Error(`inputSize must be a positive integer, got ${inputSize}`);
  }
  if (Math.floor(inputSize / 2 ** blocks) < 1) {
    throw new Error(
      `inputSize ${inputSize} is too small for ${blocks} blocks of 2×2 pooling ` +
        `(needs at least ${2 ** blocks})`,
    );
  }
}
