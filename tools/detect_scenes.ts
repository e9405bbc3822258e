/**
 * Measures face detection as `deno task predict` does it, on scenes whose
 * faces are at known places: PublicTest faces of FER2013, upscaled to random
 * sizes, pasted at random places on larger backgrounds (soft colour blobs
 * under random shapes, or plain gradients), seeded. Writes
 * `reports/detect_scenes.md` (no images: FER2013 may not be redistributed).
 *
 *     deno run -P=experiment tools/detect_scenes.ts                       # FER2013 in data/
 *     deno run -P=experiment --allow-read tools/detect_scenes.ts --data ~/fer2013.csv --scenes 50
 *
 * For SSD MobileNetV1, face-api's Tiny Face Detector and both merged (what
 * predict runs by default) it reports recall at IoU ≥ 0.5 and ≥ 0.3 between
 * the square predict classifies and the pasted square (the face's true
 * FER2013 crop), recall by face size, false detections, the emotion
 * accuracy of the best committed model on the detector's crops against the
 * true squares (and turned by the eyes, as `--align` does), and the margin that maps each detector's box to FER2013's
 * crop (medians), which is where `FER_CROP` in `lib/predict/detect.ts` comes
 * from.
 *
 * @module
 */
import { join, relative } from "node:path";
import { writeFileAtomic } from "../lib/atomic_write.ts";
import {
  type BackendChoice,
  BACKENDS,
  describeBackend,
  KERNEL_SETS,
  type KernelChoice,
  selectBackend,
} from "../lib/backend/select.ts";
import { type Flags, parseFlags, UsageError } from "../lib/cli/args.ts";
import { runCli } from "../lib/cli/shell.ts";
import { bestModelDir, readResults } from "../lib/compare/results.ts";
import { EMOTIONS, IMAGE_SIZE, PIXELS, USAGES } from "../lib/data/fer2013.ts";
import { loadData, locateData } from "../lib/data/locate.ts";
import { predictEnsemble } from "../lib/eval/ensemble.ts";
import { cpuModel } from "../lib/machine.ts";
import { loadModel } from "../lib/models/io.ts";
import {
  DEFAULT_MIN_SCORE,
  type Detection,
  type DetectorName,
  detectRaw,
  FER_CROP,
  findEyes,
  iou,
  loadDetectors,
  mergeDetections,
  TINY_INPUT,
} from "../lib/predict/detect.ts";
import { type Box, cropGray, decodePhoto, type Photo } from "../lib/predict/photo.ts";
import { type Background, makeScene, randomLayout, scenePng } from "../lib/predict/scenes.ts";
import { makeRng, shuffleInPlace } from "../lib/rng.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const FLAGS: Flags = {
  data: { type: "string", help: "FER2013 CSV (.csv/.csv.gz) or image folder (default: data/)" },
  scenes: { type: "number", help: "scenes to build", positiveInt: true },
  seed: { type: "number", help: "seed of the scenes (faces, places, sizes, backgrounds)", integer: true },
  minScore: { type: "number", help: "drop detections scoring below this (as predict's --min-score)", range: "(0, 1)" },
  model: { type: "string", help: "saved model folder (default: the best committed model)" },
  out: { type: "string", help: "folder of the report" },
  backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
  kernels: { type: "string", help: "wasm kernel set", choices: KERNEL_SETS },
};
const DEFAULTS = {
  data: undefined as string | undefined,
  scenes: 200,
  seed: 1,
  minScore: DEFAULT_MIN_SCORE,
  model: undefined as string | undefined,
  out: join(ROOT, "reports"),
  backend: "auto" as BackendChoice,
  kernels: "auto" as KernelChoice,
};

/** Scene sizes, all within predict's 1024-pixel detection side so detections are in scene pixels. */
const SIZES: [number, number][] = [[640, 480], [800, 600], [600, 800], [1024, 576]];
/** Face sides are drawn from [48, this fraction of the scene's shorter side]. */
const MAX_FACE = 0.5;
/** Detections are kept down to this score so that one pass serves every threshold and the fit. */
const FLOOR = 0.05;
/** Face-size bins of the recall table, in pixels. */
const SIZE_BINS = [48, 96, 144, 192, 256, Infinity];
const MODES = ["ssd", "tiny", "both"] as const;
type Mode = typeof MODES[number];

/** One scene's truth and detections. */
interface SceneResult {
  background: Background["kind"];
  truth: Box[];
  rows: number[];
  raw: Detection[];
  photo: Photo;
}

