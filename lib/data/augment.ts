/**
 * Image augmentation equivalent to Keras' `ImageDataGenerator`: random
 * rotation, shifts, shear, zoom and horizontal flip, composed into one
 * projective transform per image and applied on the tensor backend with
 * `tf.image.transform`.
 *
 * Geometry follows Keras' `apply_affine_transform`: the matrix maps OUTPUT
 * pixel coordinates (x = column, y = row) to INPUT coordinates, it is
 * `rotation · shift · shear · zoom` taken about the image centre, and a
 * horizontal flip is applied after it. Consequences, all as in Keras:
 * a positive angle turns the content counter-clockwise, a zoom factor above 1
 * zooms out, and a shift `tx` moves the content by `-tx`.
 *
 * One deliberate difference: recent Keras multiplies `height_shift_range` by
 * the height but applies it along x (keras-team/keras#17398, tf-keras#310);
 * here `widthShiftRange` shifts horizontally and `heightShiftRange`
 * vertically, as their names and Keras' documentation say. With equal ranges
 * (the usual setting) the two behave identically.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import * as tf from "@tensorflow/tfjs-core";
import { type Fer2013, IMAGE_SIZE, PIXELS } from "./fer2013.ts";
import type { Rng } from "../rng.ts";

/** How points outside the input image are filled (as in Keras and `tf.image.transform`). */
export type FillMode = "nearest" | "constant" | "reflect" | "wrap";

/** Pixel interpolation of `tf.image.transform`. */
export type Interpolation = "nearest" | "bilinear";

/** The augmentation settings, named and meant as in Keras' `ImageDataGenerator`. */
export interface AugmentConfig {
  /** Rotation drawn uniformly from ±`rotationRange` degrees. */
  rotationRange: number;
  /**
   * Horizontal shift: below 1 a fraction of the width, drawn from ±range; an
   * integer ≥ 1 a whole number of pixels from {-(r-1) … r-1}; any other value
   * ≥ 1 pixels drawn from ±range (Keras' three cases).
   */
  widthShiftRange: number;
  /** Vertical shift, as {@link AugmentConfig.widthShiftRange} but of the height. */
  heightShiftRange: number;
  /** z gives zoom factors in [1-z, 1+z]; a pair gives [lo, hi]. x and y zoom are drawn independently. */
  zoomRange: number | [number, number];
  /** Shear angle drawn uniformly from ±`shearRange` degrees (degrees, as in current Keras). */
  shearRange: number;
  /** Flip half of the images left–right. */
  horizontalFlip: boolean;
  /** How to fill points that fall outside the input. */
  fillMode: FillMode;
  /** Fill value for `fillMode: "constant"`, in the tensor's own scale (default 0). */
  cval?: number;
  /** Pixel interpolation (default "bilinear", Keras' default `interpolation_order=1`). */
  interpolation?: Interpolation;
}

/** A bad augmentation setting. */
export class AugmentError extends UserError {}

/** No augmentation at all: {@link augmentBatch} returns a copy of its input. */
export const NO_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  rotationRange: 0,
  widthShiftRange: 0,
  heightShiftRange: 0,
  zoomRange: 0,
  shearRange: 0,
  horizontalFlip: false,
  fillMode: "nearest",
});

/** Names of the augmentation presets experiments can refer to. */
export type AugmentPresetName = "none" | "flip" | "standard" | "yardstick" | "strong";

/**
 * Presets: `none`; `flip` (left–right only); `standard`, the common FER2013
 * Keras recipe (±10°, ±10 % shifts, ±10 % zoom, flips, nearest fill);
 * `yardstick`, the recipe of experiment 05's native PyTorch yardstick (±15°,
 * ±10 % shifts, ±15 % zoom, ±10° shear, flips); `strong` (±20°, ±20 % shifts,
 * ±20 % zoom, ±10° shear, flips).
 */
export const AUGMENT_PRESETS: Readonly<
  Record<AugmentPresetName, Readonly<AugmentConfig>>
