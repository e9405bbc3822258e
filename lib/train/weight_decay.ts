/**
 * L2 weight decay the way PyTorch's `torch.optim.SGD(weight_decay=λ)` does
 * it: `λ·w` is added to each weight's gradient before the optimizer sees it,
 * so with momentum it is accumulated like the gradient itself. (For SGD this
 * equals an L2 penalty `λ/2·‖w‖²` in the loss; for Adam it is *not* AdamW's
 * decoupled decay.) Every trainable weight decays, batch-norm scales and
 * biases included, as in PyTorch when no parameter groups are given — the
 * setting the yardstick was measured with.
 *
 * @example
 * ```ts
 * const decayed = addWeightDecay(grads, 5e-4); // grads from computeGradients
 * optimizer.applyGradients(decayed);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { NamedTensor } from "../models/io.ts";

/** A weight decay that cannot be applied (negative, non-finite, or naming an unknown variable). */
export class WeightDecayError extends RangeError {
  override name = "WeightDecayError";
}

/**
 * Returns new gradients `g + λ·w`, one per entry of `grads`, whose names are
 * the variables' names (as {@link computeGradients} gives them). The input
 * gradients are left alone; the caller owns both lists.
 */
export function addWeightDecay(grads: NamedTensor[], lambda: number): NamedTensor[] {
  if (!(lambda >= 0 && Number.isFinite(lambda))) {
    throw new WeightDecayError(`weight decay must be a finite number ≥ 0, got ${lambda}`);
  }
  const variables = tf.engine().registeredVariables;
  return grads.map(({ name, tensor }) => {
    const w = variables[name];
    if (w === undefined) throw new WeightDecayError(`no variable named ${name} to decay`);
    return { name, tensor: tf.tidy(() => tf.add(tensor, tf.mul(w, lambda))) };
  });
}
