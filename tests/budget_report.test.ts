/**
 * Experiment 05's report pieces, without training: other experiments'
 * histories read defensively, the accuracy-vs-minutes and schedule charts,
 * how a budgeted run's end is classified, and the ablation table.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { accuracyVsMinutesChart, minutesTable, readHistories, seriesOf } from "../lib/budget/accuracy_minutes.ts";
import type { BudgetRecord } from "../lib/budget/plan.ts";
import { ablationSection, budgetOutcome, scheduleChart } from "../lib/budget/report.ts";
import { compileSpec, renderSvg } from "../lib/report/render.ts";
import type { TrainResult } from "../lib/train/loop.ts";

const epoch = (e: number, seconds: number, valAcc: number) => ({
  epoch: e,
  loss: 1,
  acc: 0.5,
  valLoss: 1,
  valAcc,
  lr: 0.1,
  seconds,
  imagesPerSec: 10,
});

const report = (name: string, history: unknown[], extra: Record<string, unknown> = {}) => ({
  name,
  testAccuracy: 0.6,
  data: { kind: "csv", source: "fer.csv" },
  split: { protocol: "official" },
  training: { history, cutShort: false },
  ...extra,
});

Deno.test("histories are read defensively; the current run replaces its older report", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = (f: string, v: unknown) =>
      Deno.writeTextFile(join(dir, f), typeof v === "string" ? v : JSON.stringify(v));
    await write("01_baseline.json", report("01_baseline", [epoch(1, 60, 0.4), epoch(2, 120, 0.5)]));
    await write("02_tuned.json", "{ not json");
    await write("03_deep.json", { name: "03_deep", unfinished: "search cut short" });
    await write("04_transfer.json", report("04_transfer", [{ epoch: 1, valAcc: 0.3 }]));
    await write("01_baseline.curves.vl.json", { $schema: "x" });
    await write("bench.json", { rows: [] });
    await write("05_budget.json", report("05_budget", [epoch(1, 600, 0.1)]));
    const current = report("05_budget", [epoch(1, 30, 0.55), epoch(2, 30, 0.6), epoch(3, 30, 0.62)]);
    const { series, skipped } = await readHistories(dir, { name: "05_budget", json: current });
    assert.deepEqual(series.map((s) => s.name), ["01_baseline", "05_budget"]);
    assert.deepEqual(series[0].points.map((p) => p.minutes), [1, 3]);
    assert.deepEqual(series[1].points.map((p) => p.minutes), [0.5, 1, 1.5]);
    assert.equal(series[1].testAccuracy, 0.6);
    assert.equal(skipped.length, 3);
    assert.match(skipped[0], /^02_tuned\.json: not readable JSON/);
    assert.match(skipped[1], /^03_deep\.json: no training history/);
    assert.match(skipped[2], /^04_transfer\.json: history\[0\] has no seconds/);
    assert.match(minutesTable(series), /\| 05_budget \| fer\.csv \| official \| 3 \| 1\.5 \| 62\.00% \| 60\.00% \|/);
    // A folder that does not exist yet has no histories.
    assert.deepEqual(await readHistories(join(dir, "nowhere")), { series: [], skipped: [] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the accuracy-vs-minutes chart compiles and renders every report", async () => {
  const a = seriesOf("01_baseline", report("01_baseline", [epoch(1, 60, 0.4), epoch(2, 60, 0.5)]));
  const b = seriesOf("05_budget", report("05_budget", [epoch(1, 30, 0.55)], { data: { kind: "synthetic" } }));
  assert.ok(typeof a !== "string" && typeof b !== "string");
  const spec = accuracyVsMinutesChart([a, b]);
  assert.deepEqual(compileSpec(spec).warnings, []);
  const svg = await renderSvg(spec);
  assert.match(svg, /01_baseline \(official\)/);
  assert.match(svg, /05_budget \(synthetic\)/);
  const values = (spec as { data: { values: { kind: string }[] } }).data.values;
  assert.equal(values.filter((v) => v.kind === "final test").length, 2);
  assert.equal(values.filter((v) => v.kind === "validation").length, 3);
});

/** A plan of 4 epochs × 10 steps in a 10-minute budget. */
const record: BudgetRecord = {
  budgetMinutes: 10,
  safety: 0.05,
  spentSeconds: 20,
  reserveSeconds: 10,
  probe: {
    warmMs: [900, 500],
    timedMs: [400, 400],
    stepSeconds: 0.4,
    forwardSecondsPerImage: 0.001,
    checkpointSeconds: 1,
    batchSize: 64,
  },
  stepsPerEpoch: 10,
  epochOverheadSeconds: 5,
  plan: { epochs: 4, totalSteps: 40, predictedSeconds: 36 },
  schedule: { kind: "onecycle", peakLr: 0.1, warmupFraction: 0.25, warmupSteps: 10, totalSteps: 40 },
  predictedRunSeconds: 66,
  plannedAt: "2026-11-25T00:00:00Z",
};

