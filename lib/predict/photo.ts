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
import { cropRegion } from "./fer_crop.ts";

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

/** A decoded photo, upright by its EXIF orientation. */
export interface Photo {
  /** The file read. */
  file: string;
  width: number;
  height: number;
  /** `width × height` grayscale bytes, row-major. */
  gray: Uint8Array;
  /** `width × height × 3` RGB bytes (what the face detectors take). */
  rgb: Uint8Array;
}

/**
 * Reads and decodes `file`.
 *
 * @throws DataError naming the file when it is missing, unreadable or not a
 *   decodable image.
 */
export async function readPhoto(file: string): Promise<Photo> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError(file, null, "file not found");
    if (e instanceof Deno.errors.IsADirectory) throw new DataError(file, null, "is a folder, not an image");
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new DataError(file, null, `cannot read (${(e as Error).message})`);
  }
  return await decodePhoto(file, bytes);
}

/**
 * Decodes an encoded image (`file` names it in errors).
 *
 * @throws DataError when the bytes are empty or not a decodable image.
 */
export async function decodePhoto(file: string, bytes: Uint8Array): Promise<Photo> {
  if (bytes.length === 0) throw new DataError(file, null, "empty file");
  try {
    // Alpha is dropped before graying so the result is exactly one channel.
    const upright = sharp(bytes).autoOrient().removeAlpha();
    const gray = await upright.clone().grayscale().raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    // A grayscale or CMYK file still gives three channels, as the detectors expect.
    const rgb = await upright.clone().toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({
      resolveWithObject: true,
    });
    const { width, height } = gray.info;
    if (rgb.info.channels !== 3 || rgb.data.length !== width * height * 3) {
      throw new Error(`decoded to ${rgb.info.channels} colour channels`);
    }
    return { file, width, height, gray: bytesOf(gray.data), rgb: bytesOf(rgb.data) };
  } catch (e) {
    throw new DataError(file, null, `not a readable JPEG, PNG or WebP image (${(e as Error).message})`);
  }
}

function bytesOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * The region `box` of a photo's gray bytes, resized to `size × size`. Parts
 * of the box past the photo's edges repeat its edge pixels, so that a face
 * at the border keeps its place in the square instead of being stretched.
 * With `angle` (degrees, clockwise positive) the square is turned about its
 * centre by that angle before it is cut, so that a line at that angle in the
 * photo comes out level (eye alignment).
 */
export async function cropGray(
  photo: Pick<Photo, "gray" | "width" | "height">,
  box: Box,
  size = IMAGE_SIZE,
  angle = 0,
): Promise<Uint8Array> {
  const region = cropRegion(photo.gray, photo.width, photo.height, box, angle);
  const data = await sharp(region, { raw: { width: box.w, height: box.h, channels: 1 } })
    .resize(size, size, { fit: "fill" })
    .grayscale()
    .raw({ depth: "uchar" })
    .toBuffer();
  if (data.length !== size * size) throw new Error(`a ${box.w}×${box.h} crop resized to ${data.length} bytes`);
  return bytesOf(data);
}

/**
 * Reads `file` and returns its face as `size × size` grayscale bytes.
 *
 * @throws DataError naming the file when it is missing, unreadable, not a
 *   decodable image, or the box reaches outside it.
 */
export async function loadFace(file: string, { box, size = IMAGE_SIZE }: FaceOptions = {}): Promise<Face> {
  return faceOf(await readPhoto(file), { box, size });
}

/**
 * The face of a read photo: the given box, or the centre square.
 *
 * @throws DataError when the box reaches outside the photo.
 */
export async function faceOf(photo: Photo, { box, size = IMAGE_SIZE }: FaceOptions = {}): Promise<Face> {
  const { file, width, height } = photo;
  const region = box ?? centreSquare(width, height);
  if (region.x + region.w > width || region.y + region.h > height) {
    throw new DataError(
      file,
      "--box",
      `${region.x},${region.y},${region.w},${region.h} reaches outside the ${width}×${height} image`,
    );
  }
  return {
    file,
    width,
    height,
    box: region,
    crop: box ? "box" : "centre",
    pixels: await cropGray(photo, region, size),
  };
}
