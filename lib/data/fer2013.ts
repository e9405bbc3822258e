/**
 * The FER2013 data model shared by every loader, split and experiment.
 *
 * Images are kept as one compact `Uint8Array` (n × 2304 bytes) rather than
 * nested arrays: 32k faces then cost 74 MB instead of gigabytes of JS numbers.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** Emotion names in label order, as the Kaggle challenge defines them. */
export const EMOTIONS = [
  "angry",
  "disgust",
  "fear",
  "happy",
  "sad",
  "surprise",
  "neutral",
] as const;

/** Number of emotion classes. */
export const NUM_CLASSES = EMOTIONS.length;

/** Side of a FER2013 face in pixels. */
export const IMAGE_SIZE = 48;

/** Pixels per face (48 × 48, row-major, grayscale). */
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** The `Usage` values of the Kaggle CSV, in code order. */
export const USAGES = ["Training", "PublicTest", "PrivateTest"] as const;

/** One of the Kaggle CSV's `Usage` values. */
export type Usage = typeof USAGES[number];

/** A loaded FER2013-format data set, column-wise in typed arrays. */
export interface Fer2013 {
  /** Row-major 48×48 grayscale pixels, `n * PIXELS` bytes. */
  pixels: Uint8Array;
  /** Emotion label per row, 0–6. */
  labels: Uint8Array;
  /** Usage per row as an index into {@link USAGES}. */
  usage: Uint8Array;
  /** Number of rows. */
  n: number;
  /** Where the data came from (a path, or a description of synthetic data). */
  source: string;
}

/** Counts rows per Usage, e.g. `{ Training: 28709, PublicTest: 3589, PrivateTest: 0 }`. */
export function usageCounts(data: Fer2013): Record<Usage, number> {
  const counts = { Training: 0, PublicTest: 0, PrivateTest: 0 };
  for (let i = 0; i < data.n; i++) counts[USAGES[data.usage[i]]]++;
  return counts;
}

/** Counts rows per emotion label. */
export function classCounts(labels: ArrayLike<number>): number[] {
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** Returns a new data set holding only the given rows, in the given order. */
export function selectRows(data: Fer2013, rows: ArrayLike<number>): Fer2013 {
  const n = rows.length;
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  const usage = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    pixels.set(data.pixels.subarray(r * PIXELS, (r + 1) * PIXELS), i * PIXELS);
    labels[i] = data.labels[r];
    usage[i] = data.usage[r];
  }
  return { pixels, labels, usage, n, source: data.source };
}

/**
 * An input problem the user can fix: it names the file, the place in it
 * (row or path) and what is wrong, so the CLI can print it without a stack.
 */
export class DataError extends UserError {
  constructor(
    readonly file: string,
    readonly where: string | null,
    readonly problem: string,
  ) {
    super(`${file}${where ? `, ${where}` : ""}: ${problem}`);
  }
}