/** A detection matched to a true face (greedy, highest IoU first, one to one). */
interface Match {
  face: number;
  det: Detection;
  iou: number;
}

function match(truth: Box[], dets: Detection[]): { matches: Match[]; falseDetections: number } {
  const pairs: Match[] = [];
  truth.forEach((t, face) => dets.forEach((det) => pairs.push({ face, det, iou: iou(det.crop, t) })));
  pairs.sort((a, b) => b.iou - a.iou);
  const usedFace = new Set<number>(), usedDet = new Set<Detection>();
  const matches: Match[] = [];
  for (const p of pairs) {
    if (p.iou <= 0 || usedFace.has(p.face) || usedDet.has(p.det)) continue;
    usedFace.add(p.face);
    usedDet.add(p.det);
    matches.push(p);
  }
  // A detection that overlaps no face by IoU ≥ 0.3 found nothing a person would call that face.
  const falseDetections = dets.length - matches.filter((m) => m.iou >= 0.3).length;
  return { matches, falseDetections };
}

function modeDets(raw: Detection[], mode: Mode, minScore: number): Detection[] {
  const kept = raw.filter((d) => d.score >= minScore && (mode === "both" || d.detector === mode));
  return mergeDetections(kept);
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
};
const quantile = (v: number[], q: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
const pct = (num: number, den: number) => den ? `${(100 * num / den).toFixed(1)}%` : "–";

await runCli(async () => {
  const args = parseFlags(Deno.args, "deno run -P=experiment tools/detect_scenes.ts", FLAGS, DEFAULTS, {
    about: "Measures predict's face detection on seeded scenes of FER2013 PublicTest faces; writes " +
      "reports/detect_scenes.md.",
  });
  if (!args) return;
  const started = performance.now();
  const where = await locateData({ data: args.data, root: ROOT });
  if (where.kind === "synthetic") {
    throw new UsageError(
      "detect_scenes measures on FER2013's faces, not the synthetic drawings: pass --data PATH or put fer2013.csv " +
        "in data/",
    );
  }
  const { data, path } = await loadData({
    data: where.path,
    synthetic: () => {
      throw new Error("unreachable: the data was located");
    },
  });
  const publicTest = USAGES.indexOf("PublicTest");
  const pool = Int32Array.from({ length: data.n }, (_, i) => i).filter((i) => data.usage[i] === publicTest);
  if (pool.length === 0) throw new UsageError(`${path}: no PublicTest rows to build scenes from`);
  const rng = makeRng(`detect-scenes-${args.seed}`);
  shuffleInPlace(pool, rng);

  const backend = await selectBackend(args.backend, { kernels: args.kernels });
  console.error(`backend: ${describeBackend(backend)}`);
  let modelDir = args.model;
  let modelTitle = "";
  if (!modelDir) {
    const best = await bestModelDir(join(ROOT, "reports"), (await readResults(join(ROOT, "reports"))).results);
    if (!best) throw new UsageError("no saved model under reports/ (pass --model DIR)");
    modelDir = best.dir;
    modelTitle = ` (${best.result.title}, test accuracy ${(100 * best.result.testAccuracy).toFixed(2)}%)`;
  }
  const model = await loadModel(modelDir);
  await loadDetectors("both");

  // Build and detect.
  const scenes: SceneResult[] = [];
  const detectMs: Record<DetectorName, number> = { ssd: 0, tiny: 0 };
  let next = 0;
  for (let s = 0; s < args.scenes; s++) {
    const [width, height] = SIZES[rng.int(SIZES.length)];
    const boxes = randomLayout(rng, {
      width,
      height,
      count: 1 + rng.int(4),
      sizes: [IMAGE_SIZE, MAX_FACE * Math.min(width, height)],
    });
    const rows = boxes.map(() => pool[next++ % pool.length]);
    const background: Background = rng.next() < 0.5
      ? { kind: "clutter", rng }
      : { kind: "gradient", from: `hsl(${rng.int(360)},40%,60%)`, to: `hsl(${rng.int(360)},40%,30%)` };
    const scene = await makeScene({
      width,
      height,
      background,
      faces: boxes.map((b, i) => ({
        pixels: data.pixels.subarray(rows[i] * PIXELS, (rows[i] + 1) * PIXELS),
        ...b,
        size: b.w,
      })),
    });
    // Through the encoder and predict's decoder, so that the detectors see what they see in predict.
    const photo = await decodePhoto(`scene ${s}`, await scenePng(scene));
    const raw: Detection[] = [];
    for (const name of ["ssd", "tiny"] as const) {
      const t = performance.now();
      raw.push(...await detectRaw(photo, { names: [name] }, { minScore: FLOOR }));
      detectMs[name] += performance.now() - t;
    }
    scenes.push({ background: background.kind, truth: scene.boxes, rows, raw, photo });
    if ((s + 1) % 20 === 0) console.error(`scenes: ${s + 1}/${args.scenes}`);
  }

  // Classify every crop once: the true squares, each mode's matched crops, and the original 48×48 faces.
  const crops: Uint8Array[] = [];
  const cropIndex = new Map<string, number>();
  const cropOf = async (s: number, box: Box) => {
    const key = `${s}:${box.x},${box.y},${box.w},${box.h}`;
    if (!cropIndex.has(key)) {
      cropIndex.set(key, crops.length);
      crops.push(await cropGray(scenes[s].photo, box));
    }
    return cropIndex.get(key)!;
  };
  const trueCrop: number[][] = [];
  for (const [s, sc] of scenes.entries()) {
    trueCrop.push([]);
    for (const t of sc.truth) trueCrop[s].push(await cropOf(s, t));
  }
  const results = new Map<Mode, { s: number; truth: Box[]; matches: Match[]; falseDetections: number }[]>();
  for (const mode of MODES) {
    results.set(
      mode,
      scenes.map((sc, s) => ({ s, truth: sc.truth, ...match(sc.truth, modeDets(sc.raw, mode, args.minScore)) })),
    );
  }
  const detCrop = new Map<Match, number>();
  for (const mode of MODES) {
    for (const r of results.get(mode)!) {
      for (const m of r.matches) if (m.iou >= 0.5) detCrop.set(m, await cropOf(r.s, m.det.crop));
    }
  }
  // --align: the faces both detectors found, turned so that their eyes are level.
  const aligned: { s: number; face: number; crop: number; plain: number; angle: number }[] = [];
  for (const r of results.get("both")!) {
    for (const m of r.matches) {
      if (m.iou < 0.5) continue;
      const eyes = await findEyes(scenes[r.s].photo, m.det);
      crops.push(await cropGray(scenes[r.s].photo, m.det.crop, IMAGE_SIZE, eyes.angle));
      aligned.push({ s: r.s, face: m.face, crop: crops.length - 1, plain: detCrop.get(m)!, angle: eyes.angle });
    }
  }
  const allRows = scenes.flatMap((sc) => sc.rows);
  const originals = crops.length;
  const pixels = new Uint8Array((crops.length + allRows.length) * PIXELS);
  crops.forEach((c, i) => pixels.set(c, i * PIXELS));
  allRows.forEach((r, i) => pixels.set(data.pixels.subarray(r * PIXELS, (r + 1) * PIXELS), (originals + i) * PIXELS));
  const probs = await predictEnsemble(
    [model],
    pixels,
    Int32Array.from({ length: pixels.length / PIXELS }, (_, i) => i),
    {
      tta: "auto",
      imageSize: IMAGE_SIZE,
    },
  );
  const k = EMOTIONS.length;
  const predicted = (i: number) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
    return best;
  };

  // Tables.
  const faces = allRows.length;
  const label = (s: number, f: number) => data.labels[scenes[s].rows[f]];
  let originalCorrect = 0, trueCorrect = 0;
  let o = 0;
  scenes.forEach((sc, s) =>
    sc.rows.forEach((_, f) => {
      originalCorrect += +(predicted(originals + o++) === label(s, f));
      trueCorrect += +(predicted(trueCrop[s][f]) === label(s, f));
    })
  );
  const lines: string[] = [];
  const modeName: Record<Mode, string> = { ssd: "SSD MobileNetV1", tiny: "Tiny Face Detector", both: "both (predict)" };
  lines.push(
    "| detector | recall IoU ≥ 0.5 | recall IoU ≥ 0.3 | mean IoU (matched ≥ 0.3) | false detections (gradient / clutter scenes) " +
      "| accuracy, detector's crop | accuracy, true square (same faces) | accuracy end to end |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  const byBin: Record<Mode, number[]> = { ssd: [], tiny: [], both: [] };
  const bins = SIZE_BINS.slice(0, -1).map(() => 0);
  for (const sc of scenes) {
    for (const t of sc.truth) bins[SIZE_BINS.findIndex((b, i) => t.w >= b && t.w < SIZE_BINS[i + 1])]++;
  }
  for (const mode of MODES) {
    let r5 = 0, r3 = 0, iouSum = 0, detOk = 0, trueOk = 0;
    const fd = { gradient: 0, clutter: 0, plain: 0 };
    byBin[mode] = bins.map(() => 0);
    for (const r of results.get(mode)!) {
      fd[scenes[r.s].background] += r.falseDetections;
      for (const m of r.matches) {
        if (m.iou >= 0.3) (r3++, iouSum += m.iou);
        if (m.iou < 0.5) continue;
        r5++;
        const t = r.truth[m.face];
        byBin[mode][SIZE_BINS.findIndex((b, i) => t.w >= b && t.w < SIZE_BINS[i + 1])]++;
        const y = label(r.s, m.face);
        detOk += +(predicted(detCrop.get(m)!) === y);
        trueOk += +(predicted(trueCrop[r.s][m.face]) === y);
      }
    }
    lines.push(
      `| ${modeName[mode]} | ${pct(r5, faces)} | ${pct(r3, faces)} | ${(iouSum / r3).toFixed(3)} | ` +
        `${fd.gradient + fd.clutter} (${fd.gradient} / ${fd.clutter}) | ${pct(detOk, r5)} | ${pct(trueOk, r5)} | ` +
        `${pct(detOk, faces)} |`,
    );
  }
  // The threshold's trade-off for what predict runs: recall against false detections.
  const sweep = [0.1, 0.2, 0.3, 0.4, 0.5, 0.7].map((t) => {
    let r5 = 0, fd = 0;
    for (const sc of scenes) {
      const m = match(sc.truth, modeDets(sc.raw, "both", t));
      r5 += m.matches.filter((x) => x.iou >= 0.5).length;
      fd += m.falseDetections;
    }
    return `| ${t}${t === args.minScore ? " (used)" : ""} | ${pct(r5, faces)} | ${fd} |`;
  });
  const binNames = SIZE_BINS.slice(0, -1).map((b, i) =>
    SIZE_BINS[i + 1] === Infinity ? `≥ ${b} px` : `${b}–${SIZE_BINS[i + 1] - 1} px`
  );
  const sizeTable = [
    `| detector | ${binNames.join(" | ")} |`,
    `| --- | ${binNames.map(() => "---").join(" | ")} |`,
    `| faces | ${bins.join(" | ")} |`,
    ...MODES.map((m) => `| ${modeName[m]} | ${byBin[m].map((n, i) => pct(n, bins[i])).join(" | ")} |`),
  ];

  // The margin: for each true face, the detector's best-scoring box whose centre lies in the face's square.
  const fitRows: string[] = [];
  for (const name of ["ssd", "tiny"] as const) {
    const scale: number[] = [], dx: number[] = [], dy: number[] = [], aspect: number[] = [];
    for (const sc of scenes) {
      for (const t of sc.truth) {
        const inside = sc.raw.filter((d) => {
          const cx = d.box.x + d.box.w / 2, cy = d.box.y + d.box.h / 2;
          return d.detector === name && d.score >= args.minScore && cx > t.x && cx < t.x + t.w && cy > t.y &&
            cy < t.y + t.h;
        });
        if (!inside.length) continue;
        const d = inside.reduce((a, b) => b.score > a.score ? b : a);
        const unit = Math.sqrt(d.box.w * d.box.h);
        scale.push(t.w / unit);
        dx.push((t.x + t.w / 2 - d.box.x - d.box.w / 2) / unit);
        dy.push((t.y + t.h / 2 - d.box.y - d.box.h / 2) / unit);
        aspect.push(d.box.h / d.box.w);
      }
    }
    const q = (v: number[]) =>
      `${median(v).toFixed(3)} (${quantile(v, 0.25).toFixed(3)}–${quantile(v, 0.75).toFixed(3)})`;
    const used = FER_CROP[name];
    fitRows.push(
      `| ${modeName[name]} | ${scale.length} | ${q(scale)} | ${q(dx)} | ${q(dy)} | ${q(aspect)} | ` +
        `${used.scale} / ${used.dx} / ${used.dy} |`,
    );
  }

  const alignedOk = aligned.filter((a) => predicted(a.crop) === label(a.s, a.face)).length;
  const plainOk = aligned.filter((a) => predicted(a.plain) === label(a.s, a.face)).length;
  const tilts = aligned.map((a) => Math.abs(a.angle));
  const alignLine =
    `Turned so that the eyes are level (\`--align\`, face-api's 68-point landmarks) the ${aligned.length} ` +
    `faces both detectors found score ${pct(alignedOk, aligned.length)}, against ${pct(plainOk, aligned.length)} ` +
    `unturned (the eyes' median tilt was ` +
    `${median(tilts).toFixed(1)}°, a quarter of the faces over ${quantile(tilts, 0.75).toFixed(1)}°).`;
  const seconds = (performance.now() - started) / 1000;
  const scenesWithFaces = scenes.reduce((n, sc) => n + sc.truth.length, 0);
  const report = `# Face detection on scenes of FER2013 faces

What \`deno task predict\` does with a photo, measured where the answer is known: ${scenes.length} scenes
(seed ${args.seed}; sizes ${SIZES.map(([w, h]) => `${w}×${h}`).join(", ")}) holding ${scenesWithFaces} PublicTest faces
of FER2013, each upscaled (Lanczos) to a random side from 48 px to half the scene's shorter side and pasted at a random
place, 1–4 per scene, on soft colour blobs under random rectangles, ellipses and lines (clutter) or on a two-colour
gradient, half each. A pasted square is exactly FER2013's crop of that face, so it is the box that predict's crop
(the detector's box made square with the margin of \`FER_CROP\`, \`lib/predict/detect.ts\`) should match.

- data: ${path} (${pool.length} PublicTest rows)
- model: ${relative(ROOT, modelDir) || modelDir}${modelTitle}, TTA auto
- detectors: @vladmandic/face-api's SSD MobileNetV1 and Tiny Face Detector (input ${TINY_INPUT} px), weights from node_modules;
  minimum score ${args.minScore}; "both" merges them (highest score first, crops overlapping by IoU ≥ 0.3 dropped)
- backend: ${describeBackend(backend)}
- CPU: ${cpuModel()}; detection ${(detectMs.ssd / scenes.length).toFixed(0)} ms (SSD) + ${
    (detectMs.tiny / scenes.length).toFixed(0)
  } ms (tiny) per scene; whole run ${seconds.toFixed(0)} s
- command: \`deno run -P=experiment tools/detect_scenes.ts ${Deno.args.join(" ")}\`

## Recall, false detections and emotion accuracy

Recall: the share of faces whose square is matched (one to one, highest IoU first) by a crop with IoU at least 0.5 or
0.3. A false detection is a crop that overlaps no face by IoU ≥ 0.3. Accuracy on the detector's crop and on the true
square are over the same faces (those found at IoU ≥ 0.5); end to end counts every face, a missed one as wrong.

${lines.join("\n")}

Accuracy on the true squares of all ${faces} faces: ${pct(trueCorrect, faces)}; on the same faces' original 48×48
pixels: ${pct(originalCorrect, faces)}.

${alignLine}

## Recall (IoU ≥ 0.5) by face size

${sizeTable.join("\n")}

## The minimum score (both detectors)

| minimum score | recall IoU ≥ 0.5 | false detections |
| --- | --- | --- |
${sweep.join("\n")}

## The margin: from a detector's box to FER2013's crop

For each face, the detector's best-scoring box (score ≥ ${args.minScore}) whose centre lies in the face's square; with
\`u = √(w·h)\` of that box, the square's side is \`scale·u\` and its centre is the box's moved by \`(dx, dy)·u\`.
Medians (interquartile range); the last column is what predict uses, fitted the same way on 300 other scenes
(seed 2).

| detector | faces | scale | dx | dy | box h/w | in use: scale / dx / dy |
| --- | --- | --- | --- | --- | --- | --- |
${fitRows.join("\n")}

## Caveats

FER2013's faces are 48×48 crops, blurred by upscaling and cut off at the crop's edge (no hair, shoulders or background
around them), which is harder for a detector than a face in an ordinary photo, and the backgrounds are synthetic: these
numbers say how predict's detection and cropping behave relative to FER2013's crops, not how it fares on real
photographs.
`;
  await Deno.mkdir(args.out, { recursive: true });
  const file = join(args.out, "detect_scenes.md");
  await writeFileAtomic(file, report);
  console.log([...lines, "", ...sweep].join("\n"));
  console.error(`wrote ${file} (${seconds.toFixed(0)} s)`);
});