> = Object
  .freeze({
    none: NO_AUGMENT,
    flip: Object.freeze({ ...NO_AUGMENT, horizontalFlip: true }),
    standard: Object.freeze({
      rotationRange: 10,
      widthShiftRange: 0.1,
      heightShiftRange: 0.1,
      zoomRange: 0.1,
      shearRange: 0,
      horizontalFlip: true,
      fillMode: "nearest",
    }),
    yardstick: Object.freeze({
      rotationRange: 15,
      widthShiftRange: 0.1,
      heightShiftRange: 0.1,
      zoomRange: 0.15,
      shearRange: 10,
      horizontalFlip: true,
      fillMode: "nearest",
    }),
    strong: Object.freeze({
      rotationRange: 20,
      widthShiftRange: 0.2,
      heightShiftRange: 0.2,
      zoomRange: 0.2,
      shearRange: 10,
      horizontalFlip: true,
      fillMode: "nearest",
    }),
  });

/** Looks a preset up by name, with an error listing the valid names. */
export function augmentPreset(name: string): AugmentConfig {
  if (!Object.hasOwn(AUGMENT_PRESETS, name)) {
    throw new AugmentError(
      `unknown augmentation preset "${name}" (expected one of ${Object.keys(AUGMENT_PRESETS).join(", ")})`,
    );
  }
  return { ...AUGMENT_PRESETS[name as AugmentPresetName] };
}

/** Keras' reading of `zoom_range`: z → [1-z, 1+z], a pair as given. */
export function zoomBounds(
  zoomRange: number | [number, number],
): [number, number] {
  return typeof zoomRange === "number" ? [1 - zoomRange, 1 + zoomRange] : [zoomRange[0], zoomRange[1]];
}

/** Throws an {@link AugmentError} naming the first bad field of `cfg`. */
export function validateAugmentConfig(cfg: AugmentConfig): void {
  for (
    const k of [
      "rotationRange",
      "widthShiftRange",
      "heightShiftRange",
      "shearRange",
    ] as const
  ) {
    const v = cfg[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new AugmentError(
        `augmentation ${k} must be a number ≥ 0, got ${v}`,
      );
    }
  }
  const z = cfg.zoomRange;
  const pairOk = Array.isArray(z) && z.length === 2 && z.every(Number.isFinite);
  if (!(typeof z === "number" && Number.isFinite(z)) && !pairOk) {
    throw new AugmentError(
      `augmentation zoomRange must be a number or a [lo, hi] pair, got ${JSON.stringify(z)}`,
    );
  }
  const [lo, hi] = zoomBounds(z);
  if (!(lo > 0 && lo <= hi)) {
    throw new AugmentError(
      `augmentation zoomRange ${JSON.stringify(z)} gives zoom factors [${lo}, ${hi}]; ` +
        "they must satisfy 0 < lo ≤ hi",
    );
  }
  if (typeof cfg.horizontalFlip !== "boolean") {
    throw new AugmentError(
      `augmentation horizontalFlip must be true or false, got ${cfg.horizontalFlip}`,
    );
  }
  if (!["nearest", "constant", "reflect", "wrap"].includes(cfg.fillMode)) {
    throw new AugmentError(
      `augmentation fillMode must be nearest, constant, reflect or wrap, got "${cfg.fillMode}"`,
    );
  }
  if (cfg.cval !== undefined && !Number.isFinite(cfg.cval)) {
    throw new AugmentError(
      `augmentation cval must be a finite number, got ${cfg.cval}`,
    );
  }
  if (
    cfg.interpolation !== undefined &&
    !["nearest", "bilinear"].includes(cfg.interpolation)
  ) {
    throw new AugmentError(
      `augmentation interpolation must be nearest or bilinear, got "${cfg.interpolation}"`,
    );
  }
}

/** True when `cfg` never changes an image. */
export function isNoAugment(cfg: AugmentConfig): boolean {
  const [lo, hi] = zoomBounds(cfg.zoomRange);
  return cfg.rotationRange === 0 && cfg.widthShiftRange === 0 &&
    cfg.heightShiftRange === 0 && cfg.shearRange === 0 && lo === 1 &&
    hi === 1 &&
    !cfg.horizontalFlip;
}

/** The parameters of one image's transform, in Keras' units. */
export interface AffineParams {
  /** Rotation in degrees (positive = counter-clockwise on screen). */
  theta: number;
  /** Horizontal shift in pixels; the content moves by `-tx`. */
  tx: number;
  /** Vertical shift in pixels; the content moves by `-ty`. */
  ty: number;
  /** Shear angle in degrees. */
  shear: number;
  /** Horizontal zoom factor (> 1 zooms out). */
  zx: number;
  /** Vertical zoom factor (> 1 zooms out). */
  zy: number;
  /** Flip left–right after the affine part. */
  flip: boolean;
}

