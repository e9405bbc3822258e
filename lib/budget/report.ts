/**
 * The report sections of a budgeted run (see `plan.ts`): how the run
 * ended against its budget, the plan it measured and chose, the learning-rate
 * schedule as a chart, and a table of the ablation runs found beside it.
 *
 * @example
 * ```ts
 * const training = await exp.train(model, { optimizer, lrSchedule: budget.schedule });
 * const extras = await budgetReport(exp, model, { budget, training, finalLr: getLearningRate(optimizer) });
 * await exp.finish(model, training, extras);
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { CommonConfig } from "../cli/args.ts";
import { epochSeconds, readResultJsons } from "../compare/results.ts";
import { CHART_WIDTH, type ChartSpec, VEGA_LITE_SCHEMA } from "../report/charts.ts";
import { fmtInt, fmtSeconds, mdTable, pct } from "../report/markdown.ts";
import { chartRef } from "../report/write.ts";
import type { TrainResult } from "../train/loop.ts";
import { accuracyVsMinutesChart, minutesTable, readHistories } from "./accuracy_minutes.ts";
import { type Budgeted, type BudgetRecord, scheduleOf } from "./plan.ts";
import type { Experiment } from "../harness/experiment.ts";
import type { ReportExtras } from "../harness/report.ts";
import { testsByUsage, usageSection } from "./by_usage.ts";

/** How a budgeted run ended. */
export interface BudgetOutcome {
  /**
   * `inside`: schedule complete within the budget; `overran`: complete but
   * late; `resumed`: complete over several sessions (not one timed run);
   * `cutShort`: `--max-minutes` ended this session before the schedule did;
   * `stopped`: training ended early (non-finite loss).
   */
  status: "inside" | "overran" | "resumed" | "cutShort" | "stopped";
  /** One sentence for the report. */
  sentence: string;
  /** Learning rate after the last step, and the schedule's last value. */
  finalLr: number;
  scheduleFinalLr: number;
}

/** Classifies the end of a budgeted run; `elapsedSeconds` is the script's wall time so far. */
export function budgetOutcome(
  record: BudgetRecord,
  training: TrainResult,
  elapsedSeconds: number,
  finalLr: number,
): BudgetOutcome {
  const budget = record.budgetMinutes * 60;
  const planned = record.plan.epochs;
  const ran = training.history.length;
  const scheduleFinalLr = scheduleOf(record)(record.schedule.totalSteps - 1);
  const base = { finalLr, scheduleFinalLr };
  const min = (s: number) => `${(s / 60).toFixed(1)} min`;
  if (training.cutShort) {
    return {
      ...base,
      status: "cutShort",
      sentence:
        `**Cut short by --max-minutes** after epoch ${ran} of the ${planned} the budget planned: the schedule ` +
        `is incomplete (learning rate ${finalLr.toExponential(2)}, not yet its final ` +
        `${
          scheduleFinalLr.toExponential(2)
        }). Continue it with --resume; the budget's plan is kept beside the checkpoint.`,
    };
  }
  if (training.stoppedEarly) {
    return {
      ...base,
      status: "stopped",
      sentence: `**Stopped early** after epoch ${ran} of ${planned}: ${training.reason ?? "unknown reason"}.`,
    };
  }
  if (training.resumedFrom !== undefined) {
    const total = epochSeconds(training.history);
    return {
      ...base,
      status: "resumed",
      sentence: `Schedule complete (${ran} of ${planned} epochs) over several sessions, resumed after epoch ` +
        `${training.resumedFrom}: ${min(total)} of training epochs in all. A resumed run is not one timed run, so ` +
        `whether it fits the ${record.budgetMinutes}-minute budget is not judged.`,
    };
  }
  const inside = elapsedSeconds <= budget;
  return {
    ...base,
    status: inside ? "inside" : "overran",
    sentence: inside
      ? `Schedule complete inside the budget: ${planned} epochs, ${
        min(elapsedSeconds)
      } of ${record.budgetMinutes} min ` +
        `from start to the end of evaluation (predicted ${min(record.predictedRunSeconds)}).`
      : `Schedule complete but the budget **overran** by ${min(elapsedSeconds - budget)}: ${min(elapsedSeconds)} ` +
        `against ${record.budgetMinutes} min (predicted ${min(record.predictedRunSeconds)}); ` +
        (record.predictedRunSeconds > budget
          ? "at the measured step time not even one epoch fits this budget, and the run trains at least one."
          : "the machine ran slower than when the step was timed."),
  };
}

