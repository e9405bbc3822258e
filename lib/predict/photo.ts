/**
 * Turning an ordinary photo (JPEG, PNG, WebP, any size, colour or not) into
 * the 48×48 grayscale face a FER2013 model expects: decode, upright by its
 * EXIF orientation, take the face box (given, or the largest centred square),
 * then gray and resize.
 *
 * Decoding and cropping are two sharp passes on purpose: the box is in the
 * coordinates of the upright image, which only exist after the first pass.
 *
 * @example
 * ```ts
 * const face = await loadFace("me.jpg");                         // centre crop
 * const given = await loadFace("group.png", { box: parseBox("120,40,96,96") });
 * console.log(given.pixels.length); // 2304
 * ```
 *
 * @module
 */
import sharp from "sharp";
import { DataError, IMAGE_SIZE } from "../data/fer2013.ts";
import { UserError } from "../errors.ts";

/** A face box in pixels of the upright photo: left, top, width, height. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A photo ready for a model. */
export interface Face {
  /** The file read. */
  file: string;
  /** Size of the upright photo. */
  width: number;
  height: number;
  /** The region used (given box, or the centre square). */
  box: Box;
  /** Whether the box was given or is the centre crop. */
  crop: "box" | "centre";
  /** `size × size` grayscale bytes, row-major. */
  pixels: Uint8Array;
}

/** A bad `--box` value. */
export class BoxError extends UserError {}

/**
 * Parses `x,y,w,h` (non-negative integers, positive width and height).
 *
 * @throws BoxError naming the problem.
 */
export function parseBox(raw: string): Box {
  const parts = raw.split(",").map((p) => p.trim());
  const nums = parts.map(Number);
  if (parts.length !== 4 || parts.some((p) => p === "") || nums.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new BoxError(`--box expects four non-negative integers x,y,w,h, got "${raw}"`);
  }
  const [x, y, w, h] = nums;
  if (w === 0 || h === 0) throw new BoxError(`--box width and height must be positive, got "${raw}"`);
  return { x, y, w, h };
}

/** The largest square centred in a `width × height` image. */
export function centreSquare(width: number, height: number): Box {
  const side = Math.min(width, height);
  return { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), w: side, h: side };
}

/** Options of {@link loadFace}. */
export interface FaceOptions {
  /** The face's box; default the centre square. */
  box?: Box;
  /** Output side (default 48). */
  size?: number;
}

/**
 * Reads `file` and returns its face as `size × size` grayscale bytes.
 *
 * @throws DataError naming the file when it is missing, unreadable, not a
 *   decodable image, or the box reaches outside it.
 */
export async function loadFace(file: string, { box, size = IMAGE_SIZE }: FaceOptions = {}): Promise<Face> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError(file, null, "file not found");
    if (e instanceof Deno.errors.IsADirectory) throw new DataError(file, null, "is a folder, not an image");
    throw new DataError(file, null, `cannot read (${(e as Error).message})`);
  }
  if (bytes.length === 0) throw new DataError(file, null, "empty file");
  let gray: { data: Uint8Array; width: number; height: number };
  try {
    // Alpha is dropped before graying so the result is exactly one channel.
    const { data, info } = await sharp(bytes).autoOrient().removeAlpha().grayscale().raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    gray = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    throw new DataError(file, null, `not a readable JPEG, PNG or WebP image (${(e as Error).message})`);
  }
  const { width, height } = gray;
  const region = box ?? centreSquare(width, height);
  if (region.x + region.w > width || region.y + region.h > height) {
    throw new DataError(
      file,
      "--box",
      `${region.x},${region.y},${region.w},${region.h} reaches outside the ${width}×${height} image`,
    );
  }
  const { data } = await sharp(gray.data, { raw: { width, height, channels: 1 } })
    .extract({ left: region.x, top: region.y, width: region.w, height: region.h })
    .resize(size, size, { fit: "fill" })
    .grayscale()
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (data.length !== size * size) {
    throw new DataError(file, null, `decoded to ${data.length} bytes, expected ${size}×${size}`);
  }
  return {
    file,
    width,
    height,
    box: region,
    crop: box ? "box" : "centre",
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}
