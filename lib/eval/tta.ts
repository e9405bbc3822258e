/**
 * Test-time augmentation (TTA): the views of an image a model is shown at
 * evaluation time, whose predicted probabilities are then averaged.
 *
 * - `"none"`: the image as it is.
 * - `"flip"`: the image and its horizontal mirror (faces are roughly
 *   left-right symmetric and every experiment trains with flips).
 * - `"crops"`: the flip views, each also shifted by {@link CROP_SHIFT} pixels
 *   up, down, left and right (a 48×48 window moved over the edge-padded
 *   image), ten views in all.
 *
 * Views are applied to the raw bytes, in plain JS, so they are exact and the
 * same on every backend.
 *
 * @example
 * ```ts
 * const views = ttaViews("flip"); // [{ name: "identity", ... }, { name: "mirror", flip: true, ... }]
 * const mirrored = transformImages(pixels, 48, views[1]);
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** The TTA modes, for flag validation and help text. */
export const TTA_MODES = ["none", "flip", "crops"] as const;

/** One of {@link TTA_MODES}. */
export type TtaMode = typeof TTA_MODES[number];

/** Pixels a shifted crop moves the 48×48 window by. */
export const CROP_SHIFT = 2;

/** One view of an image: mirrored or not, then shifted by (dx, dy). */
export interface View {
  /** Short name for reports, e.g. "mirror+right2". */
  name: string;
  /** Mirror left-right first. */
  flip: boolean;
  /** The window moves this many pixels right (content moves left). */
  dx: number;
  /** The window moves this many pixels down (content moves up). */
  dy: number;
}

/** A bad TTA request. */
export class TtaError extends UserError {}

/** Checks a user-supplied mode, with a message listing the valid ones. */
export function parseTtaMode(raw: string): TtaMode {
  if (!(TTA_MODES as readonly string[]).includes(raw)) {
    throw new TtaError(`--tta must be one of ${TTA_MODES.join(", ")}, got "${raw}"`);
  }
  return raw as TtaMode;
}

function view(flip: boolean, dx: number, dy: number): View {
  const shift = dx > 0 ? `right${dx}` : dx < 0 ? `left${-dx}` : dy > 0 ? `down${dy}` : dy < 0 ? `up${-dy}` : "";
  const name = [flip ? "mirror" : "", shift].filter(Boolean).join("+") || "identity";
  return { name, flip, dx, dy };
}

/** The views of a mode, identity first. */
export function ttaViews(mode: TtaMode, shift = CROP_SHIFT): View[] {
  const flips = mode === "none" ? [false] : [false, true];
  const offsets: [number, number][] = mode === "crops"
    ? [[0, 0], [-shift, 0], [shift, 0], [0, -shift], [0, shift]]
    : [[0, 0]];
  return flips.flatMap((f) => offsets.map(([dx, dy]) => view(f, dx, dy)));
}

/**
 * Applies `v` to every `size × size` image in `pixels` (row-major, one byte
 * per pixel), returning a new array. Shifts replicate the edge pixels, as a
 * crop of an edge-padded image would.
 *
 * @throws RangeError when `pixels` is not a whole number of images.
 */
export function transformImages(pixels: Uint8Array, size: number, v: View): Uint8Array {
  const px = size * size;
  if (!(Number.isInteger(size) && size > 0) || pixels.length % px !== 0) {
    throw new RangeError(`${pixels.length} bytes are not a whole number of ${size}×${size} images`);
  }
  if (!v.flip && v.dx === 0 && v.dy === 0) return pixels.slice();
  // Source column and row of each output position, computed once for all images.
  const col = new Int32Array(size);
  const row = new Int32Array(size);
  const clamp = (i: number) => Math.min(size - 1, Math.max(0, i));
  for (let i = 0; i < size; i++) {
    const x = clamp(i + v.dx);
    col[i] = v.flip ? size - 1 - x : x;
    row[i] = clamp(i + v.dy);
  }
  const out = new Uint8Array(pixels.length);
  for (let o = 0; o < pixels.length; o += px) {
    for (let y = 0; y < size; y++) {
      const src = o + row[y] * size;
      const dst = o + y * size;
      for (let x = 0; x < size; x++) out[dst + x] = pixels[src + col[x]];
    }
  }
  return out;
}
