/**
 * Classification metrics: accuracy, confusion matrix, per-class precision /
 * recall / F1 and macro F1, plus helpers that run a model over data rows and
 * score its probabilities (accuracy and calibration from one pass).
 *
 * Conventions follow scikit-learn: confusion rows are true classes and
 * columns predicted ones; a ratio with a zero denominator is reported as 0;
 * macro F1 averages over the classes that occur in the truth or the
 * predictions (a class absent from both says nothing about the model).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { EMOTIONS } from "../data/fer2013.ts";
import { batchBounds, toImageTensor } from "../data/batches.ts";
import { fitToInput } from "../data/crops.ts";
import { inputSide, modelInput } from "../models/input_spec.ts";
import { calibrate, type Calibration } from "./calibration.ts";

/** Metrics of one class. */
export interface ClassMetrics {
  /** Class index. */
  label: number;
  /** Class name (emotion name for the 7 FER2013 classes, else the index). */
  name: string;
  /** Of the images predicted as this class, the fraction that are. */
  precision: number;
  /** Of the images of this class, the fraction found. */
  recall: number;
  /** Harmonic mean of precision and recall. */
  f1: number;
  /** Images of this class in the truth. */
  support: number;
}

/** Full evaluation of predictions against the truth. */
export interface Evaluation {
  /** Fraction of correct predictions. */
  accuracy: number;
  /** Number of images. */
  n: number;
  /** Per-class metrics, by class index. */
  perClass: ClassMetrics[];
  /** `confusion[true][predicted]` counts. */
  confusion: number[][];
  /** Mean F1 over classes present in truth or predictions. */
  macroF1: number;
}

function checkPair(yTrue: ArrayLike<number>, yPred: ArrayLike<number>) {
  if (yTrue.length !== yPred.length) {
    throw new RangeError(`${yTrue.length} true labels but ${yPred.length} predictions`);
  }
}

/** Fraction of positions where the prediction equals the truth (NaN when empty). */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair(yTrue, yPred);
  let c = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) c++;
  return yTrue.length ? c / yTrue.length : NaN;
}

/** `k × k` counts with rows = true class, columns = predicted class. */
export function confusionMatrix(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  k: number,
): number[][] {
  checkPair(yTrue, yPred);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i];
    const p = yPred[i];
    if (!(Number.isInteger(t) && t >= 0 && t < k && Number.isInteger(p) && p >= 0 && p < k)) {
      throw new RangeError(`position ${i}: labels (${t}, ${p}) outside 0..${k - 1}`);
    }
    m[t][p]++;
  }
  return m;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** Precision, recall, F1 and support of every class, from a confusion matrix. */
export function perClassMetrics(
  confusion: number[][],
  names: readonly string[] = confusion.length === EMOTIONS.length ? EMOTIONS : [],
): ClassMetrics[] {
  const k = confusion.length;
  return confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    let predicted = 0;
    for (let t = 0; t < k; t++) predicted += confusion[t][c];
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return {
      label: c,
      name: names[c] ?? String(c),
      precision,
      recall,
      f1: ratio(2 * precision * recall, precision + recall),
      support,
    };
  });
}

/** Macro F1 over classes that occur in the truth or in the predictions. */
export function macroF1(confusion: number[][]): number {
  const per = perClassMetrics(confusion);
  const present = per.filter((m, c) => {
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    return m.support > 0 || predicted > 0;
  });
  return present.length ? present.reduce((a, m) => a + m.f1, 0) / present.length : NaN;
}

/** Every metric of predictions `yPred` against `yTrue` over `k` classes. */
export function evaluatePredictions(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  k: number,
): Evaluation {
  const confusion = confusionMatrix(yTrue, yPred, k);
  return {
    accuracy: accuracy(yTrue, yPred),
    n: yTrue.length,
    perClass: perClassMetrics(confusion),
    confusion,
    macroF1: macroF1(confusion),
  };
}

/** Row-wise argmax of row-major `n × k` scores (the first maximum on ties). */
export function argmaxRows(scores: ArrayLike<number>, k: number): Int32Array {
  const n = Math.floor(scores.length / k);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (scores[i * k + c] > scores[i * k + best]) best = c;
    out[i] = best;
  }
  return out;
}

/**
 * The model's class probabilities (inference mode) for each of `rows`,
 * row-major `rows.length × k`. `imageSize` is the side the pixels are stored
 * at (default: the side the model was trained on, see `input_spec.ts`); a
 * model whose input is smaller sees the centre crop.
 */
export async function predictProbabilities(
  model: tf.LayersModel,
  pixels: Uint8Array,
  rows: ArrayLike<number>,
  batch = 256,
  imageSize = modelInput(model).imageSize,
): Promise<Float32Array> {
  const k = model.outputs[0].shape.at(-1)!;
  const side = inputSide(model);
  const out = new Float32Array(rows.length * k);
  for (const [s, e] of batchBounds(rows.length, batch)) {
    const probs = tf.tidy(() =>
      model.predict(fitToInput(toImageTensor(pixels, rows, s, e, imageSize), side)) as tf.Tensor2D
    );
    out.set(await probs.data() as Float32Array, s * k);
    probs.dispose();
  }
  return out;
}

/** Argmax class of the model (inference mode) for each of `rows`, in order. */
export async function predictClasses(
  model: tf.LayersModel,
  pixels: Uint8Array,
  rows: ArrayLike<number>,
  batch = 256,
  imageSize = modelInput(model).imageSize,
): Promise<Int32Array> {
  const k = model.outputs[0].shape.at(-1)!;
  return argmaxRows(await predictProbabilities(model, pixels, rows, batch, imageSize), k);
}

/** An evaluation of probabilities: the classification metrics plus their calibration. */
export type ProbabilisticEvaluation = Evaluation & { calibration: Calibration };

/** Scores row-major `n × k` probabilities against `yTrue`: accuracy, per-class table, NLL, ECE. */
export function evaluateProbabilities(
  yTrue: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): ProbabilisticEvaluation {
  return { ...evaluatePredictions(yTrue, argmaxRows(probs, k), k), calibration: calibrate(probs, yTrue, k) };
}

/** Runs the model over `rows` of `data` and scores it against their labels. */
export async function evaluate(
  model: tf.LayersModel,
  data: { pixels: Uint8Array; labels: Uint8Array },
  rows: ArrayLike<number>,
  batch = 256,
): Promise<ProbabilisticEvaluation> {
  const k = model.outputs[0].shape.at(-1)!;
  const probs = await predictProbabilities(model, data.pixels, rows, batch);
  const truth = Int32Array.from({ length: rows.length }, (_, i) => data.labels[rows[i]]);
  return evaluateProbabilities(truth, probs, k);
}
