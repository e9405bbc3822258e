/**
 * The report sections of a model trained on random crops (experiment 06):
 * test accuracy of the centre crop, with its mirror and with the ten-crop,
 * on the test split and on each FER2013 test Usage; and the run's accuracy
 * against epochs and against CPU-hours beside a reference run's (05's
 * committed result) and the study's number.
 *
 * CPU-hours are the training epochs' wall hours (validation included, the
 * final evaluation not) times the threads the run computed on: on the
 * project's 2-core machines every run so far used both cores, so the hours
 * compare as they are and the unit stays right on a machine with more.
 *
 * @example
 * ```ts
 * await exp.finish(model, training, (results) =>
 *   cropsReport(exp, model, { test: results.test, reference: "05_budget", costs }));
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import type { CommonConfig } from "../cli/args.ts";
import { readResultJson, ResultFileError, validationHistory } from "../compare/results.ts";
import { type Fer2013, USAGES } from "../data/fer2013.ts";
import { evaluateEnsemble } from "../eval/ensemble.ts";
import type { ProbabilisticEvaluation } from "../eval/metrics.ts";
import type { TtaMode } from "../eval/tta.ts";
import { modelInput } from "../models/input_spec.ts";
import { accuracyAxis, type ChartSpec, validationTestChart } from "../report/charts.ts";
import { fmtInt, mdTable, pct } from "../report/markdown.ts";
import { chartRef } from "../report/write.ts";
import type { TrainResult } from "../train/loop.ts";
import type { ArchitectureCost } from "../train/costs.ts";
import { costSentence } from "../train/costs.ts";
import type { Experiment } from "../harness/experiment.ts";
import type { ReportExtras } from "../harness/report.ts";

/** One set of test images scored three ways. */
export interface TtaRow {
  /** "test split", "PublicTest" or "PrivateTest". */
  set: string;
  n: number;
  /** Accuracy and NLL of each TTA mode (for a crop model: centre crop, + mirror, ten-crop). */
  accuracy: Record<TtaMode, number>;
  nll: Record<TtaMode, number>;
}

const MODES: TtaMode[] = ["none", "flip", "crops"];

/**
 * The model scored with each TTA mode on the test split and on every test
 * Usage of `data` whose rows are not the test split's (one that is the
 * validation split says so: it chose the epoch). `test`, the plain
 * evaluation of the test split already made, is reused.
 */
export async function ttaRows(
  model: tf.LayersModel,
  data: Fer2013,
  split: { test: Int32Array; val: Int32Array },
  test: ProbabilisticEvaluation,
  /** The run's protocol: under the study's every Usage is mixed into training, so only the test split is held out. */
  protocol: string,
): Promise<TtaRow[]> {
  const { imageSize } = modelInput(model);
  const score = async (set: string, rows: ArrayLike<number>, plain?: ProbabilisticEvaluation): Promise<TtaRow> => {
    const row: TtaRow = { set, n: rows.length, accuracy: {} as TtaRow["accuracy"], nll: {} as TtaRow["nll"] };
    for (const mode of MODES) {
      const e = mode === "none" && plain
        ? plain
        : await evaluateEnsemble([model], data, rows, { tta: mode, imageSize });
      row.accuracy[mode] = e.accuracy;
      row.nll[mode] = e.calibration.nll;
    }
    return row;
  };
  const same = (rows: number[], of: Int32Array) => {
    const set = new Set(of);
    return rows.length === of.length && rows.every((r) => set.has(r));
  };
  const out = [await score("test split", split.test, test)];
  for (const usage of protocol === "official" ? ["PublicTest", "PrivateTest"] as const : []) {
    const code = USAGES.indexOf(usage);
    const rows: number[] = [];
    for (let i = 0; i < data.n; i++) if (data.usage[i] === code) rows.push(i);
    if (rows.length === 0 || same(rows, split.test)) continue;
    out.push(await score(same(rows, split.val) ? `${usage} (the validation split: it chose the epoch)` : usage, rows));
  }
  return out;
}