/** Parameters that leave an image unchanged. */
export const IDENTITY_PARAMS: Readonly<AffineParams> = Object.freeze({
  theta: 0,
  tx: 0,
  ty: 0,
  shear: 0,
  zx: 1,
  zy: 1,
  flip: false,
});

/**
 * Draws one image's parameters from `rng`, in Keras' order (rotation, height
 * shift, width shift, shear, zoom x, zoom y, flip), drawing nothing for a
 * disabled transform.
 */
export function randomAffineParams(
  cfg: AugmentConfig,
  height: number,
  width: number,
  rng: Rng,
): AffineParams {
  const theta = cfg.rotationRange ? rng.uniform(-cfg.rotationRange, cfg.rotationRange) : 0;
  const ty = drawShift(cfg.heightShiftRange, height, rng);
  const tx = drawShift(cfg.widthShiftRange, width, rng);
  const shear = cfg.shearRange ? rng.uniform(-cfg.shearRange, cfg.shearRange) : 0;
  const [lo, hi] = zoomBounds(cfg.zoomRange);
  let zx = 1, zy = 1;
  if (lo !== 1 || hi !== 1) {
    zx = rng.uniform(lo, hi);
    zy = rng.uniform(lo, hi);
  }
  const flip = cfg.horizontalFlip ? rng.next() < 0.5 : false;
  return { theta, tx, ty, shear, zx, zy, flip };
}

function drawShift(range: number, size: number, rng: Rng): number {
  if (!range) return 0;
  if (Number.isInteger(range)) {
    // Keras: np.random.choice(int) picks from 0 … range-1, then a random sign.
    const k = rng.int(range);
    return rng.next() < 0.5 ? -k : k;
  }
  const v = rng.uniform(-range, range);
  return range < 1 ? v * size : v;
}

/**
 * The projective transform of `p` for a `height × width` image as the
 * 8-vector `tf.image.transform` expects ([a0 a1 a2 b0 b1 b2 c0 c1], mapping an
 * output point (x, y) to the input point (a0 x + a1 y + a2, b0 x + b1 y + b2);
 * c0 = c1 = 0 since the transform is affine).
 */
export function transformMatrix(
  p: AffineParams,
  height: number,
  width: number,
): number[] {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  let m: Mat = IDENTITY;
  if (p.theta !== 0) {
    const c = Math.cos(rad(p.theta)), s = Math.sin(rad(p.theta));
    m = mul(m, [c, -s, 0, s, c, 0]);
  }
  if (p.tx !== 0 || p.ty !== 0) m = mul(m, [1, 0, p.tx, 0, 1, p.ty]);
  if (p.shear !== 0) {
    const sh = rad(p.shear);
    m = mul(m, [1, -Math.sin(sh), 0, 0, Math.cos(sh), 0]);
  }
  if (p.zx !== 1 || p.zy !== 1) m = mul(m, [p.zx, 0, 0, 0, p.zy, 0]);
  // About the centre of the pixel grid, as Keras' transform_matrix_offset_center.
  const cx = (width - 1) / 2, cy = (height - 1) / 2;
  m = mul(mul([1, 0, cx, 0, 1, cy], m), [1, 0, -cx, 0, 1, -cy]);
  // Keras flips the transformed image, so the flip acts on output coordinates first.
  if (p.flip) m = mul(m, [-1, 0, width - 1, 0, 1, 0]);
  return [m[0], m[1], m[2], m[3], m[4], m[5], 0, 0];
}

/** Where a transform from {@link transformMatrix} samples the input for output pixel (x, y). */
export function mapOutputToInput(
  t: ArrayLike<number>,
  x: number,
  y: number,
): [number, number] {
  const k = t[6] * x + t[7] * y + 1;
  return [(t[0] * x + t[1] * y + t[2]) / k, (t[3] * x + t[4] * y + t[5]) / k];
}

/** A 2×3 affine matrix, row-major; the last row is implicitly [0 0 1]. */
type Mat = readonly number[];
const IDENTITY: Mat = [1, 0, 0, 0, 1, 0];

