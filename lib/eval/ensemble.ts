/**
 * Ensembles and test-time augmentation: the class probabilities of several
 * models, each shown several views of every image (see `tta.ts`), averaged
 * with equal weights into one prediction per image.
 *
 * Averaging probabilities (not logits or votes) keeps the result a proper
 * distribution, so NLL and ECE stay meaningful for the ensemble.
 *
 * @example
 * ```ts
 * const result = await evaluateEnsemble([modelA, modelB], data, split.test, { tta: "flip" });
 * console.log(result.accuracy, result.calibration.nll, result.views); // views: ["identity", "mirror"]
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { evaluateProbabilities, predictProbabilities, type ProbabilisticEvaluation } from "./metrics.ts";
import { transformImages, type TtaMode, ttaViews } from "./tta.ts";

/**
 * The element-wise mean of equally long probability arrays.
 *
 * @throws RangeError when there are none or their lengths differ.
 */
export function averageProbabilities(parts: readonly ArrayLike<number>[]): Float32Array {
  if (parts.length === 0) throw new RangeError("nothing to average");
  const len = parts[0].length;
  parts.forEach((p, i) => {
    if (p.length !== len) throw new RangeError(`part ${i} holds ${p.length} values, part 0 holds ${len}`);
  });
  // Sum in float64, so the mean does not depend on the order of many small parts.
  const sum = new Float64Array(len);
  for (const p of parts) for (let j = 0; j < len; j++) sum[j] += p[j];
  const out = new Float32Array(len);
  for (let j = 0; j < len; j++) out[j] = sum[j] / parts.length;
  return out;
}

/** Copies the images of `rows` into a compact store, in order. */
export function gatherImages(pixels: Uint8Array, rows: ArrayLike<number>, size: number): Uint8Array {
  const px = size * size;
  const n = pixels.length / px;
  const out = new Uint8Array(rows.length * px);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(Number.isInteger(r) && r >= 0 && r < n)) {
      throw new RangeError(`row ${r} does not exist (the pixel store holds ${n} images)`);
    }
    out.set(pixels.subarray(r * px, (r + 1) * px), i * px);
  }
  return out;
}

/** Options of {@link predictEnsemble}. */
export interface EnsembleOptions {
  /** Test-time augmentation (default "none"). */
  tta?: TtaMode;
  /** Images per forward pass. */
  batch?: number;
  /** Side of the stored images (default 48). */
  imageSize?: number;
  /** Called after each (model, view) pass, e.g. for a progress line. */
  onPass?: (done: number, total: number) => void;
}

/** Mean probabilities of every model over every TTA view of `rows`, row-major `rows.length × k`. */
export async function predictEnsemble(
  models: readonly tf.LayersModel[],
  pixels: Uint8Array,
  rows: ArrayLike<number>,
  { tta = "none", batch = 256, imageSize = 48, onPass }: EnsembleOptions = {},
): Promise<Float32Array> {
  if (models.length === 0) throw new RangeError("an ensemble needs at least one model");
  const k = models[0].outputs[0].shape.at(-1);
  models.forEach((m, i) => {
    const ki = m.outputs[0].shape.at(-1);
    if (ki !== k) throw new RangeError(`model ${i} has ${ki} classes, model 0 has ${k}`);
  });
  const images = gatherImages(pixels, rows, imageSize);
  const order = Int32Array.from({ length: rows.length }, (_, i) => i);
  const views = ttaViews(tta);
  const parts: Float32Array[] = [];
  const total = models.length * views.length;
  for (const v of views) {
    const shown = transformImages(images, imageSize, v);
    for (const m of models) {
      parts.push(await predictProbabilities(m, shown, order, batch, imageSize));
      onPass?.(parts.length, total);
    }
  }
  return averageProbabilities(parts);
}

/** An ensemble's evaluation, with what was averaged. */
export type EnsembleEvaluation = ProbabilisticEvaluation & {
  /** Number of models averaged. */
  models: number;
  /** The TTA mode and the names of its views. */
  tta: TtaMode;
  views: string[];
};

/** Scores the averaged probabilities of `models` over the TTA views of `rows` against their labels. */
export async function evaluateEnsemble(
  models: readonly tf.LayersModel[],
  data: { pixels: Uint8Array; labels: Uint8Array },
  rows: ArrayLike<number>,
  opts: EnsembleOptions = {},
): Promise<EnsembleEvaluation> {
  const tta = opts.tta ?? "none";
  const k = models[0]?.outputs[0].shape.at(-1) ?? 0;
  const probs = await predictEnsemble(models, data.pixels, rows, opts);
  const truth = Int32Array.from({ length: rows.length }, (_, i) => data.labels[rows[i]]);
  return {
    ...evaluateProbabilities(truth, probs, k),
    models: models.length,
    tta,
    views: ttaViews(tta).map((v) => v.name),
  };
}
