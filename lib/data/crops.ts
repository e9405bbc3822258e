/**
 * Random crops, the literature's FER2013 training augmentation: each 48×48
 * face is first moved by the usual small random transform (rotation, shift,
 * zoom, flip; see `augment.ts`), then a random `cropSize` window of it is
 * what the model sees, and optionally a random rectangle of that window is
 * erased (Zhong et al., "Random Erasing Data Augmentation", with torchvision's
 * defaults). The transform and the window are one resampling: the window's
 * offset is a translation composed into each image's transform matrix, and
 * `tf.image.transform` writes the `cropSize` output directly, so a crop costs
 * nothing beyond the transform and the model's convolutions run on the
 * smaller image.
 *
 * At test time such a model sees the centre crop ({@link fitToInput}) or the
 * ten-crop views of `lib/eval/tta.ts`.
 *
 * @example
 * ```ts
 * const augment = cropAugmentation({ ...augmentPreset("standard"), imageSize: 48, cropSize: 44, erasing: 0.5 });
 * const xa = augment(x, rng); // x: [b, 48, 48, 1] → xa: [b, 44, 44, 1]
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import {
  applyTransforms,
  type AugmentConfig,
  AugmentError,
  randomAffineParams,
  transformMatrix,
  validateAugmentConfig,
} from "./augment.ts";

/** Settings of {@link cropAugmentation}: the transform applied before cropping, the window, the erasing. */
export interface CropAugmentConfig extends AugmentConfig {
  /** Side of the square images it crops (48 for FER2013). */
  imageSize: number;
  /** Side of the random window the model sees; smaller than the images by an even number of pixels. */
  cropSize: number;
  /** Probability that an image gets one random rectangle erased (0 = off). */
  erasing: number;
  /** Erased area as a fraction of the window, drawn uniformly (default torchvision's [0.02, 0.33]). */
  erasingScale?: [number, number];
  /** Aspect ratio of the erased rectangle, drawn log-uniformly (default torchvision's [0.3, 3.3]). */
  erasingRatio?: [number, number];
}

/** A batch augmentation as the training loop calls it (randomness only from `rng`). */
export type BatchAugment = (x: tf.Tensor4D, rng: Rng) => tf.Tensor4D;

/** Top-left corner of one image's window. */
export interface CropOffset {
  x: number;
  y: number;
}

/** A rectangle of the window to erase: top-left corner and size, in pixels. */
export interface EraseBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Throws an {@link AugmentError} unless a `cropSize` window can be centred in
 * an `imageSize` image: smaller by an even number of pixels, so that the
 * centre crop is exactly centred and its mirror is the mirrored image's
 * centre crop.
 */
export function checkCropSize(cropSize: number, imageSize: number): void {
  const margin = imageSize - cropSize;
  if (!(Number.isInteger(cropSize) && cropSize >= 1 && margin > 0 && margin % 2 === 0)) {
    throw new AugmentError(
      `crop size must be an integer smaller than the ${imageSize}-pixel images by an even number of pixels ` +
        `(e.g. ${imageSize - 4} or ${imageSize - 8}), got ${cropSize}`,
    );
  }
}

/** A uniformly drawn window position: each of the `imageSize − cropSize + 1` offsets per axis equally likely. */
export function randomCropOffset(imageSize: number, cropSize: number, rng: Rng): CropOffset {
  const positions = imageSize - cropSize + 1;
  return { x: rng.int(positions), y: rng.int(positions) };
}

/**
 * torchvision's `RandomErasing` draw for a `side × side` window: with
 * probability `p` one rectangle whose area is a `scale` fraction of the
 * window and whose aspect ratio is log-uniform in `ratio`, placed uniformly;
 * up to 10 tries for one that fits, else none (null).
 */
export function randomEraseBox(
  side: number,
  p: number,
  rng: Rng,
  scale: [number, number] = [0.02, 0.33],
  ratio: [number, number] = [0.3, 3.3],
): EraseBox | null {
  if (!(rng.next() < p)) return null;
  const area = side * side;
  const [logLo, logHi] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const h = Math.round(Math.sqrt(target * aspect));
    const w = Math.round(Math.sqrt(target / aspect));
    if (h >= 1 && w >= 1 && h < side && w < side) {
      return { y: rng.int(side - h + 1), x: rng.int(side - w + 1), w, h };
    }
  }
  return null;
}

