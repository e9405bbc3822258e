/**
 * Measures {@link Classifier}s the same way: accuracy, macro-F1, NLL and ECE
 * on the same faces for each TTA mode (the views of `lib/eval/tta.ts`,
 * averaged as `lib/eval/ensemble.ts` averages them), and milliseconds per
 * face from the face crop each library hands its emotion model to the
 * probabilities read back, at a given batch.
 *
 * A view shared by two modes (the identity of "none" and "flip") is run once.
 *
 * @example
 * ```ts
 * const r = await measureClassifier(peer, images, labels, { modes: ["none", "flip"], batches: [1, 64] });
 * r.accuracy[1].accuracy; // flip TTA
 * r.speed[0].msPerFace;   // batch 1, median over the timed runs
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { EMOTIONS, IMAGE_SIZE, NUM_CLASSES } from "../data/fer2013.ts";
import { averageProbabilities } from "../eval/ensemble.ts";
import { overconfidence } from "../eval/calibration.ts";
import { evaluateProbabilities } from "../eval/metrics.ts";
import { transformImages, type TtaMode, type View } from "../eval/tta.ts";
import { type Speed, timeRuns, type TimingOptions } from "../eval/speed.ts";
import type { Classifier } from "./models.ts";

/** One TTA mode's scores. */
export interface TtaScores {
  tta: TtaMode;
  views: string[];
  n: number;
  accuracy: number;
  macroF1: number;
  nll: number;
  ece: number;
  /** Mean confidence minus accuracy (positive: overconfident). */
  overconfidence: number;
  recall: Record<string, number>;
  /** Rows: true class, columns: predicted, FER2013 order. */
  confusion: number[][];
}

export { DEFAULT_TIMING, type Speed, type TimingOptions } from "../eval/speed.ts";

/** Options of {@link measureClassifier}. */
export interface MeasureOptions {
  modes: readonly TtaMode[];
  /** Batch sizes to time (none: no timing). */
  batches: readonly number[];
  /** Faces per forward pass of the accuracy runs. */
  evalBatch?: number;
  timing?: Partial<TimingOptions>;
  log?: (msg: string) => void;
}

/** A classifier's results. */
export interface ClassifierResult {
  accuracy: TtaScores[];
  speed: Speed[];
  /** Seconds the accuracy runs took (all views). */
  evalSeconds: number;
}

const viewKey = (v: View) => `${v.flip}:${v.dx}:${v.dy}:${v.size ?? ""}`;

/** `n` gray faces of side `side` (bytes) as a float32 `[n, side, side, 1]` tensor of 0–255. */
export function facesTensor(bytes: Uint8Array, side: number): tf.Tensor4D {
  const n = bytes.length / (side * side);
  return tf.tensor4d(Float32Array.from(bytes), [n, side, side, 1], "float32");
}

/** The classifier's FER2013-order probabilities for every face of `images` (48×48 bytes each) seen through `view`. */
export async function viewProbabilities(
  c: Classifier,
  images: Uint8Array,
  view: View,
  batch = 64,
): Promise<Float32Array> {
  const shown = transformImages(images, IMAGE_SIZE, view);
  const side = view.size ?? IMAGE_SIZE;
  const px = side * side;
  const n = shown.length / px;
  const out = new Float32Array(n * NUM_CLASSES);
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const x = facesTensor(shown.subarray(s * px, e * px), side);
    const crops = c.cut(x);
    x.dispose();
    const probs = await c.predict(crops);
    crops.dispose();
    if (probs.shape[0] !== e - s || probs.shape[1] !== NUM_CLASSES) {
      probs.dispose();
      throw new RangeError(
        `${c.name}: ${probs.shape.join("×")} outputs for ${e - s} faces, expected ${NUM_CLASSES} each`,
      );
    }
    out.set(await probs.data() as Float32Array, s * NUM_CLASSES);
    probs.dispose();
  }
  return out;
}

