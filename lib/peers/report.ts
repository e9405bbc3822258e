/**
 * The peers bench's record (`reports/peers.json`) and its report
 * (`reports/peers.md` with a Vega-Lite chart): the JavaScript peers' emotion
 * models and ferlab's side by side, with the machine and load the timings
 * were taken under, and what is known of each model's training data.
 *
 * @module
 */
import { EMOTIONS } from "../data/fer2013.ts";
import { CHART_HEIGHT, CHART_WIDTH, type ChartSpec, VEGA_LITE_SCHEMA } from "../report/charts.ts";
import { fmtInt, fmtNumber, fmtOverconfidence, mdTable, pct } from "../report/markdown.ts";
import { chartRef, type Report } from "../report/write.ts";
import type { MachineFacts } from "../machine.ts";
import type { ClassifierResult, TimingOptions } from "./measure.ts";
import { type ClassifierFacts, HUMAN_CROP_SIDE } from "./models.ts";

/** Whether a model's training could have seen the test faces. */
export type HeldOut = "yes" | "no" | "unknown";

/** A measured model: its facts and results. */
export interface ModelRecord extends ClassifierResult, ClassifierFacts {
  heldOut: HeldOut;
  /** Why: what is known of its training data. */
  heldOutNote: string;
}

/** Everything one run of the peers bench records. */
export interface PeersRecord {
  date: string;
  /** The command as run, and the one that re-times it on a quiet machine. */
  command: string;
  retimeCommand: string;
  note: string;
  data: {
    kind: string;
    source: string;
    fingerprint: string;
    rows: number;
    usage: Record<string, number>;
    synthetic: boolean;
  };
  split: {
    protocol: string;
    seed: number;
    key: string;
    notes: string[];
    /** Test rows measured (all of the split's test, or the first `--limit`). */
    testRows: number;
    testUsage: Record<string, number>;
    splitTestRows: number;
  };
  machine: MachineFacts & { loadAverageStart?: number; loadAverageEnd?: number };
  backend: { name: string; description: string; kernels: string; threads?: number; notes: string[] };
  timing: TimingOptions & { batches: number[] };
  models: ModelRecord[];
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(2));
const kParams = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1000).toFixed(0)}K`);

/** A model's most accurate TTA mode (the first where none was scored). */
function bestTta(m: ModelRecord): ModelRecord["accuracy"][number] {
  return m.accuracy.reduce((a, b) => (b.accuracy > a.accuracy ? b : a), m.accuracy[0]);
}

/** Accuracy against ms per face (the largest batch timed), one point per model at its best TTA mode. */
export function peersChart(record: PeersRecord): ChartSpec | null {
  const batch = Math.max(...record.timing.batches, 0);
  const values = record.models.flatMap((m) => {
    const speed = m.speed.find((s) => s.batch === batch);
    const best = bestTta(m);
    if (!speed || !best) return [];
    return [{
      model: m.name,
      kind: m.kind === "peer" ? "JavaScript peer" : "ferlab",
      accuracy: best.accuracy,
      tta: best.tta,
      msPerFace: speed.msPerFace,
      params: m.params,
      label: `${m.name} (${kParams(m.params)}, ${best.tta})`,
    }];
  });
  if (values.length === 0) return null;
  // Room right of the rightmost point for its label, and a little above and below the extremes.
  const xMax = 1.5 * Math.max(...values.map((v) => v.msPerFace));
  const accs = values.map((v) => v.accuracy);
  const yDomain = [Math.max(0, Math.min(...accs) - 0.01), Math.min(1, Math.max(...accs) + 0.01)];
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: `Accuracy (best TTA) against ms per face at batch ${batch}`,
    data: { values },
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    encoding: {
      x: {
        field: "msPerFace",
        type: "quantitative",
        title: `ms per face (batch ${batch}, median)`,
        scale: { domain: [0, xMax], nice: true },
      },
      y: {
        field: "accuracy",
        type: "quantitative",
        title: "test accuracy",
        axis: { format: ".0%" },
        scale: { domain: yDomain, nice: true },
      },
    },
    layer: [
      {
        mark: { type: "point", filled: true },
        encoding: {
          size: {
            field: "params",
            type: "quantitative",
            title: "parameters",
            scale: { range: [60, 600] },
            legend: { orient: "bottom", format: "~s" },
          },
          color: { field: "kind", type: "nominal", title: null, legend: { orient: "bottom" } },
        },
      },
      {
        mark: { type: "text", align: "left", dx: 10, fontSize: 11 },
        encoding: { text: { field: "label", type: "nominal" } },
      },
    ],
  } as ChartSpec;
}

function loadRange(r: PeersRecord): string {
  const loads = [
    r.machine.loadAverageStart,
    ...r.models.flatMap((m) => m.speed.map((s) => s.loadAverage)),
    r.machine.loadAverageEnd,
  ].filter((x): x is number => x !== undefined);
  if (loads.length === 0) return "load average unknown (the permission set did not grant it)";
  const lo = Math.min(...loads), hi = Math.max(...loads);
  return `a 1-minute load average of ${lo.toFixed(2)}–${hi.toFixed(2)} on ${r.machine.cores} logical cores`;
}

/** The Markdown, chart and JSON of a run. */
export function peersReport(r: PeersRecord): Report {
  const chart = peersChart(r);
  const batches = r.timing.batches;
  // Busy: others' work above a quarter of the cores. While it times, the bench's own threads are in the load too.
  const spare = r.machine.cores * 0.25;
  const own = r.backend.threads ?? r.machine.cores;
  const busy = r.models.some((m) => m.speed.some((s) => (s.loadAverage ?? 0) > own + spare)) ||
    (r.machine.loadAverageStart ?? 0) > spare;

  const accuracyRows = r.models.flatMap((m) =>
    m.accuracy.map((a) => [
      m.name,
      a.tta,
      pct(a.accuracy),
      fmtNumber(a.macroF1),
      fmtNumber(a.nll),
      fmtNumber(a.ece),
      fmtOverconfidence(a.overconfidence),
      m.heldOut,
    ])
  );
  const sizeRows = r.models.map((m) => [
    m.name,
    m.source,
    fmtInt(m.params),
    `${mb(m.weightBytes)} (${m.weightFormat})`,
    ...batches.flatMap((b) => {
      const s = m.speed.find((x) => x.batch === b);
      return [s ? `${ms(s.msPerFace)} (fastest ${ms(s.msPerFaceMin)})` : "n/a"];
    }),
  ]);
  const recallRows = r.models.filter((m) => bestTta(m)).map((m) => [
    `${m.name} (${bestTta(m).tta})`,
    ...EMOTIONS.map((e) => pct(bestTta(m).recall[e] ?? NaN, 1)),
  ]);
  const inputRows = r.models.map((m) => [m.name, m.input, m.labels.join(", ")]);

  const markdown = [
    "# The JavaScript peers' emotion models against ferlab's, on the same faces",
    "",
    `Measured ${r.date}. Every model sees the same ${fmtInt(r.split.testRows)} faces: the test rows of the ` +
    `${r.split.protocol} protocol (seed ${r.split.seed}, split cache ${r.split.key}) of ${r.data.source} ` +
    `(fingerprint ${r.data.fingerprint}; test rows by Usage: ${
      Object.entries(r.split.testUsage).filter(([, n]) => n > 0).map(([u, n]) => `${u} ${fmtInt(n)}`).join(", ")
    }).` + (r.split.testRows < r.split.splitTestRows
      ? ` Only the first ${r.split.testRows} of the split's ` +
        `${r.split.splitTestRows} test rows were measured (--limit): not a full result.`
      : "") +
    (r.data.synthetic
      ? " **These are ferlab's synthetic faces, not FER2013: no number here says anything about FER2013.**"
      : ""),
    ...r.split.notes.map((n) => `Split note: ${n}.`),
    "",
    "## Held out? Not for the peers, as far as anyone can tell",
    "",
    '**The peers\' training data is unknown, so "held-out" may not hold for them.** Their numbers below may be ' +
    "measured on faces they were trained or selected on, which would flatter them; ferlab's official-protocol " +
    "models never saw these rows.",
    "",
    ...r.models.map((m) => `- **${m.name}** (held out: ${m.heldOut}): ${m.heldOutNote}`),
    "",
    "## Accuracy",
    "",
    `TTA \`none\` shows each face once; \`flip\` averages the probabilities of the face and its mirror ` +
    "(`lib/eval/tta.ts`; a crop model sees its centre crop); `crops` averages ten views, each costing a forward " +
    "pass: for a crop model the literature's ten-crop (the four corners and the centre at its input side, each also " +
    "mirrored), for a model of whole 48×48 faces (the peers, 05) the face and four windows shifted by 2 pixels " +
    "(left, right, up, down; edges repeated), each also mirrored. NLL and ECE (15 bins) from " +
    "`lib/eval/calibration.ts`; each peer's probabilities are its softmax outputs put in FER2013's label order.",
    "",
    mdTable(
      ["model", "TTA", "accuracy", "macro-F1", "NLL", "ECE", "confidence − accuracy", "held out"],
      accuracyRows,
      ["left", "left", "right", "right", "right", "right", "right", "left"],
    ).trimEnd(),
    "",
    "Recall per class, at each model's best TTA:",
    "",
    mdTable(["model (TTA)", ...EMOTIONS], recallRows, ["left", ...EMOTIONS.map(() => "right" as const)]).trimEnd(),
    "",
    "## Size and speed",
    "",
    "Milliseconds per face, from the face crop as each library hands it to its emotion model (face-api: the RGB " +
    `crop, here 48×48; Human: its ${HUMAN_CROP_SIDE}×${HUMAN_CROP_SIDE} face tensor; ferlab: the 48×48 gray face) ` +
    "to the seven probabilities read back, each model's own resizing and normalisation included (face-api " +
    "resizes to 112×112, Human to 64×64); cutting the crop out of a photo is each pipeline's own step and is not " +
    `timed. Median over the timed runs ` +
    `(at least ${r.timing.minRuns} runs and ${r.timing.minSeconds} s per batch size, after ${r.timing.warmup} ` +
    `untimed), on ${r.backend.description}. Each time is of one view (TTA \`none\`): \`flip\` costs twice as ` +
    "much and `crops` ten times.",
    "",
    mdTable(
      ["model", "source", "parameters", "weights", ...batches.map((b) => `ms/face, batch ${b}`)],
      sizeRows,
      ["left", "left", "right", "right", ...batches.map(() => "right" as const)],
    ).trimEnd(),
    "",
    ...(chart ? [chartRef("peers", "speed"), ""] : []),
    `Machine: ${r.machine.cpu} (${r.machine.isa}, ${r.machine.cores} logical cores); backend ${r.backend.name}, ` +
    `kernels ${r.backend.kernels}, ${r.backend.threads ?? "?"} thread${r.backend.threads === 1 ? "" : "s"}. ` +
    `Timed under ${loadRange(r)}.`,
    ...(busy
      ? [
        "",
        "**These timings were taken on a busy machine** (a load average above a quarter of its cores besides the " +
        "bench's own threads): they are inflated and noisy, and only their ratios are worth reading, with care. " +
        "Re-time on a quiet machine with:",
        "",
        "```sh",
        r.retimeCommand,
        "```",
      ]
      : []),
    ...(r.note ? ["", `Note on the conditions: ${r.note}`] : []),
    "",
    "## What each model is shown",
    "",
    "A FER2013 face is already a face crop, so each peer gets the whole 48×48 square as the crop its own detector " +
    "would have made (face-api: the detector's box padded to a square; Human: BlazeFace's box enlarged 1.4×), gray " +
    "in all three channels where it takes RGB. Their detectors frame a face somewhat differently from FER2013's " +
    "crops, which may cost them a little here. Preprocessing and label orders were read from the packages' sources " +
    "(`src/faceFeatureExtractor/FaceFeatureExtractor.ts`, `src/faceExpressionNet/FaceExpressions.ts`; " +
    "`src/gear/emotion.ts`, `src/face/facemeshutil.ts`); face-api's own `FaceExpressionNet.forward` runs its model.",
    "",
    mdTable(["model", "input", "output labels, in order"], inputRows).trimEnd(),
    "",
    `Command: \`${r.command}\``,
    "",
  ].join("\n");
  return { markdown, charts: chart ? { speed: chart } : {}, json: r };
}