/** The budget, the probe's measurements, the plan and the schedule, as a Markdown section. */
export function budgetSection(record: BudgetRecord, outcome: BudgetOutcome, reused: boolean): string {
  const p = record.probe;
  const s = record.schedule;
  const shape = s.kind === "onecycle"
    ? `one-cycle (cosine), peak ${s.peakLr} after ${pct(s.warmupFraction, 0)} of the steps, from ${
      (s.peakLr / 25).toExponential(2)
    } down to ${outcome.scheduleFinalLr.toExponential(2)}`
    : `linear warm-up over ${fmtInt(s.warmupSteps)} steps to ${s.peakLr}, then cosine decay to 0`;
  return [
    "## Budget",
    "",
    outcome.sentence,
    "",
    mdTable(["", ""], [
      ["Budget", `${record.budgetMinutes} min for the whole run (loading, timing, training, final evaluation)`],
      [
        "Measured step",
        `${(p.stepSeconds * 1000).toFixed(0)} ms per step of ${p.batchSize} (mean of ${p.timedMs.length} timed ` +
        `steps: ${p.timedMs.map((m) => m.toFixed(0)).join(", ")} ms), after ${p.warmMs.length} warm-up steps ` +
        `(${p.warmMs.map((m) => m.toFixed(0)).join(", ")} ms: Liftoff → TurboFan, operator creation)`,
      ],
      [
        "Per epoch",
        `${fmtInt(record.stepsPerEpoch)} steps ≈ ${fmtSeconds(record.stepsPerEpoch * p.stepSeconds)} + ` +
        `${fmtSeconds(record.epochOverheadSeconds)} of validation, batch-norm recalibration and checkpoint ` +
        `(inference ${(p.forwardSecondsPerImage * 1000).toFixed(2)} ms/image, checkpoint ` +
        `${p.checkpointSeconds.toFixed(1)} s)`,
      ],
      [
        "Plan",
        `${record.plan.epochs} epochs = ${fmtInt(record.plan.totalSteps)} steps; ${fmtSeconds(record.spentSeconds)} ` +
        `already spent when planned, ${fmtSeconds(record.reserveSeconds)} kept for the final evaluation, ` +
        `${pct(record.safety, 0)} of the budget kept free; predicted ${fmtSeconds(record.predictedRunSeconds)}` +
        (reused ? " (plan read back from the interrupted run)" : ""),
      ],
      ["Re-planned", replansLine(record, reused)],
      ["Schedule", `${shape}, set before every step from the global step`],
      [
        "Last learning rate",
        `${outcome.finalLr.toExponential(3)} (the schedule's final value is ${
          outcome.scheduleFinalLr.toExponential(3)
        })`,
      ],
    ]),
  ].join("\n");
}

/** The plan's changes during the warm-up, in words. */
function replansLine(record: BudgetRecord, reused: boolean): string {
  const replans = record.replans ?? [];
  if (!replans.length) {
    return reused
      ? "no re-plan recorded; a resumed run keeps its plan"
      : "no: the warm-up's epochs took what the probe predicted (to the epoch)";
  }
  return replans.map((r) =>
    `after epoch ${r.afterEpoch} (${fmtSeconds(r.epochSeconds)} with its checkpoint): ${r.from.epochs} → ` +
    `${r.to.epochs} epochs`
  ).join("; ") + "; the warm-up continued from the rate it had reached to the new peak step";
}

/** The planned learning rate against the step (about 200 samples), log scale. */
export function scheduleChart(record: BudgetRecord, title = "Learning-rate schedule chosen by the budget"): ChartSpec {
  const lr = scheduleOf(record);
  const total = record.schedule.totalSteps;
  const every = Math.max(1, Math.floor(total / 200));
  const values = [];
  for (let step = 0; step < total; step += every) values.push({ step, lr: lr(step) });
  values.push({ step: total - 1, lr: lr(total - 1) });
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: CHART_WIDTH,
    height: 160,
    data: { values },
    mark: "line",
    encoding: {
      x: { field: "step", type: "quantitative", title: `step (of ${total}; ${record.stepsPerEpoch} per epoch)` },
      y: { field: "lr", type: "quantitative", title: "learning rate", scale: { type: "log" } },
    },
  } as ChartSpec;
}

/** The fields of a budgeted report's JSON the ablation table reads. */
export interface AblationRun {
  name: string;
  budget?: { budgetMinutes: number; plan: { epochs: number } };
  ingredients?: Record<string, string>;
  outcome?: { status: string };
  testsByUsage?: Record<string, { plain: number; flip: number; n: number }>;
  data?: { kind?: string };
}

/**
 * A table of every budgeted report `<base>*.json` in `outDir` (the main run
 * and its ablations) plus `current` (the run being reported, which replaces
 * its older report), with the ingredients each changed, or null when there is
 * only one. Runs with a smaller budget than the largest are marked as shorter
 * runs.
 */