function mul(a: Mat, b: Mat): Mat {
  return [
    a[0] * b[0] + a[1] * b[3],
    a[0] * b[1] + a[1] * b[4],
    a[0] * b[2] + a[1] * b[5] + a[2],
    a[3] * b[0] + a[4] * b[3],
    a[3] * b[1] + a[4] * b[4],
    a[3] * b[2] + a[4] * b[5] + a[5],
  ];
}

/** What {@link transformSupport} found out about the current backend. */
export interface TransformSupport {
  backend: string;
  /** The backend registers a "Transform" kernel. */
  kernel: boolean;
  /** One call transforms every image of a batch (false on tfjs-backend-cpu 4.22, see below). */
  batched: boolean;
}

const batchedOk = new Map<string, boolean>();

/**
 * Checks `tf.image.transform` on the current backend. tfjs-backend-cpu 4.22.0
 * returns from inside its per-image loop, so only the first image of a batch
 * is transformed and the rest come back as the fill value; we probe for that
 * once per backend with a two-image batch and, where it shows, transform image
 * by image instead.
 */
export function transformSupport(): TransformSupport {
  const backend = tf.getBackend();
  const kernel = tf.getKernel("Transform", backend) !== undefined;
  if (!kernel) return { backend, kernel, batched: false };
  let batched = batchedOk.get(backend);
  if (batched === undefined) {
    batched = tf.tidy(() => {
      const img = tf.tensor4d([1, 2], [2, 1, 1, 1]);
      const id = tf.tensor2d([[1, 0, 0, 0, 1, 0, 0, 0], [
        1,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
      ]]);
      const out = tf.image.transform(img, id, "nearest", "constant", 0)
        .dataSync();
      return out[0] === 1 && out[1] === 2;
    });
    batchedOk.set(backend, batched);
  }
  return { backend, kernel, batched };
}

/** Fill and interpolation settings of {@link transformBatch}. */
export type ResampleOptions = Pick<
  AugmentConfig,
  "fillMode" | "cval" | "interpolation"
>;

/**
 * Applies given per-image parameters to a batch `[b, h, w, c]` on the tensor
 * backend. The deterministic half of {@link augmentBatch}; returns a new
 * tensor and leaves no intermediates behind.
 */
export function transformBatch(
  x: tf.Tensor4D,
  params: readonly AffineParams[],
  opts: ResampleOptions,
): tf.Tensor4D {
  const [b, h, w] = x.shape;
  if (params.length !== b) {
    throw new AugmentError(
      `transformBatch: ${params.length} parameter sets for ${b} images`,
    );
  }
  const flat = new Float32Array(8 * b);
  params.forEach((p, i) => flat.set(transformMatrix(p, h, w), 8 * i));
  return applyTransforms(x, flat, opts);
}

/**
 * Resamples each image of `x` `[b, h, w, c]` through its own 8-vector of
 * `transforms` (`8 × b` values, as {@link transformMatrix} makes them) into
 * an `outputSize` square (default: the input's own size; a smaller one is a
 * window whose placement the transforms hold). Returns a new tensor and
 * leaves no intermediates behind.
 */
export function applyTransforms(
  x: tf.Tensor4D,
  transforms: Float32Array,
  opts: ResampleOptions,
  outputSize?: number,
): tf.Tensor4D {
  const [b, h, w] = x.shape;
  if (transforms.length !== 8 * b) {
    throw new AugmentError(`applyTransforms: ${transforms.length / 8} transforms for ${b} images`);
  }
  const support = transformSupport();
  if (!support.kernel) {
    throw new AugmentError(
      `tf.image.transform has no "Transform" kernel on the "${support.backend}" backend`,
    );
  }
  const interpolation = opts.interpolation ?? "bilinear";
  const cval = opts.cval ?? 0;
  const shape: [number, number] = outputSize === undefined ? [h, w] : [outputSize, outputSize];
  return tf.tidy(() => {
    const t = tf.tensor2d(transforms, [b, 8]);
    if (b === 1 || support.batched) {
      return tf.image.transform(x, t, interpolation, opts.fillMode, cval, shape);
    }
    const outs: tf.Tensor4D[] = [];
    for (let i = 0; i < b; i++) {
      outs.push(tf.image.transform(
        tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]),
        tf.slice(t, [i, 0], [1, 8]),
        interpolation,
        opts.fillMode,
        cval,
        shape,
      ));
    }
    return tf.concat(outs, 0);
  });
}

