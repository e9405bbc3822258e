/**
 * From a face detector's box to the square a FER2013 face is cut from, and
 * from several detectors' boxes to one per face: plain geometry with no
 * TF.js, face-api, sharp or Deno in it, so that `deno task predict`
 * (`detect.ts`, `photo.ts`) and the browser demo (`lib/demo/page.ts`,
 * bundled for the page) crop faces with the same code and the same measured
 * margins.
 *
 * @example
 * ```ts
 * const crop = ferCrop("ssd", { x: 100, y: 80, w: 80, h: 104 });
 * const faces = mergeDetections([...ssdFound, ...tinyFound]);
 * const square = cropRegion(gray, width, height, crop); // crop.w × crop.h bytes, edges repeated
 * ```
 *
 * @module
 */
import type { Box } from "./photo.ts";

/** The detectors: SSD MobileNetV1, face-api's Tiny Face Detector, or both merged. */
export const DETECTORS = ["both", "ssd", "tiny"] as const;
/** One of {@link DETECTORS}. */
export type DetectorChoice = typeof DETECTORS[number];
/** A single detector network. */
export type DetectorName = Exclude<DetectorChoice, "both">;

/** The networks a choice runs. */
export function detectorNames(choice: DetectorChoice): DetectorName[] {
  return choice === "both" ? ["ssd", "tiny"] : [choice];
}

/**
 * Default score below which a detection is dropped. On the 200 scenes of
 * reports/detect_scenes.md the merged detectors find 83% of the faces at 0.3
 * with one false detection, 72% at face-api's default 0.5 (none), 86% at 0.2
 * (one). 0.3 rather than 0.2: these scenes hold less face-like clutter than
 * real photos, whose faces (sharp, with hair and shoulders) score high anyway.
 */
export const DEFAULT_MIN_SCORE = 0.3;

/**
 * Side of the image the detectors are shown, at most: both shrink their input
 * to 512 (SSD) or 608 (tiny, {@link TINY_INPUT}) pixels with bilinear resampling, which aliases
 * when it shrinks a large photo many times over, so the caller (sharp in
 * Deno, the canvas in the browser) does most of the shrinking first.
 */
export const DETECT_MAX_SIDE = 1024;

/**
 * How a detector's box maps to the square a FER2013 face is cropped to:
 * `side = scale·√(w·h)`, centre moved by `(dx, dy)·√(w·h)`. Measured by
 * `tools/detect_scenes.ts` as the medians over detections of PublicTest
 * faces pasted at known squares (seed 2, 300 scenes). SSD's box is narrow and
 * tall (h/w ≈ 1.3): the FER square is about as tall and 28% wider. The tiny
 * detector's box is about the square's size but sits lower by a tenth of it:
 * FER2013's crops keep the forehead and cut below the chin.
 */
export const FER_CROP: Record<DetectorName, { scale: number; dx: number; dy: number }> = {
  ssd: { scale: 1.121, dx: 0.012, dy: -0.011 },
  tiny: { scale: 1.011, dx: 0.017, dy: -0.109 },
};

/**
 * The tiny detector's input side (a multiple of 32). On 100 scenes of
 * `tools/detect_scenes.ts` (seed 3) it found 72% of the faces at 608 against
 * 62% at face-api's default 416 (82% against 79% merged with SSD), with no
 * more false detections, for about 100 ms more a photo.
 */
export const TINY_INPUT = 608;

/** A box with fractional pixel coordinates. */
export interface RealBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One detected face, in pixels of the photo it was found in. */
export interface Detection {
  /** The network that found it. */
  detector: DetectorName;
  /** Its confidence, 0–1. */
  score: number;
  /** The detector's own box. */
  box: RealBox;
  /** The FER2013-style square around it (may reach past the photo's edges). */
  crop: Box;
}

/** The FER2013-style square for a detector's box, rounded to whole pixels. */
export function ferCrop(detector: DetectorName, box: RealBox): Box {
  const { scale, dx, dy } = FER_CROP[detector];
  const unit = Math.sqrt(box.w * box.h);
  const side = Math.max(1, Math.round(scale * unit));
  const cx = box.x + box.w / 2 + dx * unit;
  const cy = box.y + box.h / 2 + dy * unit;
  return { x: Math.round(cx - side / 2), y: Math.round(cy - side / 2), w: side, h: side };
}

/** Intersection over union of two boxes. */
export function iou(a: RealBox, b: RealBox): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** The share of the smaller box that lies inside the other. */
export function containment(a: RealBox, b: RealBox): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w <= 0 || h <= 0 ? 0 : (w * h) / Math.min(a.w * a.h, b.w * b.h);
}

/**
 * One detection per face from several detectors' lists: the highest score
 * first, then every detection whose crop overlaps a kept one by IoU ≥
 * `overlap`, or lies mostly (≥ `nested`) inside one or around one, is
 * dropped: the two detectors' crops of one face differ in size more than IoU
 * alone allows for, and a detector sometimes also finds a part of a face.
 * Sorted left to right (then top to bottom) so that face numbers read like
 * the photo.
 */
export function mergeDetections(detections: readonly Detection[], overlap = 0.3, nested = 0.7): Detection[] {
  const kept: Detection[] = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => iou(k.crop, d.crop) < overlap && containment(k.crop, d.crop) < nested)) kept.push(d);
  }
  return kept.sort((a, b) => a.crop.x - b.crop.x || a.crop.y - b.crop.y);
}

/**
 * The region `box` of a `width × height` gray image, at the image's own
 * resolution (`box.w × box.h` bytes; the caller resizes it). Parts of the box
 * past the image's edges repeat its edge pixels, so that a face at the border
 * keeps its place in the square instead of being stretched. With `angle`
 * (degrees, clockwise positive) the square is turned about its centre by that
 * angle before it is cut, so that a line at that angle in the image comes out
 * level (eye alignment).
 */
export function cropRegion(gray: Uint8Array, width: number, height: number, box: Box, angle = 0): Uint8Array {
  const region = new Uint8Array(box.w * box.h);
  const at = (x: number, y: number) =>
    gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))];
  if (angle === 0) {
    for (let y = 0; y < box.h; y++) for (let x = 0; x < box.w; x++) region[y * box.w + x] = at(box.x + x, box.y + y);
    return region;
  }
  // Bilinear samples along the turned axes, at the image's own resolution: the caller then shrinks them with filtering.
  const cos = Math.cos((angle * Math.PI) / 180), sin = Math.sin((angle * Math.PI) / 180);
  const cx = box.x + box.w / 2, cy = box.y + box.h / 2;
  for (let y = 0; y < box.h; y++) {
    for (let x = 0; x < box.w; x++) {
      const u = x + 0.5 - box.w / 2, v = y + 0.5 - box.h / 2;
      const sx = cx + u * cos - v * sin - 0.5, sy = cy + u * sin + v * cos - 0.5;
      const x0 = Math.floor(sx), y0 = Math.floor(sy), fx = sx - x0, fy = sy - y0;
      const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
      const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
      region[y * box.w + x] = Math.round(top * (1 - fy) + bottom * fy);
    }
  }
  return region;
}
