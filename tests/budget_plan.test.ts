/**
 * Budgeted runs end to end in-process (cpu backend, a tiny model on small
 * synthetic images): the plan fits the budget and ends with the
 * schedule's final learning rate; a run cut short mid-schedule resumes from
 * its saved plan and ends exactly where an uninterrupted run of that plan ends.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMON_DEFAULTS, type CommonConfig } from "../lib/cli/args.ts";
import { type Fer2013, usageCounts } from "../lib/data/fer2013.ts";
import { budgetPath, type BudgetRequest, planBudgetedRun } from "../lib/budget/plan.ts";
import { budgetOutcome } from "../lib/budget/report.ts";
import { Experiment } from "../lib/harness/experiment.ts";
import type { Prepared } from "../lib/harness/prepare.ts";
import { buildDeep } from "../lib/models/deep.ts";
import { getLearningRate } from "../lib/train/learning_rate.ts";
import { measureStepTime } from "../lib/train/step_time.ts";
import { leftRightImages } from "./helpers/left_right.ts";

const tmp = await Deno.makeTempDir({ prefix: "ferlab-budget-" });
const SIZE = 12;

/** 200 12×12 images (bright left half = class 0, right = class 1): 160 Training, 40 PublicTest. */
function leftRight(): Fer2013 {
  const n = 200;
  const usage = Uint8Array.from({ length: n }, (_, i) => (i < 160 ? 0 : 1));
  return { ...leftRightImages(n, 9, { size: SIZE }), usage, n, source: "left/right 12×12" };
}

const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);

/** A throwaway experiment on the small images (cpu backend; tiny images keep a shared machine's test quick). */
async function experiment(out: string, over: Partial<CommonConfig> = {}) {
  const config: CommonConfig = { ...COMMON_DEFAULTS, backend: "cpu", batchSize: 32, bnRecalRows: 32, out, ...over };
  await tf.setBackend("cpu");
  const data = leftRight();
  const split = { train: range(0, 64), val: range(144, 160), test: range(160, 200), notes: [] };
  const prepared: Prepared = {
    backend: { requested: "cpu", name: "cpu", tfjs: tf.version.tfjs, notes: [] },
    data,
    dataFacts: {
      kind: "synthetic",
      source: data.source,
      fingerprint: "test",
      rows: data.n,
      usage: usageCounts(data),
      notes: [],
      skipped: 0,
      loadSeconds: 0,
    },
    split,
    splitCache: { key: "test", cached: false },
    trainRows: split.train,
  };
  const spec = { name: "05_test", title: "t", story: "t", studyAccuracy: 0, settings: {}, quick: {} };
  return new Experiment(spec, config, prepared);
}

const tiny = (seed: number) =>
  buildDeep({
    filters: [4, 8],
    convsPerBlock: 1,
    leakyAlpha: 0,
    dropout: [0, 0],
    head: "globalAverage",
    headDropout: 0.2,
    dense: [],
    inputSize: SIZE,
    numClasses: 2,
    seed,
  });
/**
 * A budget worth about six epochs (of 2 steps) plus the probe at this machine's current speed, so that the plan
 * has several epochs however loaded a shared machine is; the planner must still fit the run inside it.
 */
async function tinyBudgetMinutes(): Promise<number> {
  await tf.setBackend("cpu");
  const t = await measureStepTime(tiny(3), { batchSize: 32, steps: 2 });
  return Math.min(3, Math.max(0.4, ((6 * 2 + 8) * t.msPerStep) / 1000 / 0.6 / 60));
}
const minutes = await tinyBudgetMinutes();

const sgd = () => tf.train.momentum(0.05, 0.9, true);

function request(budgetMinutes: number): BudgetRequest {
  return {
    build: () => tiny(1),
    optimizer: sgd,
    budgetMinutes,
    schedule: "onecycle",
    peakLr: 0.05,
    warmupFraction: 0.25,
    augment: "flip",
    labelSmoothing: 0.1,
    weightDecay: 5e-4,
    finalEvalImages: 0,
    warmSteps: 2,
    timedSteps: 3,
    // generous, so that a shared machine's load swings do not decide the test
    safety: 0.3,
  };
}

