/**
 * Times a model's training step on the active backend, the way
 * `bench/measure.ts` does: random 48×48 inputs, one warm-up step (operator
 * creation, JIT, heap growth), then the mean of `steps` timed Adam steps.
 * Used to cost an architecture before committing hours to it.
 *
 * @example
 * ```ts
 * const t = await measureStepTime(buildDeep(cfg), { batchSize: 64, steps: 3 });
 * console.log(`${t.imagesPerSec.toFixed(1)} img/s → ${(25841 / t.imagesPerSec / 60).toFixed(0)} min/epoch`);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { makeRng } from "../rng.ts";
import { trainStep } from "./step.ts";

/** What {@link measureStepTime} measured. */
export interface StepTime {
  /** Mean milliseconds of one optimizer step (forward, backward, Adam). */
  msPerStep: number;
  /** Training images per second at that speed. */
  imagesPerSec: number;
  /** Steps timed (after the warm-up step). */
  steps: number;
  batchSize: number;
}

/**
 * Trains `model` for 1 + `steps` steps of `batchSize` random images and
 * returns the timed steps' speed. The model's weights change; use a
 * throwaway model.
 */
export async function measureStepTime(
  model: tf.LayersModel,
  opts: { batchSize: number; steps: number; labelSmoothing?: number },
): Promise<StepTime> {
  const side = model.inputs[0].shape[1] ?? 48;
  const k = model.outputs[0].shape.at(-1)!;
  const optimizer = tf.train.adam(1e-3);
  const rng = makeRng("step-time");
  const x = tf.randomUniform([opts.batchSize, side, side, 1], 0, 1, "float32", 7) as tf.Tensor4D;
  const y = tf.tidy(() =>
    tf.oneHot(tf.tensor1d(Array.from({ length: opts.batchSize }, (_, i) => i % k), "int32"), k).toFloat()
  ) as tf.Tensor2D;
  const step = () => trainStep(model, optimizer, x, y, { dropoutRng: rng, labelSmoothing: opts.labelSmoothing ?? 0 });
  try {
    await step();
    const t0 = performance.now();
    for (let i = 0; i < opts.steps; i++) await step();
    const msPerStep = (performance.now() - t0) / opts.steps;
    return {
      msPerStep,
      imagesPerSec: (opts.batchSize * 1000) / msPerStep,
      steps: opts.steps,
      batchSize: opts.batchSize,
    };
  } finally {
    tf.dispose([x, y]);
    optimizer.dispose();
  }
}
