/**
 * Predicts the emotion of every face in each photo.
 *
 *     deno task predict group.jpg                         # every face the detectors find
 *     deno task predict group.jpg --annotate out.png      # … and the photo with boxes and emotions drawn
 *     deno task predict group.jpg --align                 # each face turned so that its eyes are level
 *     deno task predict group.webp --box 120,40,96,96     # a given face box (no detection)
 *     deno task predict face48.png --centre               # the centred square: a photo that is already a face
 *     deno task predict *.jpg --json | jq .               # one JSON object for scripts
 *
 * Photos of any size and colour (JPEG, PNG, WebP) are searched for faces by
 * the detectors of `@vladmandic/face-api` (SSD MobileNetV1 and its Tiny Face
 * Detector, merged; weights read from node_modules), each face is cut out
 * the way FER2013's faces are (the detector's box made square and enlarged
 * by a measured margin; `lib/predict/detect.ts`), grayed and resized to
 * 48×48; `--align` also turns it about its centre so that its eyes (from
 * face-api's 68-point landmarks) are level. `--box x,y,w,h` or `--centre`
 * give the region instead.
 *
 * A face at the photo's edge may get a box reaching past it (negative x or
 * y in the JSON): the missing part repeats the edge pixels, so that the face
 * keeps its place in the square. `--annotate` writes one PNG;
 * the task's permission set may write only .cache/, so another path stops at
 * once with the `deno run` command that grants it.
 *
 * A photo in which no face is found is not an error: its line says so (its
 * JSON has `"faces": []`) and the exit status stays 0. A file that cannot be
 * read gets an error naming it and the other photos are still predicted; the
 * exit status is then 1.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { isWriteFault, WriteError } from "../lib/atomic_write.ts";
import {
  type BackendChoice,
  BACKENDS,
  describeBackend,
  KERNEL_SETS,
  type KernelChoice,
  selectBackend,
} from "../lib/backend/select.ts";
import { type Flags, parseFlags, UsageError } from "../lib/cli/args.ts";
import { bestModelDir, readResults } from "../lib/compare/results.ts";
import { DataError, EMOTIONS, IMAGE_SIZE } from "../lib/data/fer2013.ts";
import { predictEnsemble } from "../lib/eval/ensemble.ts";
import { TTA_CHOICES, type TtaChoice } from "../lib/eval/tta.ts";
import { runCli } from "../lib/cli/shell.ts";
import { loadModel } from "../lib/models/io.ts";
import { annotatedPng } from "../lib/predict/annotate.ts";
import {
  DEFAULT_MIN_SCORE,
  detectFaces,
  type Detection,
  type DetectorChoice,
  DETECTORS,
  type Detectors,
  type Eyes,
  findEyes,
  loadDetectors,
} from "../lib/predict/detect.ts";
import { type Box, BoxError, cropGray, faceOf, parseBox, type Photo, readPhoto } from "../lib/predict/photo.ts";

const REPORTS = new URL("../reports", import.meta.url).pathname;

const FLAGS: Flags = {
  box: { type: "string", help: "the face's box in the photo, x,y,w,h in pixels (no detection)" },
  centre: { type: "boolean", help: "the largest centred square, for a photo that is already a face (no detection)" },
  detector: {
    type: "string",
    help: "face detector: SSD MobileNetV1, face-api's Tiny Face Detector, or both merged",
    choices: DETECTORS,
  },
  minScore: { type: "number", help: "drop detections scoring below this", range: "(0, 1)" },
  align: { type: "boolean", help: "turn each detected face so that its eyes are level (68-point landmarks)" },
  annotate: { type: "string", help: "write the photo with each face's box and top emotion drawn on it (a .png file)" },
  model: {
    type: "string",
    help: "a saved model folder; several average an ensemble (default: the best committed model)",
    multiple: true,
  },
  tta: {
    type: "string",
    help: "average over the mirror (flip) or mirror and shifted crops (crops; ten-crop for a model trained on " +
      "crops); auto: each model's own",
    choices: TTA_CHOICES,
  },
  top: { type: "number", help: `emotions listed per face, 1 to ${EMOTIONS.length}` },
  json: { type: "boolean", help: "one JSON object on stdout instead of text" },
  backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
  kernels: {
    type: "string",
    help: "wasm kernel set (auto: oneDNN's native kernels where they load)",
    choices: KERNEL_SETS,
  },
};
const DEFAULTS = {
  images: [] as string[],
  box: undefined as string | undefined,
  centre: false,
  detector: "both" as DetectorChoice,
  minScore: DEFAULT_MIN_SCORE,
  align: false,
  annotate: undefined as string | undefined,
  model: [] as string[],
  tta: "auto" as TtaChoice,
  top: 3,
  json: false,
  backend: "auto" as BackendChoice,
  kernels: "auto" as KernelChoice,
};
const ABOUT = "Finds the faces in each photo (JPEG, PNG or WebP, any size and colour) and prints each face's top " +
  "emotions with probabilities.";

/** How a photo's faces were chosen. */
type CropMode = "detect" | "box" | "centre";

