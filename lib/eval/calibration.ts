/**
 * Calibration of predicted probabilities: negative log-likelihood, expected
 * calibration error (ECE) and the reliability diagram's bins.
 *
 * Probabilities are row-major `n × k` (one softmax row per image). Binning
 * follows Guo et al. (2017), "On Calibration of Modern Neural Networks": the
 * top-class confidence falls in bin `b` when it lies in `(b/M, (b+1)/M]`, and
 * ECE is the support-weighted mean gap `|accuracy − confidence|` over bins.
 *
 * @example
 * ```ts
 * const probs = Float32Array.of(0.9, 0.1, 0.2, 0.8); // two images, two classes
 * const c = calibrate(probs, [0, 0], 2);
 * // c.nll = (−ln 0.9 − ln 0.2) / 2; c.ece = (|1 − 0.9| + |0 − 0.8|) / 2
 * ```
 *
 * @module
 */

/** One bin of the reliability diagram. */
export interface ReliabilityBin {
  /** Lower edge (exclusive, except for the first bin). */
  lo: number;
  /** Upper edge (inclusive). */
  hi: number;
  /** Images whose top-class confidence falls in the bin. */
  count: number;
  /** Mean top-class confidence of those images (0 when empty). */
  confidence: number;
  /** Fraction of those images classified correctly (0 when empty). */
  accuracy: number;
}

/** Calibration summary of a set of predictions. */
export interface Calibration {
  /** Mean negative log-likelihood of the true class (natural log). */
  nll: number;
  /** Expected calibration error over `bins.length` equal-width bins. */
  ece: number;
  /** The reliability diagram's bins. */
  bins: ReliabilityBin[];
}

/** Probabilities below this are clamped before the log, as Keras does (1e-7). */
export const PROB_EPSILON = 1e-7;

/** Bins of the reliability diagram and ECE by default (the usual 15). */
export const DEFAULT_ECE_BINS = 15;

function checkShape(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  if (!(Number.isInteger(k) && k > 0)) throw new RangeError(`class count must be a positive integer, got ${k}`);
  if (probs.length !== labels.length * k) {
    throw new RangeError(`${probs.length} probabilities for ${labels.length} labels × ${k} classes`);
  }
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    if (!(Number.isInteger(t) && t >= 0 && t < k)) {
      throw new RangeError(`position ${i}: label ${t} outside 0..${k - 1}`);
    }
  }
  return labels.length;
}

/** Mean `−ln p(true class)` over images; NaN when there are none. */
export function negativeLogLikelihood(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  const n = checkShape(probs, labels, k);
  let sum = 0;
  for (let i = 0; i < n; i++) sum -= Math.log(Math.max(probs[i * k + labels[i]], PROB_EPSILON));
  return n ? sum / n : NaN;
}

/** Index of the largest entry of row `i` (the first one on ties, like argmax). */
function topClass(probs: ArrayLike<number>, i: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
  return best;
}

/** The reliability diagram: images grouped by top-class confidence into `m` equal-width bins. */
export function reliabilityBins(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  k: number,
  m = DEFAULT_ECE_BINS,
): ReliabilityBin[] {
  const n = checkShape(probs, labels, k);
  if (!(Number.isInteger(m) && m > 0)) throw new RangeError(`bin count must be a positive integer, got ${m}`);
  const count = new Array<number>(m).fill(0);
  const confSum = new Array<number>(m).fill(0);
  const correct = new Array<number>(m).fill(0);
  for (let i = 0; i < n; i++) {
    const c = topClass(probs, i, k);
    const conf = probs[i * k + c];
    const b = Math.min(m - 1, Math.max(0, Math.ceil(conf * m) - 1));
    count[b]++;
    confSum[b] += conf;
    if (c === labels[i]) correct[b]++;
  }
  return count.map((cnt, b) => ({
    lo: b / m,
    hi: (b + 1) / m,
    count: cnt,
    confidence: cnt ? confSum[b] / cnt : 0,
    accuracy: cnt ? correct[b] / cnt : 0,
  }));
}

/** Support-weighted mean `|accuracy − confidence|` over bins; NaN when the bins are empty. */
export function expectedCalibrationError(bins: readonly ReliabilityBin[]): number {
  const n = bins.reduce((a, b) => a + b.count, 0);
  return n ? bins.reduce((a, b) => a + b.count * Math.abs(b.accuracy - b.confidence), 0) / n : NaN;
}

/**
 * Support-weighted mean `confidence − accuracy` over bins: positive when the model is overconfident, negative when
 * underconfident (what ECE, an absolute value, cannot tell); NaN when the bins are empty.
 *
 * @example
 * ```ts
 * overconfidence([{ lo: 0.8, hi: 0.9, count: 4, confidence: 0.85, accuracy: 0.75 }]); // ≈ 0.1
 * ```
 */
export function overconfidence(bins: readonly Pick<ReliabilityBin, "count" | "confidence" | "accuracy">[]): number {
  const n = bins.reduce((a, b) => a + b.count, 0);
  return n ? bins.reduce((a, b) => a + b.count * (b.confidence - b.accuracy), 0) / n : NaN;
}

/** NLL, ECE and the reliability bins of `n × k` probabilities against their labels. */
export function calibrate(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  k: number,
  m = DEFAULT_ECE_BINS,
): Calibration {
  const bins = reliabilityBins(probs, labels, k, m);
  return { nll: negativeLogLikelihood(probs, labels, k), ece: expectedCalibrationError(bins), bins };
}
