/**
 * The JavaScript peers' emotion models, and ferlab's own saved models, behind
 * one interface: a batch of FER2013 faces in, seven probabilities per face
 * out, in FER2013's label order. `bench/peers.ts` measures them side by side.
 *
 * - **face-api.js** (`@vladmandic/face-api`, `model/face_expression_model*`):
 *   a DenseNet-style feature extractor and a linear classifier, run by the
 *   package's own `FaceExpressionNet.forward`. It takes a face crop as an RGB
 *   image of any size, pads it to a square, resizes it bilinearly to 112×112,
 *   subtracts a per-channel mean and divides by 255
 *   (`src/faceFeatureExtractor/FaceFeatureExtractor.ts`). Labels: neutral,
 *   happy, sad, angry, fearful, disgusted, surprised
 *   (`src/faceExpressionNet/FaceExpressions.ts`). Its crop is the detector's
 *   box, or the landmarks' box when landmarks ran.
 * - **Human** (`@vladmandic/human`, `models/emotion.json`): a mini-Xception
 *   graph model from oarriaga/face_classification, 64×64 grayscale. Human cuts
 *   each face out of the frame (BlazeFace's box enlarged 1.4× and squared) at
 *   its mesh model's input side, 192 with the default config, as RGB in
 *   [0, 1]; the emotion model's step resizes that bilinearly to 64×64, takes
 *   luma (0.2989 R + 0.5870 G + 0.1140 B) and maps it to [-1, 1]
 *   (`src/gear/emotion.ts`, `src/face/facemeshutil.ts`). For a grayscale model
 *   Human names the outputs in FER2013's own order.
 * - **ferlab's models** (`reports/models/NN_x`): 48×48 grayscale in [0, 1], a
 *   crop model's centre crop, as `lib/eval/metrics.ts` feeds them.
 *
 * A FER2013 face is already a face crop, so each peer is given the whole
 * 48×48 square as the crop its detector would have made, gray in all three
 * channels where it wants RGB (what drawing a gray image gives a browser).
 * Their detectors frame faces somewhat differently from FER2013's crops,
 * which may cost them some accuracy here; that is the price of measuring
 * every model on the very same pixels.
 *
 * Weights are read from node_modules: nothing is fetched.
 *
 * @example
 * ```ts
 * const peer = await loadFaceApiExpression();
 * const crops = peer.cut(faces); // faces: [b, 48, 48, 1] in 0–255
 * const probs = await peer.predict(crops); // [b, 7], FER2013 order
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import * as faceapi from "@vladmandic/face-api/dist/face-api.node-wasm.js";
import { basename, join } from "node:path";
import { UserError } from "../errors.ts";
import { EMOTIONS, IMAGE_SIZE } from "../data/fer2013.ts";
import { type TtaMode, ttaViews, type View } from "../eval/tta.ts";
import { fitToInput } from "../data/crops.ts";
import { loadModel, WEIGHTS_BIN } from "../models/io.ts";
import { inputSide, modelInput } from "../models/input_spec.ts";

/** The peers this module can load. */
export const PEERS = ["face-api", "human"] as const;
/** One of {@link PEERS}. */
export type PeerName = typeof PEERS[number];

/** face-api.js's expression labels, in its output order. */
export const FACE_API_LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"] as const;

/** Human's labels for a grayscale emotion model (oarriaga's FER2013 order), in its output order. */
export const HUMAN_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"] as const;

/** A peer's label name → FER2013's (face-api says "fearful" for "fear", and so on). */
const SYNONYMS: Record<string, (typeof EMOTIONS)[number]> = {
  fearful: "fear",
  disgusted: "disgust",
  surprised: "surprise",
};

/** A label list that does not name FER2013's seven emotions once each. */
export class LabelError extends UserError {}

/**
 * For each FER2013 class (0 angry … 6 neutral), the column of a model whose
 * outputs are named `labels` that holds it: gathering those columns puts the
 * model's probabilities in FER2013's order.
 *
 * @throws LabelError when `labels` does not name each of the seven emotions exactly once.
 */