const training = (epochs: number, over: Partial<TrainResult> = {}): TrainResult => ({
  history: Array.from({ length: epochs }, (_, i) => epoch(i + 1, 9, 0.5)),
  stoppedEarly: false,
  cutShort: false,
  wallSeconds: 36,
  ...over,
});

Deno.test("a budgeted run's end is told apart: inside, overran, cut short, resumed, stopped", () => {
  const last = 0.1 / 25 / 1e4;
  const inside = budgetOutcome(record, training(4), 70, last);
  assert.equal(inside.status, "inside");
  assert.ok(Math.abs(inside.scheduleFinalLr - last) < 1e-15);
  assert.match(inside.sentence, /Schedule complete inside the budget: 4 epochs, 1\.2 min of 10 min/);
  assert.equal(budgetOutcome(record, training(4), 601, last).status, "overran");
  const cut = budgetOutcome(record, training(2, { cutShort: true }), 30, 0.05);
  assert.equal(cut.status, "cutShort");
  assert.match(cut.sentence, /Cut short by --max-minutes\*\* after epoch 2 of the 4/);
  assert.equal(budgetOutcome(record, training(4, { resumedFrom: 2 }), 40, last).status, "resumed");
  assert.equal(
    budgetOutcome(record, training(3, { stoppedEarly: true, reason: "loss NaN" }), 40, 0.01).status,
    "stopped",
  );
});

Deno.test("the schedule chart samples the whole planned schedule", async () => {
  const spec = scheduleChart(record);
  const values = (spec as { data: { values: { step: number; lr: number }[] } }).data.values;
  assert.equal(values[0].step, 0);
  assert.equal(values.at(-1)!.step, 39);
  assert.ok(Math.abs(values.at(-1)!.lr - 0.1 / 25 / 1e4) < 1e-15);
  assert.ok(values.some((v) => Math.abs(v.lr - 0.1) < 1e-3));
  assert.match(await renderSvg(spec), /learning rate/);
});

Deno.test("the ablation table sets each run's changed ingredients beside the full recipe", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = (name: string, minutes: number, ingredients: Record<string, string>, acc: number) => ({
      name,
      data: { kind: "csv" },
      budget: { ...record, budgetMinutes: minutes },
      ingredients,
      outcome: { status: "inside" },
      testsByUsage: { PublicTest: { n: 100, plain: acc, flip: acc + 0.01 } },
    });
    const full = { labelSmoothing: "0.1", augment: "yardstick" };
    await Deno.writeTextFile(
      join(dir, "05_budget_15min_ls0.json"),
      JSON.stringify(run("05_budget_15min_ls0", 15, { ...full, labelSmoothing: "0" }, 0.5)),
    );
    await Deno.writeTextFile(join(dir, "05_budget_15min.json"), JSON.stringify(run("05_budget_15min", 15, full, 0.55)));
    await Deno.writeTextFile(join(dir, "05_budget.json"), "{ half-written");
    assert.equal(await ablationSection(join(dir, "empty"), "05_budget", run("05_budget", 120, full, 0.6)), null);
    const table = await ablationSection(dir, "05_budget", run("05_budget", 120, full, 0.6));
    assert.ok(table);
    const rows = table.split("\n").filter((l) => l.startsWith("| 05_budget"));
    assert.equal(rows.length, 3);
    assert.match(
      rows[0],
      /^\| 05_budget \| 120 min \| 4 \| FER2013 \| full recipe \| inside \| 60\.00% \| 61\.00% \|$/,
    );
    assert.match(rows[1], /^\| 05_budget_15min \| 15 min \(shorter run\) \| .* \| full recipe \|/);
    assert.match(rows[2], /^\| 05_budget_15min_ls0 \| 15 min \(shorter run\) \| .* \| labelSmoothing: 0 \|/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
