/** One-cycle, cosine and warm-restart schedules against hand-computed values; budget sizing. */
import assert from "node:assert/strict";
import { cosineRestarts, cosineWithWarmup, oneCycle, planBudget, ScheduleError } from "../lib/train/lr_schedule.ts";

const close = (a: number, b: number, eps = 1e-12) =>
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("one-cycle follows PyTorch's OneCycleLR (cosine) at its landmarks", () => {
  // 100 steps, peak 0.1, 25% warm-up: 0.004 at step 0, 0.1 at step 24, 4e-7 at step 99.
  const lr = oneCycle({ peak: 0.1, totalSteps: 100 });
  close(lr(0), 0.004);
  close(lr(24), 0.1);
  close(lr(99), 0.1 / 25 / 1e4);
  // Half-way through the warm-up (step 12 of 24) the cosine ramp is at the midpoint.
  close(lr(12), (0.004 + 0.1) / 2);
  // Half-way through the decay (step 24 + 37.5): midpoint of peak and last.
  close(lr(61.5), (0.1 + 4e-7) / 2);
  // Rising during warm-up, falling after it; past the end it stays at the last value.
  assert.ok(lr(5) < lr(10) && lr(30) > lr(60));
  close(lr(500), lr(99));
});

Deno.test("cosine with linear warm-up, by hand", () => {
  const lr = cosineWithWarmup({ peak: 1, totalSteps: 11, warmupSteps: 4, final: 0.1 });
  close(lr(0), 0);
  close(lr(2), 0.5);
  close(lr(4), 1);
  // Decay over steps 4..10: at step 7 (half-way) cos term = 0 → (1 + 0.1) / 2.
  close(lr(7), 0.55);
  close(lr(10), 0.1);
  const noWarm = cosineWithWarmup({ peak: 0.2, totalSteps: 3 });
  assert.deepEqual([noWarm(0), noWarm(1), noWarm(2)].map((v) => +v.toFixed(12)), [0.2, 0.1, 0]);
});

Deno.test("schedules reject impossible settings", () => {
  assert.throws(() => oneCycle({ peak: 0.1, totalSteps: 0 }), ScheduleError);
  assert.throws(() => oneCycle({ peak: -1, totalSteps: 10 }), /peak learning rate must be positive/);
  assert.throws(() => oneCycle({ peak: 0.1, totalSteps: 10, warmupFraction: 1 }), /warm-up fraction/);
  assert.throws(() => cosineWithWarmup({ peak: 1, totalSteps: 5, warmupSteps: 5 }), /warm-up steps/);
});

Deno.test("planBudget fits whole epochs into what is left of the budget", () => {
  // 600 s budget, 5% safety → 570 s; 30 s spent → 540 s; an epoch is 100 steps × 0.5 s + 10 s = 60 s → 9 epochs.
  const plan = planBudget({
    budgetSeconds: 600,
    spentSeconds: 30,
    stepSeconds: 0.5,
    stepsPerEpoch: 100,
    epochOverheadSeconds: 10,
  });
  assert.deepEqual(plan, { epochs: 9, totalSteps: 900, predictedSeconds: 540 });
  // A budget smaller than one epoch still trains one epoch (and the caller reports the overrun).
  assert.equal(
    planBudget({ budgetSeconds: 10, spentSeconds: 0, stepSeconds: 1, stepsPerEpoch: 50, epochOverheadSeconds: 0 })
      .epochs,
    1,
  );
  assert.throws(
    () => planBudget({ budgetSeconds: 10, spentSeconds: 0, stepSeconds: 0, stepsPerEpoch: 5, epochOverheadSeconds: 0 }),
    /step time/,
  );
});

Deno.test("cosine with warm restarts: cycles doubling in length that end exactly at the last step", () => {
  // 700 steps in 3 cycles ×2: 100, 200, 400 steps, each a cosine from 0.01 down to 1e-5
  const lr = cosineRestarts({ peak: 0.01, totalSteps: 700, cycles: 3, final: 1e-5 });
  for (const [start, len] of [[0, 100], [100, 200], [300, 400]]) {
    close(lr(start), 0.01);
    close(lr(start + len - 1), 1e-5);
    // the cycle's midpoint is half-way between peak and final
    close(lr(start + (len - 1) / 2), (0.01 + 1e-5) / 2);
    assert.ok(lr(start + 1) < lr(start) && lr(start + len - 2) > lr(start + len - 1));
  }
  // past the end it stays at the bottom
  close(lr(5000), 1e-5);
  // one cycle is plain cosine decay; mult 1 makes equal cycles
  const one = cosineRestarts({ peak: 1, totalSteps: 11, cycles: 1 });
  close(one(5), 0.5);
  const equal = cosineRestarts({ peak: 1, totalSteps: 30, cycles: 3, mult: 1 });
  close(equal(10), 1);
  close(equal(20), 1);
  close(equal(9), 0);
});

Deno.test("cosine with warm restarts rejects what cannot be a schedule, naming it", () => {
  assert.throws(() => cosineRestarts({ peak: 0.1, totalSteps: 5, cycles: 4 }), /too few/);
  assert.throws(() => cosineRestarts({ peak: 0.1, totalSteps: 100, cycles: 0 }), /cycles/);
  assert.throws(() => cosineRestarts({ peak: 0.1, totalSteps: 100, cycles: 2, mult: 0.5 }), /multiplier/);
  assert.throws(() => cosineRestarts({ peak: 0.1, totalSteps: 100, cycles: 2, final: 0.2 }), ScheduleError);
});