export function ferOrder(labels: readonly string[]): number[] {
  const canonical = labels.map((l) => SYNONYMS[l] ?? l);
  const order = EMOTIONS.map((e) => canonical.indexOf(e));
  const missing = EMOTIONS.filter((_, i) => order[i] < 0);
  if (labels.length !== EMOTIONS.length || missing.length > 0 || new Set(canonical).size !== labels.length) {
    throw new LabelError(
      `labels [${labels.join(", ")}] do not name FER2013's seven emotions once each` +
        (missing.length ? ` (missing: ${missing.join(", ")})` : ""),
    );
  }
  return order;
}

/** What the peers bench records of a model besides its scores: the facts `reports/peers.json` keeps. */
export interface ClassifierFacts {
  /** Short name for tables: "face-api.js", "Human", "05_budget". */
  name: string;
  kind: "peer" | "ours";
  /** Where it came from: the npm package and version, or the model folder. */
  source: string;
  /** Trainable numbers in its weights. */
  params: number;
  /** Bytes of its weight files, as shipped. */
  weightBytes: number;
  /** Those files, relative to the project. */
  weightFiles: string[];
  /** How its weights are stored ("float32", "uint8-quantized float32"). */
  weightFormat: string;
  /** What it is shown, in words. */
  input: string;
  /** Its output labels in its own order, and the columns that give FER2013's order. */
  labels: readonly string[];
  order: number[];
}

/** A model measured by the peers bench. */
export interface Classifier extends ClassifierFacts {
  /** The views of a stored 48×48 face it is shown for a TTA mode (crop models: crops of their input side). */
  views(mode: TtaMode): View[];
  /**
   * The face crop as the library hands it to its emotion model, from faces
   * `[b, s, s, 1]` holding 0–255 (`s` the view's side): a step each pipeline
   * takes when it cuts a face out of a photo, so it is not timed.
   */
  cut(faces: tf.Tensor4D): tf.Tensor4D;
  /** Probabilities `[b, 7]` in FER2013's order for crops made by {@link cut}. */
  predict(crops: tf.Tensor4D): Promise<tf.Tensor2D>;
  /** Frees its weights. */
  dispose(): void;
}

/** Where `nodeModulesDir: "auto"` puts npm packages. */
export const NODE_MODULES = new URL("../../node_modules/", import.meta.url).pathname;

/** face-api's weights folder and file stem. */
export const FACE_API_MODEL = { dir: join(NODE_MODULES, "@vladmandic/face-api/model"), stem: "face_expression_model" };

/** Human's emotion model (topology JSON; its weights are the .bin beside it). */
export const HUMAN_MODEL = join(NODE_MODULES, "@vladmandic/human/models/emotion.json");

/**
 * Human's face crop side with its default config: its mesh model's input
 * (facemesh.json takes 192×192), which the emotion step then resizes to 64.
 */
export const HUMAN_CROP_SIDE = 192;

/** A peer's weights are not installed (or not readable). */
export class PeerMissing extends UserError {}

/** The files a peer needs, so callers (and tests) can tell whether it is installed. */
export function peerFiles(name: PeerName): string[] {
  return name === "face-api"
    ? [join(FACE_API_MODEL.dir, `${FACE_API_MODEL.stem}-weights_manifest.json`)]
    : [HUMAN_MODEL, HUMAN_MODEL.replace(/\.json$/, ".bin")];
}

/** Null when every file of peer `name` exists, else why not (for a skip message). */
export async function peerMissing(name: PeerName): Promise<string | null> {
  for (const f of peerFiles(name)) {
    try {
      await Deno.stat(f);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        const pkg = name === "face-api" ? "@vladmandic/face-api" : "@vladmandic/human";
        return `${f} not found (it comes with the npm package ${pkg}: run deno install)`;
      }
      throw e;
    }
  }
  return null;
}

async function requirePeer(name: PeerName): Promise<void> {
  const why = await peerMissing(name);
  if (why) throw new PeerMissing(`${name}: ${why}`);
}

async function packageVersion(pkg: string): Promise<string> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(join(NODE_MODULES, pkg, "package.json")));
    return `${pkg}@${meta.version}`;
  } catch {
    return pkg;
  }
}

