/** Experiment 06's schedule choice: plateau callbacks, or a cosine with restarts spanning the planned steps. */
import assert from "node:assert/strict";
import { cropSchedule, MIN_LR } from "../lib/crops/schedule.ts";
import { EarlyStopping, ReduceLROnPlateau } from "../lib/train/callbacks.ts";

const base = {
  schedule: "plateau" as const,
  lr: 0.01,
  lrFactor: 0.75,
  lrPatience: 5,
  restarts: 3,
  epochs: 7,
  batchSize: 64,
  patience: 20,
};

Deno.test("plateau: ReduceLROnPlateau then early stopping, both on validation accuracy, and no per-step schedule", () => {
  const { lrSchedule, callbacks } = cropSchedule(base, 1000);
  assert.equal(lrSchedule, undefined);
  assert.ok(callbacks[0] instanceof ReduceLROnPlateau && callbacks[1] instanceof EarlyStopping);
  assert.equal(callbacks.length, 2);
  assert.deepEqual(callbacks.map((c) => c.monitor), ["valAcc", "valAcc"]);
  const plateau = callbacks[0] as ReduceLROnPlateau;
  assert.equal(plateau.factor, 0.75);
  assert.equal(plateau.patience, 5);
  assert.equal(plateau.minLr, MIN_LR);
  // patience 0 turns early stopping off
  assert.equal(cropSchedule({ ...base, patience: 0 }, 1000).callbacks.length, 1);
});

Deno.test("cosine: restarts at the cycle boundaries of the planned steps and ends at the floor on the last step", () => {
  // 1000 rows at batch 64 = 16 steps per epoch; 7 epochs = 112 steps in cycles of 16, 32, 64
  const { lrSchedule, callbacks } = cropSchedule({ ...base, schedule: "cosine" }, 1000);
  assert.ok(lrSchedule);
  assert.equal(callbacks.length, 1);
  assert.ok(callbacks[0] instanceof EarlyStopping);
  for (const start of [0, 16, 48]) assert.equal(lrSchedule(start), 0.01);
  for (const end of [15, 47, 111]) assert.ok(Math.abs(lrSchedule(end) - MIN_LR) < 1e-12, `step ${end}`);
  assert.ok(lrSchedule(30) < 0.01 && lrSchedule(30) > MIN_LR);
});
