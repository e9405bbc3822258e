/**
 * Turning rows of the compact byte store into training tensors.
 *
 * Pixels stay in one `Uint8Array` until a batch is needed; only the batch in
 * flight exists as a float tensor, which keeps memory flat whatever the
 * data set size.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_SIZE, NUM_CLASSES } from "./fer2013.ts";
import { type Rng, shuffleInPlace } from "../rng.ts";

/** Images and labels that training and validation read rows from (a `Fer2013` fits). */
export interface TrainData {
  /** `n × size²` grayscale bytes. */
  pixels: Uint8Array;
  /** Class per row. */
  labels: Uint8Array;
}

/** Throws a RangeError unless 0 ≤ start ≤ end ≤ rows.length. */
function checkRange(rows: ArrayLike<number>, start: number, end: number) {
  if (!(0 <= start && start <= end && end <= rows.length)) {
    throw new RangeError(
      `batch range [${start}, ${end}) is outside the ${rows.length} selected rows`,
    );
  }
}

/**
 * Images of `rows[start..end)` as a float32 `[b, size, size, 1]` tensor in
 * [0, 1]. `size` is the side the pixels are stored at (48 for FER2013;
 * smaller for synthetic test data), so each image is `size²` bytes.
 */
export function toImageTensor(
  pixels: Uint8Array,
  rows: ArrayLike<number>,
  start: number,
  end: number,
  size = IMAGE_SIZE,
): tf.Tensor4D {
  checkRange(rows, start, end);
  const px = size * size;
  const n = pixels.length / px;
  const out = new Float32Array((end - start) * px);
  for (let i = start; i < end; i++) {
    const r = rows[i];
    if (!(Number.isInteger(r) && r >= 0 && r < n)) {
      throw new RangeError(`row ${r} does not exist (the pixel store holds ${n} images)`);
    }
    const src = pixels.subarray(r * px, (r + 1) * px);
    const o = (i - start) * px;
    for (let j = 0; j < px; j++) out[o + j] = src[j] / 255;
  }
  return tf.tensor4d(out, [end - start, size, size, 1], "float32");
}

/** Labels of `rows[start..end)` as an int32 vector. */
export function labelTensor(
  labels: Uint8Array,
  rows: ArrayLike<number>,
  start: number,
  end: number,
  numClasses: number = NUM_CLASSES,
): tf.Tensor1D {
  checkRange(rows, start, end);
  const out = new Int32Array(end - start);
  for (let i = start; i < end; i++) {
    const y = labels[rows[i]];
    // tf.oneHot silently turns an out-of-range label into a zero row, which
    // would train on garbage; refuse instead.
    if (y === undefined || y >= numClasses) {
      throw new RangeError(
        `row ${rows[i]} has label ${y}, outside 0..${numClasses - 1}`,
      );
    }
    out[i - start] = y;
  }
  return tf.tensor1d(out, "int32");
}

/** Labels of `rows[start..end)` one-hot encoded as float32 `[b, numClasses]`. */
export function oneHot(
  labels: Uint8Array,
  rows: ArrayLike<number>,
  start: number,
  end: number,
  numClasses: number = NUM_CLASSES,
): tf.Tensor2D {
  return tf.tidy(() =>
    tf.oneHot(labelTensor(labels, rows, start, end, numClasses), numClasses)
      .toFloat() as tf.Tensor2D
  );
}

/** A freshly shuffled copy of `rows` (one call per epoch). */
export function batchOrder(rows: ArrayLike<number>, rng: Rng): Int32Array {
  return shuffleInPlace(Int32Array.from(rows), rng);
}

/** `[start, end)` bounds of consecutive batches of `batchSize` over `n` items. */
export function batchBounds(n: number, batchSize: number): [number, number][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += batchSize) out.push([s, Math.min(n, s + batchSize)]);
  return out;
}