/** Throws an {@link AugmentError} naming the first bad field of a crop augmentation (on top of the transform's). */
function validateCropConfig(cfg: CropAugmentConfig): void {
  validateAugmentConfig(cfg);
  checkCropSize(cfg.cropSize, cfg.imageSize);
  if (!(cfg.erasing >= 0 && cfg.erasing <= 1)) {
    throw new AugmentError(`random erasing probability must be in [0, 1], got ${cfg.erasing}`);
  }
  const pair = (v: [number, number] | undefined, name: string, lo: number, hi: number) => {
    if (v !== undefined && !(v.length === 2 && v[0] > lo && v[0] <= v[1] && v[1] < hi)) {
      throw new AugmentError(`random erasing ${name} must be a pair lo ≤ hi in (${lo}, ${hi}), got ${v}`);
    }
  };
  pair(cfg.erasingScale, "scale", 0, 1);
  pair(cfg.erasingRatio, "ratio", 0, Infinity);
}

/**
 * The training augmentation of a crop model: for each image, in this order
 * from `rng`, the transform's parameters (as {@link randomAffineParams}
 * draws them), the window's offset, then the erased rectangle. Returns a
 * `[b, cropSize, cropSize, c]` tensor and leaves no intermediates behind.
 *
 * @throws AugmentError for a bad setting (when the augmentation is made) or a
 *   batch of images of another size (when it is called).
 */
export function cropAugmentation(cfg: CropAugmentConfig): BatchAugment {
  validateCropConfig(cfg);
  return (x, rng) => {
    const [b, h, w] = x.shape;
    if (h !== cfg.imageSize || w !== cfg.imageSize) {
      throw new AugmentError(`crop augmentation is set up for ${cfg.imageSize}-pixel images, got ${h}×${w}`);
    }
    const c = cfg.cropSize;
    const transforms = new Float32Array(8 * b);
    const erased: (EraseBox | null)[] = [];
    for (let i = 0; i < b; i++) {
      const t = transformMatrix(randomAffineParams(cfg, h, w, rng), h, w);
      const o = randomCropOffset(h, c, rng);
      // Output (u, v) of the window is point (u + x, v + y) of the transformed image: fold that into the matrix.
      t[2] += t[0] * o.x + t[1] * o.y;
      t[5] += t[3] * o.x + t[4] * o.y;
      transforms.set(t, 8 * i);
      erased.push(cfg.erasing > 0 ? randomEraseBox(c, cfg.erasing, rng, cfg.erasingScale, cfg.erasingRatio) : null);
    }
    const cropped = applyTransforms(x, transforms, cfg, c);
    if (erased.every((e) => e === null)) return cropped;
    const channels = x.shape[3];
    const mask = new Float32Array(b * c * c * channels).fill(1);
    erased.forEach((e, i) => {
      if (!e) return;
      for (let y = e.y; y < e.y + e.h; y++) {
        mask.fill(0, ((i * c + y) * c + e.x) * channels, ((i * c + y) * c + e.x + e.w) * channels);
      }
    });
    // torchvision's default fill is 0: the rectangle becomes black.
    const out = tf.tidy(() => tf.mul(cropped, tf.tensor4d(mask, [b, c, c, channels])) as tf.Tensor4D);
    cropped.dispose();
    return out;
  };
}

/**
 * `x` as a model of input side `inputSize` sees it: itself when it already has
 * that side, else its centre crop (a new tensor).
 *
 * @throws AugmentError when the images are smaller than the input or cannot be centre-cropped to it.
 */
export function fitToInput(x: tf.Tensor4D, inputSize: number): tf.Tensor4D {
  const side = x.shape[1];
  if (side === inputSize && x.shape[2] === inputSize) return x;
  checkCropSize(inputSize, side);
  const o = (side - inputSize) / 2;
  return tf.slice(x, [0, o, o, 0], [-1, inputSize, inputSize, -1]);
}
