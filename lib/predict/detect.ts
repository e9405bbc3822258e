/**
 * Finding the faces in a photo, offline, with the face detectors that
 * `@vladmandic/face-api` ships (SSD MobileNetV1, 5.6 MB, and its Tiny Face
 * Detector, 193 KB), then turning each detection into the square a FER2013
 * face is cut from.
 *
 * The weights are read from the package's `model/` folder in node_modules:
 * nothing is fetched at run time. face-api's `node-wasm` build is the one
 * imported because it `require`s the project's own `@tensorflow/tfjs`, so the
 * detectors run on whatever backend the script selected (wasm with ferlab's
 * kernels, or cpu) and share its engine with the emotion model; its default
 * build bundles a second copy of TF.js with a backend of its own.
 *
 * Only the detectors are used. face-api's expression model is a peer that
 * ferlab's models are measured against, not a part of them.
 *
 * @example
 * ```ts
 * const detectors = await loadDetectors("both");
 * const faces = await detectFaces(await readPhoto("group.jpg"), detectors);
 * for (const f of faces) console.log(f.crop, f.score); // crop: FER2013-style square
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import * as faceapi from "@vladmandic/face-api/dist/face-api.node-wasm.js";
import sharp from "sharp";
import { UserError } from "../errors.ts";
import {
  DEFAULT_MIN_SCORE,
  DETECT_MAX_SIDE,
  type Detection,
  type DetectorChoice,
  type DetectorName,
  detectorNames,
  ferCrop,
  mergeDetections,
  TINY_INPUT,
} from "./fer_crop.ts";

// The geometry lives in fer_crop.ts so that the browser demo bundles it without TF.js's Node build or sharp;
// callers of detect.ts get all of it from here.
export * from "./fer_crop.ts";

/** Where the package keeps its weights (`nodeModulesDir: "auto"` puts the package there). */
export const MODEL_DIR = new URL("../../node_modules/@vladmandic/face-api/model/", import.meta.url).pathname;

/** Weights file stems in {@link MODEL_DIR}. */
const WEIGHTS: Record<DetectorName | "landmarks", string> = {
  ssd: "ssd_mobilenetv1_model",
  tiny: "tiny_face_detector_model",
  landmarks: "face_landmark_68_model",
};

/** A face detector's weights could not be read. */
export class DetectorError extends UserError {}

/** An upright photo as interleaved RGB bytes. */
export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** The loaded detector networks. */
export interface Detectors {
  names: DetectorName[];
}

const loaded = new Set<DetectorName | "landmarks">();

/** Reads a TF.js weights manifest and its shards from {@link MODEL_DIR}. */
async function readWeightMap(stem: string): Promise<tf.NamedTensorMap> {
  const manifestPath = `${MODEL_DIR}${stem}-weights_manifest.json`;
  try {
    const manifest = JSON.parse(await Deno.readTextFile(manifestPath)) as tf.io.WeightsManifestConfig;
    const shards = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => Deno.readFile(MODEL_DIR + p)));
    const bytes = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
    let at = 0;
    for (const s of shards) bytes.set(s, (at += s.length) - s.length);
    return tf.io.decodeWeights(bytes.buffer, manifest.flatMap((g) => g.weights));
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
    throw new DetectorError(
      `face detector weights ${manifestPath}: ${why} (they come with the npm package @vladmandic/face-api: ` +
        "run deno install)",
      { cause: e },
    );
  }
}

/** Loads the networks of `choice` (once per process) on the current TF.js backend. */
export async function loadDetectors(choice: DetectorChoice): Promise<Detectors> {
  const names = detectorNames(choice);
  for (const name of names) {
    if (loaded.has(name)) continue;
    const net = name === "ssd" ? faceapi.nets.ssdMobilenetv1 : faceapi.nets.tinyFaceDetector;
    // face-api's declarations inline their own copy of TF.js's types; at run time the tensors are the project's.
    net.loadFromWeightMap(
      (await readWeightMap(WEIGHTS[name])) as unknown as Parameters<typeof net.loadFromWeightMap>[0],
    );
    loaded.add(name);
  }
  return { names };
}

/** Options of {@link detectFaces}. */
export interface DetectOptions {
  /** Drop detections scoring below this (default {@link DEFAULT_MIN_SCORE}). */
  minScore?: number;
}

/**
 * Every detection of every loaded network, unmerged, in pixels of `image`
 * (which should be at most {@link DETECT_MAX_SIDE} on its longer side; see
 * {@link detectFaces}).
 */
