/**
 * Ensembles and test-time augmentation: the class probabilities of several
 * models, each shown several views of every image (see `tta.ts`), averaged
 * with equal weights into one prediction per image.
 *
 * Averaging probabilities (not logits or votes) keeps the result a proper
 * distribution, so NLL and ECE stay meaningful for the ensemble.
 *
 * Each model is shown the views its own input calls for (`input_spec.ts`): a
 * model trained on crops gets crops of its input side, and with `tta: "auto"`
 * its own recorded TTA. A model's views are averaged first, then the models,
 * so a ten-crop member weighs as much as a one-view member.
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
import { type ModelInput, modelInput } from "../models/input_spec.ts";
import { evaluateProbabilities, predictProbabilities, type ProbabilisticEvaluation } from "./metrics.ts";
import { transformImages, type TtaChoice, TtaError, type TtaMode, ttaViews, type View } from "./tta.ts";

/**
 * The element-wise mean of equally long probability arrays, weighted by
 * `weights` when given (one positive weight per part).
 *
 * @throws RangeError when there are none, their lengths differ, or the weights do not match them.
 */
export function averageProbabilities(parts: readonly ArrayLike<number>[], weights?: readonly number[]): Float32Array {
  if (parts.length === 0) throw new RangeError("nothing to average");
  const len = parts[0].length;
  parts.forEach((p, i) => {
    if (p.length !== len) throw new RangeError(`part ${i} holds ${p.length} values, part 0 holds ${len}`);
  });
  if (weights && (weights.length !== parts.length || !weights.every((w) => w > 0 && Number.isFinite(w)))) {
    throw new RangeError(`${weights.length} weights for ${parts.length} parts, or a weight that is not positive`);
  }
  // Sum in float64, so the mean does not depend on the order of many small parts.
  const sum = new Float64Array(len);
  let total = 0;
  parts.forEach((p, i) => {
    const w = weights?.[i] ?? 1;
    total += w;
    for (let j = 0; j < len; j++) sum[j] += w * p[j];
  });
  const out = new Float32Array(len);
  for (let j = 0; j < len; j++) out[j] = sum[j] / total;
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
  /** Test-time augmentation of every model, or "auto" for each model's own (default "none"). */
  tta?: TtaChoice;
  /** Images per forward pass. */
  batch?: number;
  /** Side of the stored images (default 48). */
  imageSize?: number;
  /** Called after each (model, view) pass, e.g. for a progress line. */
  onPass?: (done: number, total: number) => void;
}

/**
 * An `onPass` that logs each pass with the seconds so far and an ETA, e.g.
 * `ensemble crops: pass 3/10, 12s, ETA 28s` (ten-crop over a few thousand faces takes minutes on a CPU).
 */
export function logPasses(label: string, log: (line: string) => void): (done: number, total: number) => void {
  const t0 = performance.now();
  return (done, total) => {
    const s = (performance.now() - t0) / 1000;
    log(`${label}: pass ${done}/${total}, ${s.toFixed(0)}s, ETA ${((s * (total - done)) / done).toFixed(0)}s`);
  };
}

/** What one member of an ensemble is shown: its input, the TTA mode it got and that mode's views. */
export interface MemberViews {
  input: ModelInput;
  tta: TtaMode;
  views: View[];
}

/**
 * The views each model gets for `tta` on images of side `imageSize`.
 *
 * @throws TtaError when a model was trained on images of another side.
 */
export function memberViews(models: readonly tf.LayersModel[], tta: TtaChoice, imageSize: number): MemberViews[] {
  return models.map((m, i) => {
    const input = modelInput(m);
    if (input.imageSize !== imageSize) {
      const what = input.inputSize === input.imageSize
        ? `${input.inputSize}×${input.inputSize} images`
        : `${input.inputSize}×${input.inputSize} crops of ${input.imageSize}×${input.imageSize} images`;
      throw new TtaError(`model ${i} (${m.name}) takes ${what}, but the data holds ${imageSize}×${imageSize} images`);
    }
    const mode = tta === "auto" ? input.tta : tta;
    return { input, tta: mode, views: ttaViews(mode, input) };
  });
}

/** A view's identity, shared by the models shown the same pixels. */
const viewKey = (v: View) => `${v.flip}:${v.dx}:${v.dy}:${v.size ?? ""}`;

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
  const members = memberViews(models, tta, imageSize);
  const images = gatherImages(pixels, rows, imageSize);
  const order = Int32Array.from({ length: rows.length }, (_, i) => i);
  // One view at a time, shown to every model that has it, so that only one transformed copy of the images exists.
  const distinct = new Map<string, View>();
  for (const m of members) for (const v of m.views) distinct.set(viewKey(v), distinct.get(viewKey(v)) ?? v);
  // Weights so that each model's views sum to the same total: exactly 1 per part when all have as many views.
  const most = Math.max(...members.map((m) => m.views.length));
  const parts: Float32Array[] = [];
  const weights: number[] = [];
  const total = members.reduce((a, m) => a + m.views.length, 0);
  for (const [key, v] of distinct) {
    const shown = transformImages(images, imageSize, v);
    for (const [i, m] of members.entries()) {
      if (!m.views.some((w) => viewKey(w) === key)) continue;
      parts.push(await predictProbabilities(models[i], shown, order, batch, v.size ?? imageSize));
      weights.push(most / m.views.length);
      onPass?.(parts.length, total);
    }
  }
  return averageProbabilities(parts, weights);
}

/** An ensemble's evaluation, with what was averaged. */
export type EnsembleEvaluation = ProbabilisticEvaluation & {
  /** Number of models averaged. */
  models: number;
  /** The TTA mode every model got, or "auto" when the models' own modes differ. */
  tta: TtaChoice;
  /** The names of the views shown, over all models, in order of first use. */
  views: string[];
  /** Per model: its input side and the stored side it crops from, its TTA mode and views. */
  members: { imageSize: number; inputSize: number; tta: TtaMode; views: string[] }[];
};

/** Scores the averaged probabilities of `models` over the TTA views of `rows` against their labels. */
export async function evaluateEnsemble(
  models: readonly tf.LayersModel[],
  data: { pixels: Uint8Array; labels: Uint8Array },
  rows: ArrayLike<number>,
  opts: EnsembleOptions = {},
): Promise<EnsembleEvaluation> {
  const k = models[0]?.outputs[0].shape.at(-1) ?? 0;
  const probs = await predictEnsemble(models, data.pixels, rows, opts);
  const members = memberViews(models, opts.tta ?? "none", opts.imageSize ?? 48);
  const modes = new Set(members.map((m) => m.tta));
  const truth = Int32Array.from({ length: rows.length }, (_, i) => data.labels[rows[i]]);
  return {
    ...evaluateProbabilities(truth, probs, k),
    models: models.length,
    tta: modes.size === 1 ? members[0].tta : "auto",
    views: [...new Set(members.flatMap((m) => m.views.map((v) => v.name)))],
    members: members.map((m) => ({
      imageSize: m.input.imageSize,
      inputSize: m.input.inputSize,
      tta: m.tta,
      views: m.views.map((v) => v.name),
    })),
  };
}
