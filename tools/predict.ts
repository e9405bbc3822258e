/**
 * Predicts the emotion of the face in each photo.
 *
 *     deno task predict me.jpg friend.png                 # centre crop, best committed model
 *     deno task predict group.webp --box 120,40,96,96     # a given face box
 *     deno task predict *.jpg --json | jq .               # one JSON object for scripts
 *
 * Photos of any size and colour (JPEG, PNG, WebP) are cropped (centre square,
 * or `--box x,y,w,h`), grayed and resized to 48×48. A file that cannot be read
 * gets an error naming it and the other photos are still predicted; the exit
 * status is then 1.
 *
 * @module
 */
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
import { runMain } from "../lib/cli/main.ts";
import { loadModel } from "../lib/models/io.ts";
import { type Box, BoxError, type Face, loadFace, parseBox } from "../lib/predict/photo.ts";

const REPORTS = new URL("../reports", import.meta.url).pathname;

const FLAGS: Flags = {
  box: { type: "string", help: "the face's box in the photo, x,y,w,h in pixels (default: the largest centred square)" },
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
  top: { type: "number", help: `emotions listed per photo, 1 to ${EMOTIONS.length}` },
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
  model: [] as string[],
  tta: "auto" as TtaChoice,
  top: 3,
  json: false,
  backend: "auto" as BackendChoice,
  kernels: "auto" as KernelChoice,
};
const ABOUT = "Prints the top emotions with probabilities for each photo (JPEG, PNG or WebP, any size and colour).";

/** One photo's outcome. */
type Outcome =
  | { file: string; ok: true; face: Face; probabilities: number[] }
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
  return {
    images: v.images,
    models: v.model,
    box,
    tta: v.tta,
    top: v.top,
    json: v.json,
    backend: v.backend,
    kernels: v.kernels,
  };
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

await runMain(async () => {
  const args = parse(Deno.args);
  if (!args) return; // --help was printed
  const dirs = await modelDirs(args.models);
  const backend = await selectBackend(args.backend, { kernels: args.kernels });
  console.error(`backend: ${describeBackend(backend)}`);
  const models = [];
  for (const d of dirs) models.push(await loadModel(d));

  // Read every photo first; a bad one is reported and the rest go on.
  const outcomes: Outcome[] = [];
  const faces: Face[] = [];
  for (const file of args.images) {
    try {
      const face = await loadFace(file, { box: args.box });
      faces.push(face);
      outcomes.push({ file, ok: true, face, probabilities: [] });
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      console.error(`error: ${e.message}`);
      outcomes.push({ file, ok: false, error: e.message });
    }
  }
  if (faces.length) {
    const pixels = new Uint8Array(faces.length * IMAGE_SIZE * IMAGE_SIZE);
    faces.forEach((f, i) => pixels.set(f.pixels, i * IMAGE_SIZE * IMAGE_SIZE));
    const rows = Int32Array.from(faces, (_, i) => i);
    const probs = await predictEnsemble(models, pixels, rows, { tta: args.tta, imageSize: IMAGE_SIZE });
    const k = probs.length / faces.length;
    let i = 0;
    for (const o of outcomes) if (o.ok) o.probabilities = Array.from(probs.subarray(k * i, k * ++i));
  }

  if (args.json) {
    console.log(JSON.stringify({
      models: dirs,
      tta: args.tta,
      backend: backend.name,
      results: outcomes.map((o) =>
        o.ok
          ? {
            file: o.file,
            size: { width: o.face.width, height: o.face.height },
            crop: o.face.crop,
            box: o.face.box,
            top: topList(o.probabilities, args.top),
            probabilities: Object.fromEntries(o.probabilities.map((p, c) => [EMOTIONS[c] ?? String(c), p])),
          }
          : { file: o.file, error: o.error }
      ),
    }));
  } else {
    for (const o of outcomes) {
      if (!o.ok) continue;
      const { face } = o;
      const where = `${face.width}×${face.height}, ${face.crop === "box" ? "box" : "centre crop"} ` +
        `${face.box.w}×${face.box.h} at ${face.box.x},${face.box.y}`;
      const list = topList(o.probabilities, args.top).map((t) => `${t.emotion} ${(100 * t.probability).toFixed(1)}%`);
      console.log(`${o.file} (${where}): ${list.join(", ")}`);
    }
  }
  const failed = outcomes.filter((o) => !o.ok).length;
  if (failed) {
    console.error(`${failed} of ${outcomes.length} image(s) could not be read`);
    Deno.exit(1);
  }
});