/** Scores the classifier on `images` (48×48 bytes each) against `labels` for each TTA mode. */
export async function scoreClassifier(
  c: Classifier,
  images: Uint8Array,
  labels: ArrayLike<number>,
  modes: readonly TtaMode[],
  evalBatch = 64,
): Promise<TtaScores[]> {
  const cache = new Map<string, Float32Array>();
  const scores: TtaScores[] = [];
  for (const mode of modes) {
    const views = c.views(mode);
    const parts: Float32Array[] = [];
    for (const v of views) {
      const key = viewKey(v);
      if (!cache.has(key)) cache.set(key, await viewProbabilities(c, images, v, evalBatch));
      parts.push(cache.get(key)!);
    }
    const probs = averageProbabilities(parts);
    const e = evaluateProbabilities(labels, probs, NUM_CLASSES);
    scores.push({
      tta: mode,
      views: views.map((v) => v.name),
      n: e.n,
      accuracy: e.accuracy,
      macroF1: e.macroF1,
      nll: e.calibration.nll,
      ece: e.calibration.ece,
      overconfidence: overconfidence(e.calibration.bins),
      recall: Object.fromEntries(e.perClass.map((p) => [EMOTIONS[p.label] ?? String(p.label), p.recall])),
      confusion: e.confusion,
    });
  }
  return scores;
}

/** The first `batch` faces of `images` (cycled when there are fewer), as the classifier's no-TTA view shows them. */
function timingInput(c: Classifier, images: Uint8Array, batch: number): tf.Tensor4D {
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const n = images.length / px;
  if (n === 0) throw new RangeError("no faces to time");
  const picked = new Uint8Array(batch * px);
  for (let i = 0; i < batch; i++) picked.set(images.subarray((i % n) * px, (i % n + 1) * px), i * px);
  const view = c.views("none")[0];
  const x = facesTensor(transformImages(picked, IMAGE_SIZE, view), view.size ?? IMAGE_SIZE);
  const crops = c.cut(x);
  x.dispose();
  return crops;
}

/**
 * Milliseconds per face at `batch`: each run is the classifier's predict on
 * its face crops (its own resizing and normalisation included) plus reading
 * the probabilities back.
 */
export async function timeClassifier(
  c: Classifier,
  images: Uint8Array,
  batch: number,
  timing: Partial<TimingOptions> = {},
): Promise<Speed> {
  const x = timingInput(c, images, batch);
  try {
    return await timeRuns(
      async () => {
        const probs = await c.predict(x);
        await probs.data();
        probs.dispose();
      },
      batch,
      timing,
    );
  } finally {
    x.dispose();
  }
}

/** Scores and times one classifier. */
export async function measureClassifier(
  c: Classifier,
  images: Uint8Array,
  labels: ArrayLike<number>,
  opts: MeasureOptions,
): Promise<ClassifierResult> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const accuracy = await scoreClassifier(c, images, labels, opts.modes, opts.evalBatch);
  const evalSeconds = (performance.now() - t0) / 1000;
  for (const a of accuracy) {
    log(
      `  ${c.name} tta ${a.tta}: accuracy ${(100 * a.accuracy).toFixed(2)}%, macro-F1 ${a.macroF1.toFixed(3)}, ` +
        `NLL ${a.nll.toFixed(3)}, ECE ${a.ece.toFixed(3)} (${evalSeconds.toFixed(0)} s)`,
    );
  }
  const speed: Speed[] = [];
  for (const b of opts.batches) {
    const s = await timeClassifier(c, images, b, opts.timing);
    log(
      `  ${c.name} batch ${b}: ${s.msPerFace.toFixed(2)} ms/face (median of ${s.runs}, fastest ` +
        `${s.msPerFaceMin.toFixed(2)})${s.loadAverage === undefined ? "" : `, load ${s.loadAverage.toFixed(2)}`}`,
    );
    speed.push(s);
  }
  return { accuracy, speed, evalSeconds };
}