/** Paths under the project root are reported relative to it, so reports do not name this machine's folders. */
function relative(path: string): string {
  const root = new URL("../../", import.meta.url).pathname;
  return path.startsWith(root) ? path.slice(root.length) : path;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Gray faces in 0–255 as float32; a bool or int input would make the peers' arithmetic integer. */
const asFloat = (x: tf.Tensor4D) => (x.dtype === "float32" ? x : tf.cast(x, "float32"));

/** The columns `order` (from {@link ferOrder}) of `probs`, so FER2013's order; disposes `probs`. */
export function toFerOrder(probs: tf.Tensor2D, order: number[]): tf.Tensor2D {
  const out = tf.tidy(() => tf.gather(probs, order, 1) as tf.Tensor2D);
  probs.dispose();
  return out;
}

/** face-api.js's expression model, weights from node_modules, run by the package on the current backend. */
export async function loadFaceApiExpression(): Promise<Classifier> {
  await requirePeer("face-api");
  const manifestPath = peerFiles("face-api")[0];
  const manifest = JSON.parse(await Deno.readTextFile(manifestPath)) as tf.io.WeightsManifestConfig;
  const shardPaths = manifest.flatMap((g) => g.paths).map((p) => join(FACE_API_MODEL.dir, p));
  const shards = await Promise.all(shardPaths.map((p) => Deno.readFile(p)));
  const bytes = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of shards) {
    bytes.set(s, at);
    at += s.length;
  }
  const specs = manifest.flatMap((g) => g.weights);
  const net = new faceapi.FaceExpressionNet();
  // face-api's declarations carry their own copy of TF.js's types; at run time the tensors are the project's.
  net.loadFromWeightMap(
    tf.io.decodeWeights(bytes.buffer, specs) as unknown as Parameters<typeof net.loadFromWeightMap>[0],
  );
  const order = ferOrder(FACE_API_LABELS);
  const quantized = specs.some((s) => s.quantization);
  return {
    name: "face-api.js",
    kind: "peer",
    source: await packageVersion("@vladmandic/face-api"),
    params: specs.reduce((n, s) => n + size(s.shape), 0),
    weightBytes: bytes.length,
    weightFiles: shardPaths.map(relative),
    weightFormat: quantized ? "uint8-quantized float32" : "float32",
    input: "112×112 RGB (the gray face in all three channels, bilinear from 48), minus mean RGB " +
      "(122.782, 117.001, 104.298), ÷ 255",
    labels: FACE_API_LABELS,
    order,
    views: (mode) => ttaViews(mode),
    cut: (faces) => tf.tidy(() => tf.tile(asFloat(faces), [1, 1, 1, 3]) as tf.Tensor4D),
    async predict(crops) {
      // An array of 3-D images is face-api's batch input; it resizes each to 112 itself.
      const images = tf.unstack(crops) as tf.Tensor3D[];
      const probs = await net.forward(images as unknown as Parameters<typeof net.forward>[0]);
      tf.dispose(images);
      return toFerOrder(probs as unknown as tf.Tensor2D, order);
    },
    dispose: () => net.dispose(),
  };
}

/**
 * Faces `[b, s, s, 1]` of 0–255 as Human's face tensor: the whole square cut
 * at {@link HUMAN_CROP_SIDE} with `cropAndResize`, scaled to [0, 1].
 */
export function humanFaceTensor(faces: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const b = faces.shape[0];
    const unit = tf.div(asFloat(faces), 255) as tf.Tensor4D;
    const whole = tf.tensor2d(Array.from({ length: b }, () => [0, 0, 1, 1]), [b, 4]);
    const at = tf.range(0, b, 1, "int32") as tf.Tensor1D;
    return tf.image.cropAndResize(unit, whole, at, [HUMAN_CROP_SIDE, HUMAN_CROP_SIDE]);
  });
}

/** Human's luma weights for R, G and B. */
export const HUMAN_LUMA = [0.2989, 0.5870, 0.1140] as const;

/**
 * Human's emotion step on its face tensor (gray, `[b, h, w, 1]` in [0, 1]):
 * bilinear to `side`, luma, then (x − 0.5) × 2. A gray face stands for the
 * same gray in R, G and B, whose luma is gray × the weights' sum.
 */
