/**
 * The report every experiment writes: a Markdown page that states what ran
 * (data, split, seed, backend, epochs, wall time, whether it was cut short)
 * and what came out (test accuracy against the study's number, per-class
 * metrics, calibration — NLL, ECE, reliability diagram —, learning curves,
 * confusion matrix), plus the same numbers as JSON. Experiments add their own
 * sections, charts and JSON through {@link ReportExtras}.
 *
 * @module
 */
import { EMOTIONS } from "../data/fer2013.ts";
import type { BackendInfo } from "../backend/select.ts";
import type { CommonConfig } from "../cli/args.ts";
import { epochSeconds } from "../compare/results.ts";
import { overconfidence } from "../eval/calibration.ts";
import type { ProbabilisticEvaluation } from "../eval/metrics.ts";
import { type ChartSpec, confusionChart, learningCurves, reliabilityDiagram } from "../report/charts.ts";
import { configBlock, fmtInt, fmtNumber, fmtOverconfidence, fmtSeconds, mdTable, pct } from "../report/markdown.ts";
import { chartRef, writeReport } from "../report/write.ts";
import type { TrainResult } from "../train/loop.ts";
import type { EpochLog } from "../train/callbacks.ts";
import type { DataFacts, Prepared } from "./prepare.ts";
import { machineFacts, machineLine } from "../machine.ts";

/** What an experiment adds to the standard report. */
export interface ReportExtras {
  /** Paragraphs right after the story (e.g. a measured deviation from the study). */
  preface?: string[];
  /** Markdown sections placed after the results. */
  sections?: string[];
  /** More charts (linked from `sections` with `chartRef`). */
  charts?: Record<string, ChartSpec>;
  /** More machine-readable results, merged into the JSON. */
  json?: Record<string, unknown>;
}

/** Everything an experiment report is made from. */
export interface ExperimentRun<C extends CommonConfig = CommonConfig> {
  /** File stem, e.g. "01_baseline". */
  name: string;
  title: string;
  /** One paragraph: what the experiment is and what the study did. */
  story: string;
  /** The study's reported test accuracy, for comparison. */
  studyAccuracy: number;
  config: C;
  prepared: Prepared;
  model: { params: number; flopsPerImage: number; summary: string[] };
  training: TrainResult;
  /** Test-set evaluation (PrivateTest under the official protocol, when present). */
  test: ProbabilisticEvaluation;
  /** Validation-set evaluation of the final model. */
  val?: ProbabilisticEvaluation;
  /** Wall seconds of the whole script. */
  wallSeconds: number;
  /** Path of the saved model, relative to the report folder. */
  modelDir: string;
  /** Experiment-specific additions. */
  extras?: ReportExtras;
}

function dataLine(d: DataFacts): string {
  const u = d.usage;
  return `${d.source} — ${fmtInt(d.rows)} rows (Training ${fmtInt(u.Training)}, PublicTest ${fmtInt(u.PublicTest)}, ` +
    `PrivateTest ${fmtInt(u.PrivateTest)}), fingerprint \`${d.fingerprint}\``;
}

function splitLine(protocol: string, p: Prepared): string {
  const train = p.trainRows.length < p.split.train.length
    ? `${fmtInt(p.trainRows.length)} of ${fmtInt(p.split.train.length)} (--limit-train)`
    : fmtInt(p.trainRows.length);
  return `${protocol} protocol: train ${train}, val ${fmtInt(p.split.val.length)}, ` +
    `test ${fmtInt(p.split.test.length)} (cache key \`${p.splitCache.key}\`)`;
}

function backendLine(b: BackendInfo): string {
  const parts = [
    b.name,
    b.threads ? `${b.threads} XNNPACK thread(s)` : "",
    b.kernelThreads ? `JS kernels on ${b.kernelThreads} thread(s)` : "",
    b.adapter ?? "",
    `TF.js ${b.tfjs}`,
    b.native
      ? `native kernels: oneDNN ${b.native.version} (${b.native.isa}, ${b.native.threads} threads) for convolutions ` +
        "and batch norm"
      : b.name === "wasm" && b.kernels
      ? "wasm kernels (no oneDNN)"
      : "",
    b.kernels ? `ferlab kernels: ${b.kernels.join(", ")}` : "",
  ];
  return parts.filter(Boolean).join(", ");
}

function bnLine(rows: number): string {
  return rows > 0
    ? `population statistics re-estimated on ${fmtInt(rows)} training images before every validation ` +
      "(training itself uses batch statistics, as always)"
    : "Keras moving averages (momentum 0.99), not re-estimated";
}

/** NLL and ECE of the test set (and of validation when there is one), in words. */
export function calibrationLine(test: ProbabilisticEvaluation, val?: ProbabilisticEvaluation): string {
  const c = test.calibration;
  const v = val?.calibration;
  return `Calibration (test): negative log-likelihood **${fmtNumber(c.nll, 4)}**, expected calibration error ` +
    `**${pct(c.ece)}** (${c.bins.length} bins; 0 = confidence matches accuracy), mean confidence − accuracy ` +
    `**${fmtOverconfidence(overconfidence(c.bins))}**` +
    (v ? `; validation: NLL ${fmtNumber(v.nll, 4)}, ECE ${pct(v.ece)}.` : ".");
}

