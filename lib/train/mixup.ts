/**
 * mixup (Zhang et al., 2018): each training batch is replaced by convex
 * combinations of its own images and labels, `λ·x + (1−λ)·x[π]` and
 * `λ·y + (1−λ)·y[π]`, with one `λ ~ Beta(α, α)` per batch and a random
 * permutation `π` of the batch, as the paper's reference code does. Both come
 * from the training rng, so a resumed run mixes exactly as an uninterrupted
 * one.
 *
 * @example
 * ```ts
 * const { x: xm, y: ym, lambda } = mixBatch(x, y, 0.2, rng);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";

/**
 * A Gamma(`shape`, 1) draw by Marsaglia and Tsang's method (shape < 1 through
 * the boost Gamma(a) = Gamma(a + 1) · U^(1/a)).
 */
export function sampleGamma(shape: number, rng: Rng): number {
  if (!(shape > 0 && Number.isFinite(shape))) throw new RangeError(`gamma shape must be positive, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, rng) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let z: number, v: number;
    do {
      z = rng.normal();
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A Beta(`a`, `b`) draw, as the ratio of two Gamma draws. */
export function sampleBeta(a: number, b: number, rng: Rng): number {
  const x = sampleGamma(a, rng);
  const y = sampleGamma(b, rng);
  return x / (x + y);
}

/**
 * Mixes batch (`x`, `y`) with a permutation of itself; `alpha` is the Beta
 * parameter (> 0). Returns new tensors (the caller keeps `x` and `y`) and the
 * λ drawn.
 */
export function mixBatch(
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  alpha: number,
  rng: Rng,
): { x: tf.Tensor4D; y: tf.Tensor2D; lambda: number } {
  if (!(alpha > 0 && Number.isFinite(alpha))) throw new RangeError(`mixup alpha must be positive, got ${alpha}`);
  const lambda = sampleBeta(alpha, alpha, rng);
  const n = x.shape[0];
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const mixed = tf.tidy(() => {
    const idx = tf.tensor1d(perm, "int32");
    const mix = <T extends tf.Tensor>(t: T): T => tf.add(tf.mul(t, lambda), tf.mul(tf.gather(t, idx), 1 - lambda));
    return { x: mix(x), y: mix(y) };
  });
  return { ...mixed, lambda };
}