/** Which rows a protocol tests on, said under a TTA table. */
export function testSplitNote(protocol: string): string {
  return protocol === "official"
    ? "Under the official protocol the test split is PrivateTest when the data has it, else PublicTest."
    : "The test split is the study protocol's 10% of all rows.";
}

/** A Markdown section of {@link ttaRows}. */
export function ttaSection(rows: TtaRow[], input: { imageSize: number; inputSize: number }, testNote: string): string {
  const { imageSize: s, inputSize: c } = input;
  return [
    "## Test-time augmentation",
    "",
    `The model sees ${c}×${c} crops of the ${s}×${s} faces. Without TTA it is scored on the centre crop; ` +
    `"+ mirror" averages the class probabilities of the centre crop and of its mirror image; "ten-crop" averages ` +
    `the four corner crops and the centre crop, each also of the mirrored face (the literature's protocol). ` +
    testNote,
    "",
    mdTable(
      ["images", "n", "centre crop", "+ mirror", "ten-crop", "NLL centre", "NLL ten-crop"],
      rows.map((r) => [
        r.set,
        fmtInt(r.n),
        pct(r.accuracy.none),
        pct(r.accuracy.flip),
        pct(r.accuracy.crops),
        r.nll.none.toFixed(4),
        r.nll.crops.toFixed(4),
      ]),
    ),
  ].join("\n");
}