/** How a resumed run continued: from which epoch, or not at all (a report rebuilt from a finished checkpoint). */
function resumedHow(t: TrainResult): string {
  if (!t.resumedFrom) return "";
  return (t.resumedFrom === t.history.length && !t.cutShort
    ? ` (resumed after its last epoch: this report was rebuilt from the finished run's checkpoint, nothing trained)`
    : ` (resumed from epoch ${t.resumedFrom})`) + kernelChanges(t.history);
}

/**
 * "; kernels changed: epochs 1–4 wasm relaxed-simd, 5–9 oneDNN 2.6.3 avx2" when
 * a resumed run's epochs were computed by different kernels or ISAs (their
 * sums round differently), else "".
 */
export function kernelChanges(history: readonly EpochLog[]): string {
  const runs: { from: number; to: number; kernels: string }[] = [];
  for (const h of history) {
    const k = h.kernels ?? "unrecorded kernels";
    const last = runs.at(-1);
    if (last?.kernels === k) last.to = h.epoch;
    else runs.push({ from: h.epoch, to: h.epoch, kernels: k });
  }
  if (runs.length < 2) return "";
  const span = (r: typeof runs[0]) => (r.from === r.to ? `${r.from}` : `${r.from}–${r.to}`);
  return `; kernels changed: epochs ${runs.map((r) => `${span(r)} ${r.kernels}`).join(", ")}`;
}

/** Which weights the evaluated model has, when a callback chose them (EarlyStopping's best epoch). */
function finalWeights(t: TrainResult): string {
  return t.endNotes?.length ? `; ${t.endNotes.join("; ")}` : "";
}

/** How the training ended, in words. */
export function endedHow(t: TrainResult, planned: number): string {
  const ran = t.history.length;
  if (t.cutShort) {
    return `**cut short** after ${ran} of ${planned} epochs (${t.reason ?? "time budget"}; continue it with --resume)`;
  }
  if (t.stoppedEarly) return `stopped early after ${ran} of ${planned} epochs (${t.reason ?? "callback"})`;
  return `completed ${ran} of ${planned} epochs`;
}

