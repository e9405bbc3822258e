/**
 * The report every experiment writes: a Markdown page that states what ran
 * (data, split, seed, backend, epochs, wall time, whether it was cut short)
 * and what came out (test accuracy against the study's number, per-class
 * metrics, learning curves, confusion matrix), plus the same numbers as JSON.
 *
 * @module
 */
import { EMOTIONS } from "../data/fer2013.ts";
import type { BackendInfo } from "../backend/select.ts";
import type { Evaluation } from "../eval/metrics.ts";
import { confusionChart, learningCurves } from "../report/charts.ts";
import { configBlock, fmtInt, fmtSeconds, mdTable, pct } from "../report/markdown.ts";
import { chartRef, writeReport } from "../report/write.ts";
import type { TrainResult } from "../train/loop.ts";
import type { DataFacts, Prepared } from "./prepare.ts";

/** Everything an experiment report is made from. */
export interface ExperimentRun {
  /** File stem, e.g. "01_baseline". */
  name: string;
  title: string;
  /** One paragraph: what the experiment is and what the study did. */
  story: string;
  /** The study's reported test accuracy, for comparison. */
  studyAccuracy: number;
  config: object;
  prepared: Prepared;
  model: { params: number; flopsPerImage: number; summary: string[] };
  training: TrainResult;
  /** Test-set evaluation (PrivateTest under the official protocol, when present). */
  test: Evaluation;
  /** Validation-set evaluation of the final model. */
  val?: Evaluation;
  /** Wall seconds of the whole script. */
  wallSeconds: number;
  /** Path of the saved model, relative to the report folder. */
  modelDir: string;
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
export async function writeExperimentReport(outDir: string, run: ExperimentRun): Promise<string[]> {
  const { prepared: p, training: t, test } = run;
  const planned = (run.config as { epochs: number }).epochs;
  const synthetic = p.dataFacts.kind === "synthetic";
  const history = t.history;
  const last = history.at(-1);
  const facts: [string, string][] = [
    ["Data", dataLine(p.dataFacts)],
    ["Split", splitLine((run.config as { protocol: string }).protocol, p)],
    ["Seed", String((run.config as { seed: number }).seed)],
    ["Backend", backendLine(p.backend)],
    [
      "Runtime",
      `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} logical cores`,
    ],
    ["Epochs", endedHow(t, planned) + (t.resumedFrom ? ` (resumed from epoch ${t.resumedFrom})` : "")],
    ["Batch norm", bnLine((run.config as { bnRecalRows?: number }).bnRecalRows ?? 0)],
    [
      "Wall time",
      `${fmtSeconds(run.wallSeconds)} in all; training ${fmtSeconds(t.wallSeconds)} this run${
        last ? `, last epoch ${last.imagesPerSec.toFixed(1)} images/s` : ""
      }`,
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
    headline,
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
    configBlock(run.config),
    "",
  ].join("\n");
  const json = {
    name: run.name,
    title: run.title,
    studyAccuracy: run.studyAccuracy,
    testAccuracy: test.accuracy,
    config: run.config,
    data: p.dataFacts,
    split: {
      protocol: (run.config as { protocol: string }).protocol,
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
    },
    model: { params: run.model.params, flopsPerImage: run.model.flopsPerImage, dir: run.modelDir },
    training: { ...t, plannedEpochs: planned },
    test,
    val: run.val,
    wallSeconds: run.wallSeconds,
    date: new Date().toISOString(),
  };
  const charts = {
    curves: learningCurves(history, { title: `${run.title}: learning curves` }),
    confusion: confusionChart(test.confusion, EMOTIONS, { title: `${run.title}: test confusion (counts)` }),
  };
  const { files } = await writeReport(outDir, run.name, { markdown, charts, json });
  return files;
}