/** A run's validation accuracy after each epoch against epochs and CPU-hours, with its final test accuracies. */
export interface AccuracySeries {
  /** Legend label, e.g. "06_crops (this run)". */
  label: string;
  points: { epoch: number; cpuHours: number; valAcc: number }[];
  /** Final test accuracies by what they are, e.g. { "centre crop": 0.66, "ten-crop": 0.68 }. */
  tests: Record<string, number>;
  /** The facts a reader compares runs by. */
  data: string;
  protocol: string;
  fingerprint?: string;
  testImages?: number;
  cores: number;
  cutShort: boolean;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined;

/**
 * The series of a parsed report JSON (this run's, or another version's file,
 * read defensively), or why it has none. `tests` picks the final accuracies.
 */
export function accuracySeries(
  label: string,
  json: unknown,
  tests: (r: Record<string, unknown>) => Record<string, number>,
): AccuracySeries | string {
  const history = validationHistory(json);
  if (typeof history === "string") return history;
  const r = obj(json)!;
  const backend = obj(r.backend);
  const cores = num(backend?.threads) ?? num(obj(r.runtime)?.cores) ?? 1;
  const points = history.map(({ epoch, seconds, valAcc }) => ({ epoch, cpuHours: seconds * cores / 3600, valAcc }));
  const data = obj(r.data);
  return {
    label,
    points,
    tests: tests(r),
    data: data?.kind === "synthetic" ? "synthetic" : String(data?.source ?? "unknown"),
    protocol: String(obj(r.split)?.protocol ?? obj(r.config)?.protocol ?? "unknown"),
    fingerprint: typeof data?.fingerprint === "string" ? data.fingerprint : undefined,
    testImages: num(obj(r.split)?.test),
    cores,
    cutShort: obj(r.training)?.cutShort === true,
  };
}

/** The final accuracies of a budgeted (05-style) report: PublicTest plain and with flip TTA, else its test accuracy. */
export function budgetTests(r: Record<string, unknown>): Record<string, number> {
  const pub = obj(obj(r.testsByUsage)?.PublicTest);
  const plain = num(pub?.plain);
  const flip = num(pub?.flip);
  if (plain !== undefined && flip !== undefined) return { "PublicTest": plain, "PublicTest + mirror": flip };
  const test = num(r.testAccuracy);
  return test === undefined ? {} : { test };
}

/**
 * Validation accuracy (lines) and final test accuracies (diamonds) of each
 * series against `x`, with the study's accuracy as a dashed rule.
 */
export function accuracyChart(
  series: AccuracySeries[],
  x: "epoch" | "cpuHours",
  study: { accuracy: number; label: string },
  title: string,
): ChartSpec {
  const values = series.flatMap((s) => {
    const last = s.points.at(-1)!;
    return [
      ...s.points.map((p) => ({ run: s.label, x: p[x], accuracy: p.valAcc, kind: "validation", what: "validation" })),
      ...Object.entries(s.tests).map(([what, accuracy]) => ({
        run: s.label,
        x: last[x],
        accuracy,
        kind: "test",
        what,
      })),
    ];
  });
  const y = accuracyAxis();
  return validationTestChart({
    title,
    values,
    x: { field: "x", title: x === "epoch" ? "epoch" : "CPU-hours of training (epoch wall hours × threads)" },
    color: "run",
    testKind: "test",
    tooltip: ["run", "what"],
    extraLayers: [{
      data: { values: [{ accuracy: study.accuracy, label: study.label }] },
      layer: [
        { mark: { type: "rule", strokeDash: [4, 4], color: "gray" }, encoding: { y } },
        {
          mark: { type: "text", align: "left", dx: 4, dy: -6, color: "gray" },
          encoding: { y, x: { datum: 0, type: "quantitative" }, text: { field: "label" } },
        },
      ],
    }],
  });
}

/** A table of the series beside the study's number, saying which rows share their test images. */
export function comparisonTable(series: AccuracySeries[], study: { accuracy: number; label: string }): string {
  const first = series[0];
  const rows = series.map((s) => {
    const same = s === first ? "–" : s.fingerprint !== undefined && s.fingerprint === first.fingerprint &&
        s.protocol === first.protocol && s.testImages === first.testImages
      ? "yes"
      : "no";
    const best = Math.max(...s.points.map((p) => p.valAcc));
    return [
      s.label + (s.cutShort ? " (cut short)" : ""),
      s.data,
      s.protocol,
      same,
      fmtInt(s.points.length),
      s.points.at(-1)!.cpuHours.toFixed(2),
      pct(best),
      Object.entries(s.tests).map(([what, a]) => `${what} ${pct(a)}`).join(", ") || "–",
    ];
  });
  rows.push([study.label, "FER2013", "the study's 80/10/10 split", "no", "–", "–", "–", pct(study.accuracy)]);
  return mdTable(
    ["run", "data", "protocol", "same test images", "epochs", "CPU-hours", "best val acc", "test accuracy"],
    rows,
  );
}

/**
 * Why experiment 06 runs what it runs by default: its report says so to every
 * reader (the numbers were measured when the defaults were chosen; each run's
 * own costs are in its preface).
 */
export const WHY_CROP_DEFAULTS = [
  "## Why 44-pixel crops and `vgg`",
  "",
  "**44-pixel crops**: the literature uses 40–44. At 44 every one of the ten test views keeps the whole face (a " +
  "corner crop loses 4 pixels, 8% of one side; at 40 it loses 8, enough to cut into the chin or the brows of " +
  "FER2013's tightly cropped faces), the 5×5 crop positions add ±2 pixels of jitter to the ±10% shifts, and each " +
  "image costs 16% fewer FLOPs than at 48 (44² / 48²). `--crop-size 40` is the other end of that range.",
  "",
  "**`vgg` by default**: the long run is paid in CPU-hours. `wide` (64-128-256-512) costs four times the FLOPs of " +
  "`vgg` (32-64-128-256): 0.75 against 0.19 GFLOP per 44-pixel image, 4.7 M against 1.2 M parameters, and it " +
  "trained 2.2–2.8× slower when the default was chosen (3-epoch quick runs of each, interleaved, on 2 shared cores " +
  "under a load of 3–5: `vgg` 111–232 images/s, `wide` 42–94; oneDNN kernels). At that price 100 epochs of `wide` " +
  "buy about 250 of `vgg`, and 05 got 65% from `vgg` in 13 epochs, so the long run spends its hours on epochs; " +
  "`--arch wide` is the other choice.",
  "",
  "**No mixup, no label smoothing by default**: mixup (`--mixup 0.2`) is cheap, but no FER2013 run here has shown " +
  "that it helps. Label smoothing is off too (05 used 0.1): 03's paired ablation found it worth 0.7 points, within " +
  "noise, at the price of a model 5 points underconfident, and averaging ten crops lowers confidence further.",
].join("\n");

/** What {@link cropsReport} reports on. */
export interface CropsRun {
  training: TrainResult;
  /** The plain (centre-crop) evaluation of the test split, from `exp.finish`. */
  test: ProbabilisticEvaluation;
  /** Report name of the run set beside this one, read from the same output folder (e.g. "05_budget"). */
  reference: string;
  /** Measured costs of the candidate architectures, and the one that ran. */
  costs: ArchitectureCost[];
  arch: string;
  /** The section that says why the run's defaults are what they are (default 06's, {@link WHY_CROP_DEFAULTS}). */
  why?: string;
}

/**
 * Everything a crop model's run adds to its report: the measured costs of the
 * architectures (preface), the TTA table, and accuracy against epochs and
 * CPU-hours beside the reference run and the study.
 */
export async function cropsReport<C extends CommonConfig>(
  exp: Experiment<C>,
  model: tf.LayersModel,
  run: CropsRun,
): Promise<ReportExtras> {
  const { config, prepared } = exp;
  const input = modelInput(model);
  const rows = await ttaRows(model, prepared.data, prepared.split, run.test, config.protocol);
  const testNote = testSplitNote(config.protocol);
  const split = rows[0];
  const study = { accuracy: exp.spec.studyAccuracy, label: `the study's best model ${pct(exp.spec.studyAccuracy, 0)}` };
  const self = accuracySeries(exp.name, {
    training: run.training,
    backend: prepared.backend,
    runtime: { cores: navigator.hardwareConcurrency },
    data: prepared.dataFacts,
    split: { protocol: config.protocol, test: prepared.split.test.length },
  }, () => ({ "centre crop": split.accuracy.none, "ten-crop": split.accuracy.crops }));
  const series: AccuracySeries[] = [];
  const notes: string[] = [];
  if (typeof self === "string") notes.push(`this run: ${self}`);
  else series.push(self);
  const refPath = join(config.out, `${run.reference}.json`);
  try {
    // The reference is another script's output: absent or unreadable, the run's own numbers still stand.
    const json = await readResultJson(refPath);
    const other = json === undefined ? "not found" : accuracySeries(run.reference, json, budgetTests);
    if (typeof other === "string") notes.push(`${refPath}: ${other}`);
    else series.push(other);
  } catch (e) {
    if (!(e instanceof ResultFileError)) throw e;
    notes.push(`${refPath}: not valid JSON`);
  }
  return {
    preface: [
      costSentence(run.costs, run.arch),
      `Input: random ${input.inputSize}×${input.inputSize} crops of the ${input.imageSize}×${input.imageSize} ` +
      `faces while training; the saved model records its input side and its default TTA (ten-crop), which ` +
      `\`deno task eval\` and \`deno task predict\` apply. **Ten-crop test accuracy: ${pct(split.accuracy.crops)}** ` +
      `(centre crop alone ${pct(split.accuracy.none)}).`,
    ],
    sections: [
      ttaSection(rows, input, testNote),
      run.why ?? WHY_CROP_DEFAULTS,
      [
        `## Against ${run.reference} and the study`,
        "",
        "Validation accuracy after each epoch against epochs and against CPU-hours of training (diamonds: final " +
        "test accuracies; dashed: the study's best model). Test accuracies compare only between rows that share " +
        "their test images.",
        "",
        series.length ? comparisonTable(series, study) : "No run with a training history to show.",
        "",
        ...(series.length ? [chartRef(exp.name, "epochs"), "", chartRef(exp.name, "cpuhours")] : []),
        ...(notes.length ? ["", `Not shown: ${notes.join("; ")}.`] : []),
      ].join("\n"),
    ],
    charts: series.length
      ? {
        epochs: accuracyChart(series, "epoch", study, "Accuracy against epochs"),
        cpuhours: accuracyChart(series, "cpuHours", study, "Accuracy against CPU-hours"),
      }
      : {},
    json: {
      input,
      tta: rows,
      testTenCrop: split.accuracy.crops,
      measuredCosts: run.costs,
      reference: series.find((s) => s.label === run.reference) ?? null,
    },
  };
}