async function budgetedRun(exp: Experiment<CommonConfig>, budgetMinutes: number) {
  const budget = await planBudgetedRun(exp, request(budgetMinutes));
  const model = tiny(exp.config.seed);
  const opt = sgd();
  const training = await exp.train(model, {
    optimizer: opt,
    lrSchedule: budget.schedule,
    callbacks: [budget.replanner],
    augment: "flip",
    labelSmoothing: 0.1,
    weightDecay: 5e-4,
    progress: false,
  });
  const outcome = budgetOutcome(budget.record, training, exp.elapsedSeconds(), getLearningRate(opt));
  return { budget, training, model, outcome };
}

Deno.test({
  name: "a tiny budget is planned, kept, and ends with the schedule's final learning rate",
  sanitizeResources: false,
  fn: async () => {
    const exp = await experiment(join(tmp, "fit"));
    const budgetSeconds = minutes * 60;
    const { budget, training, outcome } = await budgetedRun(exp, minutes);
    const { record } = budget;
    assert.ok(record.plan.epochs >= 2, `only ${record.plan.epochs} epochs planned`);
    assert.equal(exp.config.epochs, record.plan.epochs);
    assert.equal(training.history.length, record.plan.epochs);
    assert.equal(record.schedule.totalSteps, record.plan.epochs * record.stepsPerEpoch);
    assert.ok(record.predictedRunSeconds <= budgetSeconds);
    assert.ok(exp.elapsedSeconds() <= budgetSeconds, `ran ${exp.elapsedSeconds()} s of ${budgetSeconds}`);
    assert.equal(outcome.status, "inside");
    assert.equal(outcome.finalLr, outcome.scheduleFinalLr);
    assert.ok(Math.abs(outcome.finalLr - 0.05 / 25 / 1e4) < 1e-12);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(budgetPath(exp.config.out, "05_test"))), record);
  },
});

Deno.test({
  name: "a budgeted run cut short mid-schedule resumes from its plan and equals the uninterrupted run",
  sanitizeResources: false,
  fn: async () => {
    const outA = join(tmp, "cut");
    // --max-minutes that has already passed: the loop stops after epoch 1.
    const cut = await budgetedRun(await experiment(outA, { maxMinutes: 1e-6 }), minutes);
    assert.equal(cut.training.cutShort, true);
    assert.equal(cut.outcome.status, "cutShort");
    assert.ok(cut.training.history.length < cut.budget.record.plan.epochs);
    assert.notEqual(cut.outcome.finalLr, cut.outcome.scheduleFinalLr);

    const resumed = await budgetedRun(await experiment(outA, { resume: true }), minutes);
    assert.equal(resumed.budget.reused, true);
    assert.deepEqual(resumed.budget.record, cut.budget.record);
    assert.equal(resumed.training.resumedFrom, 1);
    assert.equal(resumed.outcome.status, "resumed");
    assert.equal(resumed.outcome.finalLr, resumed.outcome.scheduleFinalLr);

    // The same plan run without interruption (its plan file copied in; no checkpoint to resume from).
    const outB = join(tmp, "straight");
    await Deno.mkdir(join(outB, "checkpoints"), { recursive: true });
    await Deno.copyFile(budgetPath(outA, "05_test"), budgetPath(outB, "05_test"));
    const straight = await budgetedRun(await experiment(outB, { resume: true }), minutes);
    assert.equal(straight.training.resumedFrom, undefined);
    const lrs = (r: typeof straight) => r.training.history.map((h) => h.lr);
    assert.deepEqual(lrs(resumed), lrs(straight));
    const a = straight.model.getWeights().map((w) => w.dataSync());
    const b = resumed.model.getWeights().map((w) => w.dataSync());
    let diff = 0;
    a.forEach((w, i) => w.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - b[i][j])))));
    assert.ok(diff <= 1e-6, `weights differ by ${diff}`);

    // A resume that asks for another budget is refused rather than silently changing the schedule.
    await assert.rejects(
      async () => await planBudgetedRun(await experiment(outA, { resume: true }), request(minutes + 1)),
      /saved plan was made for/,
    );
  },
});

Deno.test({
  name: "cleanup",
  sanitizeResources: false,
  fn: async () => await Deno.remove(tmp, { recursive: true }),
});