/** Builds the Markdown, charts and JSON of an experiment and writes them to `outDir`. */
export async function writeExperimentReport<C extends CommonConfig>(
  outDir: string,
  run: ExperimentRun<C>,
): Promise<string[]> {
  const { prepared: p, training: t, test, config } = run;
  const extras = run.extras ?? {};
  const planned = config.epochs;
  const synthetic = p.dataFacts.kind === "synthetic";
  const history = t.history;
  const last = history.at(-1);
  const machine = machineFacts(p.backend.native?.isa);
  const facts: [string, string][] = [
    ["Data", dataLine(p.dataFacts)],
    ["Split", splitLine(config.protocol, p)],
    ["Seed", String(config.seed)],
    ["Backend", backendLine(p.backend)],
    [
      "Runtime",
      `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}/${Deno.build.arch}, ${machineLine(machine)}`,
    ],
    ["Epochs", endedHow(t, planned) + resumedHow(t) + finalWeights(t)],
    ["Batch norm", bnLine(Math.min(config.bnRecalRows, p.trainRows.length))],
    [
      "Wall time",
      `${fmtSeconds(run.wallSeconds)} in all; training ${fmtSeconds(t.wallSeconds)} this run${
        t.resumedFrom ? ` (all ${t.history.length} epochs: ${fmtSeconds(epochSeconds(t.history))}, summed)` : ""
      }${last ? `, last epoch ${last.imagesPerSec.toFixed(1)} images/s` : ""}`,
    ],
    [
      "Model",
      `${fmtInt(run.model.params)} parameters, ${(run.model.flopsPerImage / 1e6).toFixed(1)} MFLOP per image (forward)`,
    ],
    ["Date", new Date().toISOString()],
  ];

  const notes = [...p.dataFacts.notes, ...p.split.notes, ...p.backend.notes];
  const perClassRows = test.perClass.map((
    c,
  ) => [c.name, pct(c.precision, 1), pct(c.recall, 1), pct(c.f1, 1), fmtInt(c.support)]);
  const historyRows = history.map((h) => [
    h.epoch,
    h.loss.toFixed(4),
    pct(h.acc),
    Number.isFinite(h.valLoss) ? h.valLoss.toFixed(4) : "–",
    Number.isFinite(h.valAcc) ? pct(h.valAcc) : "–",
    h.lr.toExponential(2),
    fmtSeconds(h.seconds),
    h.imagesPerSec.toFixed(1),
  ]);
  const headline = `**Test accuracy: ${pct(test.accuracy)}** on ${fmtInt(test.n)} held-out images ` +
    `(macro-F1 ${pct(test.macroF1)})` +
    (synthetic
      ? ` — on the **synthetic** stand-in set, so not comparable with the study's ${pct(run.studyAccuracy)} on FER2013.`
      : `; the study reported ${pct(run.studyAccuracy)}.`);
  const markdown = [
    `# ${run.title}`,
    "",
    run.story,
    "",
    ...(extras.preface ?? []).flatMap((para) => [para, ""]),
    headline,
    "",
    calibrationLine(test, run.val),
    t.cutShort
      ? "\n> **This run was cut short** before its planned epochs; the numbers are of the model as it stood.\n"
      : "",
    "## Run",
    "",
    mdTable(["", ""], facts),
    "",
    notes.length ? ["Notes:", "", ...notes.map((n) => `- ${n}`), ""].join("\n") : "",
    "## Results",
    "",
    mdTable(["class", "precision", "recall", "F1", "support"], perClassRows, [
      "left",
      "right",
      "right",
      "right",
      "right",
    ]),
    "",
    run.val ? `Validation accuracy of the final model: ${pct(run.val.accuracy)} on ${fmtInt(run.val.n)} images.\n` : "",
    chartRef(run.name, "curves"),
    "",
    chartRef(run.name, "confusion"),
    "",
    chartRef(run.name, "reliability"),
    "",
    ...(extras.sections ?? []).flatMap((section) => [section, ""]),
    "## Training history",
    "",
    mdTable(["epoch", "loss", "acc", "val loss", "val acc", "lr", "time", "images/s"], historyRows),
    "",
    "## Model",
    "",
    "```",
    ...run.model.summary,
    "```",
    "",
    `Saved in TF.js format at \`${run.modelDir}\` (evaluate it with \`deno task eval --model ${run.modelDir} --data PATH\`).`,
    "",
    "## Resolved config",
    "",
    configBlock(config),
    "",
  ].join("\n");
  const json = {
    name: run.name,
    title: run.title,
    studyAccuracy: run.studyAccuracy,
    testAccuracy: test.accuracy,
    config,
    data: p.dataFacts,
    split: {
      protocol: config.protocol,
      train: p.trainRows.length,
      val: p.split.val.length,
      test: p.split.test.length,
      notes: p.split.notes,
      cacheKey: p.splitCache.key,
    },
    backend: p.backend,
    runtime: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      os: Deno.build.os,
      arch: Deno.build.arch,
      cores: navigator.hardwareConcurrency,
      cpu: machine.cpu,
      isa: machine.isa,
      loadAverage: machine.loadAverage,
    },
    model: { params: run.model.params, flopsPerImage: run.model.flopsPerImage, dir: run.modelDir },
    training: { ...t, plannedEpochs: planned },
    test,
    val: run.val,
    wallSeconds: run.wallSeconds,
    date: new Date().toISOString(),
    ...extras.json,
  };
  const charts: Record<string, ChartSpec> = {
    curves: learningCurves(history, { title: `${run.title}: learning curves` }),
    confusion: confusionChart(test.confusion, EMOTIONS, { title: `${run.title}: test confusion (counts)` }),
    reliability: reliabilityDiagram(test.calibration.bins, { title: `${run.title}: test reliability (15 bins)` }),
    ...extras.charts,
  };
  const { files } = await writeReport(outDir, run.name, { markdown, charts, json });
  return files;
}

/** What {@link writeUnfinishedReport} needs. */
export interface UnfinishedRun<C extends CommonConfig>
  extends Pick<ExperimentRun<C>, "name" | "title" | "story" | "studyAccuracy" | "config" | "prepared"> {
  wallSeconds: number;
  /** Why there is no final model yet, and how to continue. */
  why: string;
  extras?: ReportExtras;
}

/** The report of a run that stopped before it had a model to evaluate (Markdown, extras' charts, JSON). */
export async function writeUnfinishedReport<C extends CommonConfig>(
  outDir: string,
  run: UnfinishedRun<C>,
): Promise<string[]> {
  const { prepared: p, config } = run;
  const extras = run.extras ?? {};
  const markdown = [
    `# ${run.title}`,
    "",
    run.story,
    "",
    `> **This run is unfinished: ${run.why}** There is no final model or test accuracy yet ` +
    `(the study reported ${pct(run.studyAccuracy)}).`,
    "",
    "## Run",
    "",
    mdTable(["", ""], [
      ["Data", dataLine(p.dataFacts)],
      ["Split", splitLine(config.protocol, p)],
      ["Seed", String(config.seed)],
      ["Backend", backendLine(p.backend)],
      ["Wall time", fmtSeconds(run.wallSeconds)],
      ["Date", new Date().toISOString()],
    ]),
    "",
    ...(extras.sections ?? []).flatMap((section) => [section, ""]),
    "## Resolved config",
    "",
    configBlock(config),
    "",
  ].join("\n");
  const json = {
    name: run.name,
    title: run.title,
    unfinished: run.why,
    studyAccuracy: run.studyAccuracy,
    config,
    data: p.dataFacts,
    backend: p.backend,
    wallSeconds: run.wallSeconds,
    date: new Date().toISOString(),
    ...extras.json,
  };
  const { files } = await writeReport(outDir, run.name, { markdown, charts: extras.charts ?? {}, json });
  return files;
}