export function humanModelInput(crops: tf.Tensor4D, side: number): tf.Tensor4D {
  const luma = HUMAN_LUMA[0] + HUMAN_LUMA[1] + HUMAN_LUMA[2];
  return tf.tidy(() => {
    const small = tf.image.resizeBilinear(crops, [side, side], false);
    return tf.mul(tf.sub(tf.mul(small, luma), 0.5), 2) as tf.Tensor4D;
  });
}

/** Human's emotion model, weights from node_modules, on the current backend. */
export async function loadHumanEmotion(): Promise<Classifier> {
  await requirePeer("human");
  const [jsonPath, binPath] = peerFiles("human");
  const json = JSON.parse(await Deno.readTextFile(jsonPath));
  const weights = await Deno.readFile(binPath);
  const specs = (json.weightsManifest as tf.io.WeightsManifestConfig).flatMap((g) => g.weights);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: weights.buffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata,
  }));
  const side = model.inputs[0].shape?.[2] ?? 64;
  const channels = model.inputs[0].shape?.[3] ?? 1;
  if (channels !== 1) {
    throw new LabelError(`${jsonPath}: a ${channels}-channel emotion model; this bench knows Human's grayscale one`);
  }
  const order = ferOrder(HUMAN_LABELS);
  return {
    name: "Human",
    kind: "peer",
    source: await packageVersion("@vladmandic/human"),
    // Integer constants (a reduction's axes) are part of the graph, not trained weights.
    params: specs.filter((s) => s.dtype === "float32").reduce((n, s) => n + size(s.shape), 0),
    weightBytes: weights.length,
    weightFiles: [relative(binPath)],
    weightFormat: specs.some((s) => s.quantization) ? "quantized" : "float32",
    input: `${side}×${side} gray: the face cut at ${HUMAN_CROP_SIDE}×${HUMAN_CROP_SIDE} in [0, 1], bilinear to ` +
      `${side}, luma, then (x − 0.5) × 2`,
    labels: HUMAN_LABELS,
    order,
    views: (mode) => ttaViews(mode),
    cut: humanFaceTensor,
    predict(crops) {
      const input = humanModelInput(crops, side);
      const probs = model.execute(input) as tf.Tensor2D;
      input.dispose();
      return Promise.resolve(toFerOrder(probs, order));
    },
    dispose: () => model.dispose(),
  };
}

/** A peer by name. */
export function loadPeer(name: PeerName): Promise<Classifier> {
  return name === "face-api" ? loadFaceApiExpression() : loadHumanEmotion();
}

/** One of ferlab's saved models (`reports/models/NN_x`), as {@link Classifier}. */
export async function loadOurs(dir: string): Promise<Classifier> {
  const model = await loadModel(dir);
  const input = modelInput(model);
  const side = inputSide(model);
  const k = model.outputs[0].shape.at(-1);
  if (k !== EMOTIONS.length) {
    model.dispose();
    throw new LabelError(`${dir}: the model has ${k} outputs, FER2013 has ${EMOTIONS.length} classes`);
  }
  const weightsPath = join(dir, WEIGHTS_BIN);
  const order = EMOTIONS.map((_, i) => i);
  return {
    name: basename(dir.replace(/\/+$/, "")),
    kind: "ours",
    source: relative(dir),
    params: model.countParams(),
    weightBytes: (await Deno.stat(weightsPath)).size,
    weightFiles: [relative(weightsPath)],
    weightFormat: "float32",
    input: side === IMAGE_SIZE ? `${side}×${side} gray ÷ 255` : `${side}×${side} centre crop of the 48×48 face, ÷ 255`,
    labels: EMOTIONS,
    order,
    views: (mode) => ttaViews(mode, input),
    cut: (faces) => tf.tidy(() => asFloat(faces).clone()),
    predict(crops) {
      return Promise.resolve(
        tf.tidy(() => model.predict(fitToInput(tf.div(crops, 255) as tf.Tensor4D, side)) as tf.Tensor2D),
      );
    },
    dispose: () => model.dispose(),
  };
}
