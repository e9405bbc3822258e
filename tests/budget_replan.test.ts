/**
 * The budget's re-plan during the warm-up, without training: a hand-made
 * plan, epochs that run faster or slower than the probe said, and the
 * schedule that results (pure functions of the plan).
 */
import assert from "node:assert/strict";
import { type BudgetRecord, BudgetReplanner, scheduleOf } from "../lib/budget/plan.ts";
import type { EpochLog } from "../lib/train/callbacks.ts";

/** 5 minutes, 10 steps per epoch, a probe of 1 s per step: 15 s per epoch with its extras → 17 epochs. */
function plan(): BudgetRecord {
  const stepsPerEpoch = 10, epochs = 17, totalSteps = epochs * stepsPerEpoch;
  return {
    budgetMinutes: 5,
    safety: 0.05,
    spentSeconds: 20,
    reserveSeconds: 10,
    probe: {
      warmMs: [3000],
      timedMs: [1000],
      stepSeconds: 1,
      forwardSecondsPerImage: 0.001,
      checkpointSeconds: 1,
      batchSize: 64,
    },
    stepsPerEpoch,
    epochOverheadSeconds: 5,
    plan: { epochs, totalSteps, predictedSeconds: epochs * 15 },
    schedule: { kind: "onecycle", peakLr: 0.1, warmupFraction: 0.25, warmupSteps: 43, totalSteps },
    predictedRunSeconds: 20 + epochs * 15 + 10,
    plannedAt: "2026-11-25T00:00:00Z",
  };
}

const epochLog = (epoch: number, seconds: number): EpochLog => ({
  epoch,
  loss: 1,
  acc: 0.5,
  valLoss: 1,
  valAcc: 0.5,
  lr: 0.01,
  seconds,
  imagesPerSec: 100,
});

function replanner(record: BudgetRecord, elapsed: number, reused = false) {
  const saved: BudgetRecord[] = [];
  const r = new BudgetReplanner({ record, reused }, { elapsedSeconds: () => elapsed }, (rec) => {
    saved.push(structuredClone(rec));
  });
  return { r, saved };
}

Deno.test("a faster first epoch than the probe's buys more epochs, saved with the plan", async () => {
  const record = plan();
  const old = scheduleOf(structuredClone(record));
  const { r, saved } = replanner(record, 28); // 20 s before training, then an 8 s epoch
  const action = await r.onEpochEnd(epochLog(1, 7));
  // (300 × 0.95 − 28 − 10 reserve − 1 checkpoint) / (7 + 1) = 30 more epochs
  assert.equal(action.epochs, 31);
  assert.match(action.reason!, /epoch 1 took 8 s .* → 31 epochs instead of 17/);
  assert.equal(record.plan.epochs, 31);
  assert.equal(record.schedule.totalSteps, 310);
  assert.equal(record.schedule.warmupSteps, 78);
  assert.deepEqual(record.replans, [{
    afterEpoch: 1,
    step: 10,
    epochSeconds: 8,
    from: { epochs: 17, totalSteps: 170, warmupSteps: 43 },
    to: { epochs: 31, totalSteps: 310, warmupSteps: 78 },
  }]);
  assert.equal(record.predictedRunSeconds, 28 + 30 * 8 + 10);
  assert.ok(record.predictedRunSeconds <= 300);
  assert.deepEqual(saved, [record]);

  // The schedule: the steps already run keep their rates, the warm-up goes on from where it was to the new peak
  // step, and the run still ends at one-cycle's final rate.
  const lr = scheduleOf(record);
  for (let s = 0; s < 10; s++) assert.equal(lr(s), old(s));
  assert.ok(Math.abs(lr(10) - old(10)) < 1e-12, `${lr(10)} vs ${old(10)}: no jump at the re-plan`);
  for (let s = 10; s < 77; s++) assert.ok(lr(s + 1) > lr(s), `warm-up rises at step ${s}`);
  assert.ok(Math.abs(lr(77) - 0.1) < 1e-9, `peak at the new warm-up end, got ${lr(77)}`);
  assert.ok(Math.abs(lr(309) - 0.1 / 25 / 1e4) < 1e-12);
});

Deno.test("a slower machine shrinks the plan, but never so far that the warm-up would be over", async () => {
  const record = plan();
  const { r } = replanner(record, 80);
  // a 60 s first epoch: (285 − 80 − 11) / 61 = 3 more epochs, but the warm-up (25%) must end after step 10
  const action = await r.onEpochEnd(epochLog(1, 60));
  assert.equal(action.epochs, 5);
  assert.ok(record.schedule.warmupSteps > 10, `warm-up ends at ${record.schedule.warmupSteps}`);
  const lr = scheduleOf(record);
  assert.ok(lr(11) > lr(10) && lr(record.schedule.warmupSteps - 1) > lr(11));
});

Deno.test("no re-plan when the pace keeps the epochs, after the warm-up, or in a resumed run", async () => {
  const same = plan();
  // (285 − 36 − 10 − 1) / (13.5 + 1) = 16.4 → 1 + 16 = 17 epochs: the plan stands, nothing is written
  const onTime = replanner(same, 36);
  assert.deepEqual(await onTime.r.onEpochEnd(epochLog(1, 13.5)), {});
  assert.equal(same.replans, undefined);
  assert.equal(onTime.saved.length, 0);

  const late = plan();
  const afterWarmup = replanner(late, 100);
  assert.deepEqual(await afterWarmup.r.onEpochEnd(epochLog(5, 7)), {}); // step 50 ≥ 43 warm-up steps
  assert.equal(late.replans, undefined);

  const resumed = plan();
  const kept = replanner(resumed, 28, true);
  assert.deepEqual(await kept.r.onEpochEnd(epochLog(1, 7)), {});
  assert.equal(resumed.plan.epochs, 17);
  assert.equal(kept.saved.length, 0);
});