/** One face of a photo and what the model made of it. */
interface FaceResult {
  /** The square (or given box) the model saw, in the photo's pixels. */
  box: Box;
  /** The detection it came from (detect mode). */
  detection?: Detection;
  /** Its eyes, when aligned (`--align`): the crop was turned by their angle. */
  eyes?: Eyes;
  /** `48 × 48` grayscale bytes. */
  pixels: Uint8Array;
  probabilities: number[];
}

/** One photo's outcome. */
type Outcome =
  | { file: string; ok: true; width: number; height: number; faces: FaceResult[] }
  | { file: string; ok: false; error: string };

function parse(argv: string[]) {
  const v = parseFlags(argv, "deno task predict", FLAGS, DEFAULTS, {
    positional: "images",
    positionalRequired: true,
    about: ABOUT,
  });
  if (!v) return null;
  if (!Number.isInteger(v.top) || v.top < 1 || v.top > EMOTIONS.length) {
    throw new UsageError(`--top must be an integer from 1 to ${EMOTIONS.length}, got "${v.top}"`);
  }
  let box: Box | undefined;
  try {
    box = v.box === undefined ? undefined : parseBox(v.box);
  } catch (e) {
    if (e instanceof BoxError) throw new UsageError(e.message);
    throw e;
  }
  if (box && v.centre) throw new UsageError("--box and --centre both say where the face is: give one");
  if (v.annotate !== undefined) {
    if (!/\.png$/i.test(v.annotate)) {
      throw new UsageError(`--annotate writes a PNG: name a .png file, got "${v.annotate}"`);
    }
    if (v.images.length !== 1) {
      throw new UsageError(`--annotate draws on one photo, got ${v.images.length}: run predict once per photo`);
    }
  }
  const mode: CropMode = box ? "box" : v.centre ? "centre" : "detect";
  if (v.align && mode !== "detect") {
    throw new UsageError(`--align turns detected faces, and --${mode} skips detection: give one`);
  }
  return {
    images: v.images,
    models: v.model,
    box,
    mode,
    detector: v.detector,
    minScore: v.minScore,
    align: v.align,
    annotate: v.annotate,
    tta: v.tta,
    top: v.top,
    json: v.json,
    backend: v.backend,
    kernels: v.kernels,
  };
}

/**
 * Stops before any work when `path` may not be written: the task's permission
 * set grants writes to .cache only, and Deno's refusal would otherwise come
 * after every face was found; {@link runCli} turns it into the command that
 * grants it.
 */
function checkWritable(path: string): void {
  const abs = isAbsolute(path) ? path : resolve(path);
  if (Deno.permissions.querySync({ name: "write", path: abs }).state !== "granted") {
    throw new Deno.errors.NotCapable(`Requires write access to "${abs}"`);
  }
}

/** The given model folders, or the best committed one. */
async function modelDirs(given: string[]): Promise<string[]> {
  if (given.length) return given;
  const { results } = await readResults(REPORTS);
  const best = await bestModelDir(REPORTS, results);
  if (!best) {
    throw new UsageError(`no saved model under ${REPORTS} (run an experiment first, or pass --model DIR)`);
  }
  console.error(
    `model: ${best.dir} (${best.result.title}, test accuracy ${(100 * best.result.testAccuracy).toFixed(2)}%)`,
  );
  return [best.dir];
}

/** "happy 71.2%, neutral 15.0%, sad 6.1%" */
function topList(probs: number[], top: number): { emotion: string; probability: number }[] {
  return probs.map((p, i) => ({ emotion: EMOTIONS[i] ?? String(i), probability: p }))
    .sort((a, b) => b.probability - a.probability).slice(0, top);
}

/** The faces of a read photo, cropped for the model. */
async function facesOf(
  photo: Photo,
  args: NonNullable<ReturnType<typeof parse>>,
  detectors: Detectors | undefined,
): Promise<FaceResult[]> {
  if (args.mode !== "detect") {
    const face = await faceOf(photo, { box: args.box });
    return [{ box: face.box, pixels: face.pixels, probabilities: [] }];
  }
  const found = await detectFaces(photo, detectors!, { minScore: args.minScore });
  const faces: FaceResult[] = [];
  for (const d of found) {
    const eyes = args.align ? await findEyes(photo, d) : undefined;
    const pixels = await cropGray(photo, d.crop, IMAGE_SIZE, eyes?.angle ?? 0);
    faces.push({ box: d.crop, detection: d, eyes, pixels, probabilities: [] });
  }
  return faces;
}

