/**
 * One optimizer step: the loss (categorical cross-entropy with Keras-style
 * label smoothing, on softmax probabilities or logits), its gradients with
 * optional micro-batch accumulation, and the update.
 *
 * Dropout masks come from the `dropoutRng` passed in: tfjs Dropout otherwise
 * draws from an unseeded global generator, so each Dropout layer is given a
 * fresh seed from it before every forward pass.
 *
 * @example
 * ```ts
 * const { loss, correct } = await trainStep(model, tf.train.adam(1e-3), x, yOneHot, { labelSmoothing: 0.1 });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { PROB_EPSILON } from "../eval/calibration.ts";
import type { NamedTensor } from "../models/io.ts";
import type { Rng } from "../rng.ts";
import { addWeightDecay } from "./weight_decay.ts";

/** Whether a model outputs probabilities (softmax) or raw logits. */
export type OutputKind = "probabilities" | "logits";

/** Per-step options shared by {@link computeGradients} and {@link trainStep}. */
export interface StepOptions {
  /** Micro-batch size (default: the whole batch at once). */
  microBatch?: number;
  /** Label smoothing (default 0). */
  labelSmoothing?: number;
  /** Output kind (default: detected with {@link outputKind}). */
  kind?: OutputKind;
  /** When given, every Dropout layer gets a seed from it before each forward pass. */
  dropoutRng?: Rng;
  /** L2 weight decay added to the gradients by {@link trainStep} (default 0; see `weight_decay.ts`). */
  weightDecay?: number;
}

/** Gradients of the mean batch loss, plus the loss and the count of correct predictions. */
export interface GradientResult {
  /** One gradient per trainable weight, named by its variable, in `model.trainableWeights` order. */
  grads: NamedTensor[];
  /** Mean loss over the batch. */
  loss: tf.Scalar;
  /** Number of correct argmax predictions (training mode). */
  correct: tf.Scalar;
}

/**
 * Tells whether the model's last layer gives probabilities (softmax) or
 * logits (linear), so the loss can be computed the matching way.
 */
export function outputKind(model: tf.LayersModel): OutputKind {
  const last = model.layers[model.layers.length - 1];
  const config = last.getConfig();
  const activation = last.getClassName() === "Softmax" ? "softmax" : config.activation;
  if (activation === "softmax") return "probabilities";
  if (activation === "linear" || activation === undefined) return "logits";
  throw new Error(
    `last layer ${last.name} has activation ${activation}; ` +
      `the loss needs softmax probabilities or linear logits`,
  );
}

/**
 * Mean categorical cross-entropy of one-hot `yTrue` against `yPred`, with
 * Keras-style label smoothing. Probabilities are renormalised and clipped
 * to [ε, 1−ε] before the log, as Keras does.
 */
export function crossEntropy(
  yTrue: tf.Tensor2D,
  yPred: tf.Tensor2D,
  kind: OutputKind,
  labelSmoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const k = yTrue.shape[1];
    const y = labelSmoothing > 0 ? tf.add(tf.mul(yTrue, 1 - labelSmoothing), labelSmoothing / k) : yTrue;
    const logp = kind === "logits" ? tf.logSoftmax(yPred) : tf.log(
      tf.clipByValue(tf.div(yPred, tf.sum(yPred, -1, true)), PROB_EPSILON, 1 - PROB_EPSILON),
    );
    return tf.mean(tf.neg(tf.sum(tf.mul(y, logp), -1))) as tf.Scalar;
  });
}

/** Dropout layers of a model (the only stochastic layers the loop seeds). */
export function dropoutLayers(model: tf.LayersModel): { seed?: number }[] {
  return model.layers
    .filter((l) => l.getClassName() === "Dropout" || l.getClassName() === "SpatialDropout1D")
    .map((l) => l as unknown as { seed?: number });
}

/**
 * Gradients of the mean loss of batch (x, y) with respect to the trainable
 * weights, in training mode (dropout on, BatchNorm on batch statistics, its
 * moving averages updated). With `microBatch`, the batch is processed in
 * chunks whose gradients are summed weighted by chunk size, which gives the
 * full-batch gradient (exactly, for models without batch-dependent layers)
 * while holding only one chunk's activations.
 */
export function computeGradients(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  opts: StepOptions = {},
): GradientResult {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const kind = opts.kind ?? outputKind(model);
  const smoothing = opts.labelSmoothing ?? 0;
  const n = x.shape[0];
  const m = Math.min(opts.microBatch ?? n, n);
  const dropouts = opts.dropoutRng ? dropoutLayers(model) : [];
  let acc: tf.Tensor[] | null = null;
  let loss = tf.scalar(0);
  let correct = tf.scalar(0);

  for (let a = 0; a < n; a += m) {
    const b = Math.min(n, a + m);
    const whole = a === 0 && b === n;
    const frac = (b - a) / n;
    for (const l of dropouts) l.seed = (opts.dropoutRng!.int32() >>> 0) || 1;
    const xs = whole ? x : x.slice(a, b - a);
    const ys = whole ? y : y.slice(a, b - a);
    let chunkCorrect: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const out = model.apply(xs, { training: true }) as tf.Tensor2D;
      chunkCorrect = tf.keep(
        tf.sum(tf.cast(tf.equal(tf.argMax(out, -1), tf.argMax(ys, -1)), "float32")),
      );
      return crossEntropy(ys, out, kind, smoothing);
    }, vars);
    if (!whole) tf.dispose([xs, ys]);
    const g = vars.map((v) => {
      const t = grads[v.name];
      if (t === undefined) throw new Error(`no gradient reaches weight ${v.name}`);
      return t;
    });
    if (whole) {
      acc = g;
    } else {
      const scaled = tf.tidy(() => g.map((t) => tf.mul(t, frac)));
      tf.dispose(g);
      if (acc === null) {
        acc = scaled;
      } else {
        const prev: tf.Tensor[] = acc;
        acc = tf.tidy(() => prev.map((t, i) => tf.add(t, scaled[i])));
        tf.dispose([...prev, ...scaled]);
      }
    }
    const [oldLoss, oldCorrect] = [loss, correct];
    loss = tf.tidy(() => tf.add(oldLoss, whole ? value : tf.mul(value, frac)));
    correct = tf.tidy(() => tf.add(oldCorrect, chunkCorrect!));
    tf.dispose([oldLoss, oldCorrect, value, chunkCorrect!]);
  }
  const grads = vars.map((v, i) => ({ name: v.name, tensor: acc![i] }));
  return { grads, loss, correct };
}

/**
 * One optimizer step on batch (x, y); returns the batch's mean loss and its
 * number of correct predictions. The caller keeps ownership of x and y.
 */
export async function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  opts: StepOptions = {},
): Promise<{ loss: number; correct: number }> {
  const { grads: raw, loss, correct } = computeGradients(model, x, y, opts);
  const grads = opts.weightDecay ? addWeightDecay(raw, opts.weightDecay) : raw;
  if (grads !== raw) tf.dispose(raw.map((g) => g.tensor));
  // An array keeps slot order = trainable-weight order, which is what lets
  // Adam's saved moments line up with a freshly built model on resume.
  optimizer.applyGradients(grads);
  tf.dispose(grads.map((g) => g.tensor));
  const [l, c] = await Promise.all([loss.data(), correct.data()]);
  tf.dispose([loss, correct]);
  return { loss: l[0], correct: c[0] };
}