/**
 * Augments a batch `[b, h, w, c]` like `ImageDataGenerator.flow`: draws each
 * image's parameters from `rng` (image by image, in Keras' order) and applies
 * them in one `tf.image.transform` call. Returns a new tensor (a copy when
 * `cfg` is {@link NO_AUGMENT}-like, so the caller may always dispose both);
 * leaves no intermediate tensors behind.
 */
export function augmentBatch(
  x: tf.Tensor4D,
  cfg: AugmentConfig,
  rng: Rng,
): tf.Tensor4D {
  if (x.rank !== 4) {
    throw new AugmentError(
      `augmentBatch expects a [batch, height, width, channels] tensor, got shape [${x.shape}]`,
    );
  }
  validateAugmentConfig(cfg);
  if (isNoAugment(cfg)) return tf.clone(x);
  const [b, h, w] = x.shape;
  const params = Array.from(
    { length: b },
    () => randomAffineParams(cfg, h, w, rng),
  );
  return transformBatch(x, params, cfg);
}

/** Options of {@link offlineAugment}. */
export interface OfflineAugmentOptions {
  /** Share of `rows` to augment once each, in [0, 1]. */
  fraction: number;
  config: AugmentConfig;
  rng: Rng;
  /** Images per tensor batch (bounds memory; default 256). */
  batchSize?: number;
}

/**
 * The study's offline augmentation: picks a random `fraction` of the training
 * `rows`, augments each once, and returns a data set with the new images
 * appended (same label and Usage as their originals) together with the
 * training rows followed by the new rows' indices. Works in batches of
 * `batchSize` images; pixels are rounded and clamped back to 0–255. `data`
 * is not modified.
 */
export function offlineAugment(
  data: Fer2013,
  rows: Int32Array,
  opts: OfflineAugmentOptions,
): { data: Fer2013; rows: Int32Array } {
  const { fraction, config, rng } = opts;
  const batchSize = opts.batchSize ?? 256;
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new AugmentError(
      `offline augmentation fraction must be in [0, 1], got ${fraction}`,
    );
  }
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new AugmentError(
      `offline augmentation batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  validateAugmentConfig(config);
  for (const r of rows) {
    if (!(r >= 0 && r < data.n)) {
      throw new AugmentError(
        `offline augmentation: row ${r} is outside ${data.source} (${data.n} rows)`,
      );
    }
  }
  const k = Math.round(fraction * rows.length);
  if (k === 0) return { data, rows: rows.slice() };

  // Partial Fisher–Yates: the first k entries become a uniform random subset.
  const pool = rows.slice();
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pool.length - i);
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  const chosen = pool.subarray(0, k);

  const n = data.n;
  const pixels = new Uint8Array((n + k) * PIXELS);
  pixels.set(data.pixels.subarray(0, n * PIXELS));
  const labels = new Uint8Array(n + k);
  labels.set(data.labels.subarray(0, n));
  const usage = new Uint8Array(n + k);
  usage.set(data.usage.subarray(0, n));

  for (let start = 0; start < k; start += batchSize) {
    const b = Math.min(batchSize, k - start);
    const input = new Float32Array(b * PIXELS);
    for (let i = 0; i < b; i++) {
      const r = chosen[start + i];
      input.set(data.pixels.subarray(r * PIXELS, (r + 1) * PIXELS), i * PIXELS);
      labels[n + start + i] = data.labels[r];
      usage[n + start + i] = data.usage[r];
    }
    const out = tf.tidy(() => {
      const x = tf.tensor4d(input, [b, IMAGE_SIZE, IMAGE_SIZE, 1]);
      return augmentBatch(x, config, rng).dataSync();
    });
    const base = (n + start) * PIXELS;
    for (let i = 0; i < out.length; i++) {
      // Uint8Array would wrap out-of-range values, so clamp explicitly.
      pixels[base + i] = Math.min(255, Math.max(0, Math.round(out[i])));
    }
  }

  const merged = new Int32Array(rows.length + k);
  merged.set(rows);
  for (let i = 0; i < k; i++) merged[rows.length + i] = n + i;
  return {
    data: {
      pixels,
      labels,
      usage,
      n: n + k,
      source: `${data.source} + ${k} offline-augmented rows`,
    },
    rows: merged,
  };
}