export async function ablationSection(outDir: string, base: string, current: AblationRun): Promise<string | null> {
  const runs: AblationRun[] = [current];
  // A half-written or foreign file is not an ablation; the table lists what it can read.
  for (const { name, json } of await readResultJsons(outDir)) {
    const r = json as AblationRun | undefined;
    if (name.startsWith(base) && r && r.name !== current.name && r.budget && r.ingredients && r.testsByUsage) {
      runs.push(r);
    }
  }
  if (runs.length < 2) return null;
  runs.sort((a, b) => b.budget!.budgetMinutes - a.budget!.budgetMinutes || a.name.localeCompare(b.name));
  const longest = runs[0].budget!.budgetMinutes;
  const reference = runs[0].ingredients!;
  const rows = runs.map((r) => {
    const off = Object.entries(r.ingredients!).filter(([k, v]) => reference[k] !== v).map(([k, v]) => `${k}: ${v}`);
    const t = r.testsByUsage!.PublicTest ?? Object.values(r.testsByUsage!)[0];
    return [
      r.name,
      `${r.budget!.budgetMinutes} min${r.budget!.budgetMinutes < longest ? " (shorter run)" : ""}`,
      String(r.budget!.plan.epochs),
      r.data?.kind === "synthetic" ? "synthetic" : "FER2013",
      off.length ? off.join(", ") : "full recipe",
      r.outcome?.status ?? "?",
      t ? pct(t.plain) : "–",
      t ? pct(t.flip) : "–",
    ];
  });
  return [
    "## Ablations",
    "",
    `What each ingredient adds: every budgeted run of this experiment found in this folder. Rows with a budget under ` +
    `${longest} minutes are **shorter runs** than the main one; compare them with the full recipe at the same budget.`,
    "",
    mdTable(
      ["report", "budget", "epochs", "data", "changed from the first row", "ended", "PublicTest", "+ flip TTA"],
      rows,
    ),
  ].join("\n");
}

/** What {@link budgetReport} reports on. */
export interface BudgetedRun {
  budget: Budgeted;
  training: TrainResult;
  /** The optimizer's learning rate after training. */
  finalLr: number;
  /** Stem shared by the main run and its ablations (default the experiment's spec name). */
  family?: string;
}

/**
 * Everything a budgeted run adds to its report: scores on PublicTest and
 * PrivateTest (plain and flip TTA), how the run ended against its budget,
 * the plan and schedule, the ablations beside it, and accuracy against
 * training minutes for every report in the output folder.
 */
export async function budgetReport<C extends CommonConfig>(
  exp: Experiment<C>,
  model: tf.LayersModel,
  run: BudgetedRun,
): Promise<ReportExtras> {
  const { config, prepared } = exp;
  const { budget, training } = run;
  const usage = await testsByUsage(model, prepared.data);
  const outcome = budgetOutcome(budget.record, training, exp.elapsedSeconds(), run.finalLr);
  // Under the official protocol the split's test rows are PrivateTest when present, else PublicTest.
  const testUsage = config.protocol === "official" ? usage.PrivateTest ?? usage.PublicTest : undefined;
  // The recipe's switchable ingredients, as the ablation table compares them; the budget has its own column.
  const { budgetMinutes: _, ...ingredients } = exp.ablationSettings();
  const json = { budget: budget.record, outcome, ingredients, testsByUsage: usage };
  const { series, skipped } = await readHistories(config.out, {
    name: exp.name,
    json: { data: prepared.dataFacts, split: { protocol: config.protocol }, training, testAccuracy: testUsage?.plain },
  });
  const family = run.family ?? exp.spec.name;
  const ablations = await ablationSection(config.out, family, { name: exp.name, data: prepared.dataFacts, ...json });
  return {
    preface: [outcome.sentence],
    sections: [
      usageSection(usage),
      budgetSection(budget.record, outcome, budget.reused),
      chartRef(exp.name, "schedule"),
      ...(ablations ? [ablations] : []),
      [
        "## Accuracy per training minute",
        "",
        "Validation accuracy after each epoch against the minutes spent training, for every report in this folder " +
        "with a history (diamonds: final test accuracy). Validation and test sets differ by protocol and data; " +
        "compare rows on the same data and protocol.",
        "",
        minutesTable(series),
        "",
        chartRef(exp.name, "minutes"),
        ...(skipped.length ? ["", `Skipped: ${skipped.join("; ")}.`] : []),
      ].join("\n"),
    ],
    charts: { schedule: scheduleChart(budget.record), minutes: accuracyVsMinutesChart(series) },
    json,
  };
}
