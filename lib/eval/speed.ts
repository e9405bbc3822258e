/**
 * How fast a model classifies faces once trained: milliseconds per face of
 * one forward pass and reading the probabilities back, for one face at a time
 * (a webcam frame, a photo) and for a batch (a folder of photos). Each timing
 * is the median of runs after untimed warm-up runs (kernel compilation, the
 * first allocations), kept up for a few seconds so that one disturbed run
 * does not decide it; the fastest run and the load average are kept beside
 * it, because on a shared machine only they say how disturbed the runs were.
 *
 * @example
 * ```ts
 * const s = await inferenceSpeed(model, 1); // { batch: 1, msPerFace: 0.9, msPerFaceMin: 0.8, runs: 4000, … }
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadAverage } from "../machine.ts";
import { inputSide } from "../models/input_spec.ts";

/** Speed at one batch size. */
export interface Speed {
  batch: number;
  /** Median over the timed runs of (run time ÷ batch). */
  msPerFace: number;
  /** The fastest run's, the least disturbed by other load. */
  msPerFaceMin: number;
  runs: number;
  seconds: number;
  /** 1-minute load average when the timing ended, where the permission set grants it. */
  loadAverage?: number;
}

/** How long to time each batch size. */
export interface TimingOptions {
  /** Untimed runs first (kernel compilation, allocation). */
  warmup: number;
  /** Keep timing until at least this many runs … */
  minRuns: number;
  /** … and at least this many seconds have passed, */
  minSeconds: number;
  /** but stop after this many seconds whatever the runs. */
  maxSeconds: number;
}

/** Defaults: a few seconds per batch size, enough runs for a stable median. */
export const DEFAULT_TIMING: Readonly<TimingOptions> = Object.freeze({
  warmup: 2,
  minRuns: 10,
  minSeconds: 5,
  maxSeconds: 60,
});

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Times `run` (one batch of `batch` faces, returning when its output is read back) as {@link TimingOptions} say. */
export async function timeRuns(
  run: () => Promise<void>,
  batch: number,
  timing: Partial<TimingOptions> = {},
): Promise<Speed> {
  const t = { ...DEFAULT_TIMING, ...timing };
  const once = async () => {
    const t0 = performance.now();
    await run();
    return performance.now() - t0;
  };
  for (let i = 0; i < t.warmup; i++) await once();
  const times: number[] = [];
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  while (times.length === 0 || ((times.length < t.minRuns || elapsed() < t.minSeconds) && elapsed() < t.maxSeconds)) {
    times.push(await once());
  }
  const load = loadAverage();
  return {
    batch,
    msPerFace: median(times) / batch,
    msPerFaceMin: Math.min(...times) / batch,
    runs: times.length,
    seconds: elapsed(),
    ...(load === undefined ? {} : { loadAverage: load }),
  };
}

/** Milliseconds per face of `model.predict` on batches of `batch` random inputs of the model's own shape. */
export async function inferenceSpeed(
  model: tf.LayersModel,
  batch: number,
  timing: Partial<TimingOptions> = {},
): Promise<Speed> {
  const side = inputSide(model);
  const channels = model.inputs[0].shape.at(-1) ?? 1;
  const x = tf.randomUniform([batch, side, side, channels], 0, 1, "float32", 1);
  try {
    return await timeRuns(
      async () => {
        const y = model.predict(x) as tf.Tensor;
        await y.data();
        y.dispose();
      },
      batch,
      timing,
    );
  } finally {
    x.dispose();
  }
}