export async function detectRaw(
  image: RgbImage,
  detectors: Detectors,
  { minScore = DEFAULT_MIN_SCORE }: DetectOptions = {},
): Promise<Detection[]> {
  const input = tf.tensor3d(image.rgb, [image.height, image.width, 3], "int32");
  try {
    const out: Detection[] = [];
    for (const name of detectors.names) {
      const options = name === "ssd"
        ? new faceapi.SsdMobilenetv1Options({ minConfidence: minScore, maxResults: 100 })
        : new faceapi.TinyFaceDetectorOptions({ inputSize: TINY_INPUT, scoreThreshold: minScore });
      // face-api types its input as its bundled TF.js's tensor; the object is the project's (the same class at run time).
      const found = await faceapi.detectAllFaces(input as unknown as faceapi.TNetInput, options);
      for (const f of found) {
        const box = { x: f.box.x, y: f.box.y, w: f.box.width, h: f.box.height };
        out.push({ detector: name, score: f.score, box, crop: ferCrop(name, box) });
      }
    }
    return out;
  } finally {
    input.dispose();
  }
}

/**
 * The faces in `image`: every loaded network runs on it (shrunk by sharp to
 * {@link DETECT_MAX_SIDE} first when larger), their detections are merged,
 * and boxes come back in `image`'s pixels.
 */
export async function detectFaces(
  image: RgbImage,
  detectors: Detectors,
  opts: DetectOptions = {},
): Promise<Detection[]> {
  const f = Math.min(1, DETECT_MAX_SIDE / Math.max(image.width, image.height));
  let shown = image;
  if (f < 1) {
    const width = Math.round(image.width * f), height = Math.round(image.height * f);
    const data = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(width, height, { fit: "fill" }).raw().toBuffer();
    shown = { rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
  }
  const sx = image.width / shown.width, sy = image.height / shown.height;
  const raw = await detectRaw(shown, detectors, opts);
  const scaled = raw.map((d) => {
    const box = { x: d.box.x * sx, y: d.box.y * sy, w: d.box.w * sx, h: d.box.h * sy };
    return { ...d, box, crop: ferCrop(d.detector, box) };
  });
  return mergeDetections(scaled);
}

/** A point in a photo's pixels. */
export interface Point {
  x: number;
  y: number;
}

/** Where a face's eyes are, and how far the line between them tilts. */
export interface Eyes {
  /** Centre of the eye on the photo's left (landmarks 36–41 of the 68). */
  left: Point;
  /** Centre of the eye on the photo's right (landmarks 42–47). */
  right: Point;
  /** Angle of the line from `left` to `right` in degrees, clockwise positive (y points down). */
  angle: number;
}

const centroid = (points: readonly Point[]): Point => ({
  x: points.reduce((s, p) => s + p.x, 0) / points.length,
  y: points.reduce((s, p) => s + p.y, 0) / points.length,
});

/**
 * The eyes of a detected face, from face-api's 68-point landmark network
 * (356 KB, loaded on first use) run on the face's FER2013-style square:
 * square, so the network's resize to 112 pixels does not distort it.
 */
export async function findEyes(image: RgbImage, detection: Detection): Promise<Eyes> {
  if (!loaded.has("landmarks")) {
    const net = faceapi.nets.faceLandmark68Net;
    net.loadFromWeightMap(
      (await readWeightMap(WEIGHTS.landmarks)) as unknown as Parameters<typeof net.loadFromWeightMap>[0],
    );
    loaded.add("landmarks");
  }
  const { x, y, w: side } = detection.crop;
  const rgb = new Uint8Array(side * side * 3);
  for (let r = 0; r < side; r++) {
    const sy = Math.min(image.height - 1, Math.max(0, y + r));
    for (let c = 0; c < side; c++) {
      const at = 3 * (sy * image.width + Math.min(image.width - 1, Math.max(0, x + c)));
      rgb.set(image.rgb.subarray(at, at + 3), 3 * (r * side + c));
    }
  }
  const input = tf.tensor3d(rgb, [side, side, 3], "int32");
  try {
    const found = await faceapi.nets.faceLandmark68Net.detectLandmarks(input as unknown as faceapi.TNetInput);
    const marks = Array.isArray(found) ? found[0] : found;
    const shift = (p: Point) => ({ x: p.x + x, y: p.y + y });
    const left = shift(centroid(marks.getLeftEye())), right = shift(centroid(marks.getRightEye()));
    return { left, right, angle: (Math.atan2(right.y - left.y, right.x - left.x) * 180) / Math.PI };
  } finally {
    input.dispose();
  }
}