/** Where a face is, in words: "box 96×96 at 250,30", "face 1 of 2: 96×96 at 120,40, ssd 0.93". */
function describeFace(f: FaceResult, i: number, n: number, mode: CropMode): string {
  const at = `${f.box.w}×${f.box.h} at ${f.box.x},${f.box.y}`;
  if (mode !== "detect") return `${mode === "box" ? "box" : "centre crop"} ${at}`;
  const turned = f.eyes ? `, turned ${f.eyes.angle.toFixed(1)}°` : "";
  return `face ${i + 1} of ${n}: ${at}, ${f.detection!.detector} ${f.detection!.score.toFixed(2)}${turned}`;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

await runCli(async () => {
  const args = parse(Deno.args);
  if (!args) return; // --help was printed
  if (args.annotate) checkWritable(args.annotate);
  const dirs = await modelDirs(args.models);
  const backend = await selectBackend(args.backend, { kernels: args.kernels });
  console.error(`backend: ${describeBackend(backend)}`);
  const models = [];
  for (const d of dirs) models.push(await loadModel(d));
  const detectors = args.mode === "detect" ? await loadDetectors(args.detector) : undefined;

  // Read every photo first; a bad one is reported and the rest go on.
  const outcomes: Outcome[] = [];
  let annotated: Photo | undefined;
  for (const file of args.images) {
    try {
      const photo = await readPhoto(file);
      const faces = await facesOf(photo, args, detectors);
      outcomes.push({ file, ok: true, width: photo.width, height: photo.height, faces });
      if (args.annotate) annotated = photo;
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      console.error(`error: ${e.message}`);
      outcomes.push({ file, ok: false, error: e.message });
    }
  }
  const faces = outcomes.flatMap((o) => o.ok ? o.faces : []);
  if (faces.length) {
    const pixels = new Uint8Array(faces.length * IMAGE_SIZE * IMAGE_SIZE);
    faces.forEach((f, i) => pixels.set(f.pixels, i * IMAGE_SIZE * IMAGE_SIZE));
    const rows = Int32Array.from(faces, (_, i) => i);
    const probs = await predictEnsemble(models, pixels, rows, { tta: args.tta, imageSize: IMAGE_SIZE });
    const k = probs.length / faces.length;
    faces.forEach((f, i) => f.probabilities = Array.from(probs.subarray(k * i, k * (i + 1))));
  }

  if (args.json) {
    console.log(JSON.stringify({
      models: dirs,
      tta: args.tta,
      backend: backend.name,
      crop: args.mode,
      ...(args.mode === "detect" ? { detector: args.detector, minScore: args.minScore, align: args.align } : {}),
      results: outcomes.map((o) =>
        o.ok
          ? {
            file: o.file,
            size: { width: o.width, height: o.height },
            faces: o.faces.map((f) => ({
              box: f.box,
              ...(f.detection
                ? {
                  detection: {
                    detector: f.detection.detector,
                    score: f.detection.score,
                    box: {
                      x: round1(f.detection.box.x),
                      y: round1(f.detection.box.y),
                      w: round1(f.detection.box.w),
                      h: round1(f.detection.box.h),
                    },
                  },
                }
                : {}),
              ...(f.eyes
                ? {
                  eyes: {
                    left: { x: round1(f.eyes.left.x), y: round1(f.eyes.left.y) },
                    right: { x: round1(f.eyes.right.x), y: round1(f.eyes.right.y) },
                    angle: round1(f.eyes.angle),
                  },
                }
                : {}),
              top: topList(f.probabilities, args.top),
              probabilities: Object.fromEntries(f.probabilities.map((p, c) => [EMOTIONS[c] ?? String(c), p])),
            })),
          }
          : { file: o.file, error: o.error }
      ),
    }));
  } else {
    for (const o of outcomes) {
      if (!o.ok) continue;
      const size = `${o.width}×${o.height}`;
      if (o.faces.length === 0) {
        console.log(`${o.file} (${size}): no face found (--box x,y,w,h or --centre give the face's region instead)`);
      }
      o.faces.forEach((f, i) => {
        const list = topList(f.probabilities, args.top).map((t) => `${t.emotion} ${(100 * t.probability).toFixed(1)}%`);
        console.log(`${o.file} (${size}, ${describeFace(f, i, o.faces.length, args.mode)}): ${list.join(", ")}`);
      });
    }
  }

  const done = outcomes.find((o) => o.ok);
  if (args.annotate && annotated && done?.ok) {
    const marks = done.faces.map((f, i) => {
      const [best] = topList(f.probabilities, 1);
      const label = `${done.faces.length > 1 ? `${i + 1} ` : ""}${best.emotion} ${
        (100 * best.probability).toFixed(0)
      }%`;
      return { box: f.box, label };
    });
    const png = await annotatedPng(annotated, marks);
    // Written in place, not through a temp file beside it: a task's set may grant this one file and not its folder.
    await Deno.writeFile(args.annotate, png).catch((e) => {
      throw isWriteFault(e) ? new WriteError(args.annotate!, e) : e;
    });
    console.error(`annotated: ${args.annotate}`);
  }
  const failed = outcomes.filter((o) => !o.ok).length;
  if (failed) {
    console.error(`${failed} of ${outcomes.length} image(s) could not be read`);
    Deno.exit(1);
  }
});
