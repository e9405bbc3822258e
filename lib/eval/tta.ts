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
 * A model trained on random crops (its input smaller than the stored image,
 * see `lib/models/input_spec.ts`) is shown crops of its own input size
 * instead: `"none"` is the centre crop, `"flip"` the centre crop and its
 * mirror, and `"crops"` the literature's ten-crop — the four corners and the
 * centre, each also of the mirrored image (as torchvision's `TenCrop`).
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

/** What the tools accept: a mode for every model, or `auto`, each model's own recorded default. */
export const TTA_CHOICES = ["auto", ...TTA_MODES] as const;

/** One of {@link TTA_CHOICES}. */
export type TtaChoice = typeof TTA_CHOICES[number];

/** Pixels a shifted crop moves the 48×48 window by. */
export const CROP_SHIFT = 2;

/** One view of an image: mirrored or not, then a window of it, shifted by (dx, dy). */
export interface View {
  /** Short name for reports, e.g. "mirror+right2", "mirror+top-left". */
  name: string;
  /** Mirror left-right first. */
  flip: boolean;
  /** The window's left edge: it moves this many pixels right (content moves left). */
  dx: number;
  /** The window's top edge: it moves this many pixels down (content moves up). */
  dy: number;
  /** Side of the window (default: the image's own, so a view keeps the image's size). */
  size?: number;
}

/** The sides a view list is made for: the stored image's, and the model input's (smaller for a crop model). */
export interface ViewSizes {
  imageSize: number;
  inputSize: number;
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

/**
 * The views of a mode, identity (or centre crop) first. With `sizes` whose
 * input side is smaller than the image's, the views are crops of the input
 * side (see the module docs); otherwise whole-image views.
 *
 * @throws TtaError when the crop does not fit the image or cannot be centred (an odd difference of sides).
 */
export function ttaViews(mode: TtaMode, sizes?: ViewSizes): View[] {
  const flips = mode === "none" ? [false] : [false, true];
  if (sizes && sizes.inputSize !== sizes.imageSize) return cropViews(flips, mode === "crops", sizes);
  const offsets: [number, number][] = mode === "crops"
    ? [[0, 0], [-CROP_SHIFT, 0], [CROP_SHIFT, 0], [0, -CROP_SHIFT], [0, CROP_SHIFT]]
    : [[0, 0]];
  return flips.flatMap((f) => offsets.map(([dx, dy]) => view(f, dx, dy)));
}

function cropViews(flips: boolean[], corners: boolean, { imageSize, inputSize }: ViewSizes): View[] {
  const margin = imageSize - inputSize;
  if (!(Number.isInteger(inputSize) && inputSize >= 1 && margin > 0 && margin % 2 === 0)) {
    throw new TtaError(
      `a ${inputSize}-pixel crop of a ${imageSize}-pixel image cannot be centred ` +
        "(the crop must be smaller by an even number of pixels)",
    );
  }
  const c = margin / 2;
  const places: [string, number, number][] = [["centre", c, c]];
  if (corners) {
    places.push(["top-left", 0, 0], ["top-right", margin, 0], ["bottom-left", 0, margin], [
      "bottom-right",
      margin,
      margin,
    ]);
  }
  return flips.flatMap((flip) =>
    places.map(([where, dx, dy]) => ({ name: flip ? `mirror+${where}` : where, flip, dx, dy, size: inputSize }))
  );
}

/**
 * Applies `v` to every `size × size` image in `pixels` (row-major, one byte
 * per pixel), returning a new array of `v.size × v.size` images (`size` when
 * the view has none). Shifts replicate the edge pixels, as a crop of an
 * edge-padded image would.
 *
 * @throws RangeError when `pixels` is not a whole number of images or the view's window is not a positive integer.
 */
export function transformImages(pixels: Uint8Array, size: number, v: View): Uint8Array {
  const px = size * size;
  if (!(Number.isInteger(size) && size > 0) || pixels.length % px !== 0) {
    throw new RangeError(`${pixels.length} bytes are not a whole number of ${size}×${size} images`);
  }
  const side = v.size ?? size;
  if (!(Number.isInteger(side) && side > 0)) throw new RangeError(`view ${v.name}: window side ${side}`);
  if (!v.flip && v.dx === 0 && v.dy === 0 && side === size) return pixels.slice();
  // Source column and row of each output position, computed once for all images.
  const col = new Int32Array(side);
  const row = new Int32Array(side);
  const clamp = (i: number) => Math.min(size - 1, Math.max(0, i));
  for (let i = 0; i < side; i++) {
    const x = clamp(i + v.dx);
    col[i] = v.flip ? size - 1 - x : x;
    row[i] = clamp(i + v.dy);
  }
  const n = pixels.length / px;
  const out = new Uint8Array(n * side * side);
  for (let k = 0; k < n; k++) {
    const o = k * px;
    for (let y = 0; y < side; y++) {
      const src = o + row[y] * size;
      const dst = (k * side + y) * side;
      for (let x = 0; x < side; x++) out[dst + x] = pixels[src + col[x]];
    }
  }
  return out;
}
