/**
 * Per-step learning-rate schedules (one-cycle, cosine with warm-up, cosine
 * with warm restarts) and the sizing of a schedule to a wall-clock budget.
 *
 * A schedule is a pure function of the global step, so a resumed run picks
 * the learning rate up exactly where the interrupted one left it.
 *
 * @example
 * ```ts
 * const lr = oneCycle({ peak: 0.1, totalSteps: 1000 });
 * lr(0);   // 0.004 (peak / 25)
 * lr(249); // 0.1   (end of the 25% warm-up)
 * lr(999); // 4e-7  (peak / 25 / 1e4)
 * ```
 *
 * @module
 */

/** The learning rate to use at a 0-based global step. */
export type LrSchedule = (step: number) => number;

/** Settings of {@link oneCycle}; names follow PyTorch's `OneCycleLR`. */
export interface OneCycleOptions {
  /** Highest learning rate, reached at the end of the warm-up. */
  peak: number;
  /** Steps in the whole schedule. */
  totalSteps: number;
  /** Fraction of the steps spent warming up (PyTorch's `pct_start`). Default 0.25. */
  warmupFraction?: number;
  /** The first learning rate is `peak / divFactor`. Default 25. */
  divFactor?: number;
  /** The last learning rate is `peak / divFactor / finalDivFactor`. Default 1e4. */
  finalDivFactor?: number;
}

/** Settings of {@link cosineWithWarmup}. */
export interface CosineOptions {
  /** Learning rate at the end of the warm-up. */
  peak: number;
  /** Steps in the whole schedule. */
  totalSteps: number;
  /** Steps of linear warm-up from `peak * warmupStart`. Default 0. */
  warmupSteps?: number;
  /** Where the warm-up starts, as a fraction of `peak`. Default 0. */
  warmupStart?: number;
  /** Learning rate at the last step. Default 0. */
  final?: number;
}

/** Error for a schedule that cannot exist (no steps, negative rates…). */
export class ScheduleError extends RangeError {
  override name = "ScheduleError";
}

function checkPositiveInt(name: string, v: number) {
  if (!(Number.isInteger(v) && v > 0)) throw new ScheduleError(`${name} must be a positive integer, got ${v}`);
}

/** Cosine interpolation from `a` (t = 0) to `b` (t = 1). */
const cosineRamp = (a: number, b: number, t: number) => b + (a - b) * (1 + Math.cos(Math.PI * t)) / 2;

/**
 * Leslie Smith's one-cycle policy as PyTorch's `OneCycleLR` (cosine annealing):
 * from `peak/div` up to `peak` over the warm-up, then down to
 * `peak/div/finalDiv` at the last step. Steps past the end keep the last rate.
 */
export function oneCycle(opts: OneCycleOptions): LrSchedule {
  const { peak, totalSteps, warmupFraction = 0.25, divFactor = 25, finalDivFactor = 1e4 } = opts;
  checkPositiveInt("totalSteps", totalSteps);
  if (!(peak > 0)) throw new ScheduleError(`peak learning rate must be positive, got ${peak}`);
  if (!(warmupFraction > 0 && warmupFraction < 1)) {
    throw new ScheduleError(`warm-up fraction must be in (0, 1), got ${warmupFraction}`);
  }
  const initial = peak / divFactor;
  const last = initial / finalDivFactor;
  // PyTorch's phase ends: the warm-up ends at step pct·total − 1, the decay at total − 1.
  const warmEnd = warmupFraction * totalSteps - 1;
  const end = totalSteps - 1;
  return (step) => {
    const s = Math.min(Math.max(step, 0), end);
    if (s <= warmEnd) return warmEnd > 0 ? cosineRamp(initial, peak, s / warmEnd) : peak;
    return cosineRamp(peak, last, (s - warmEnd) / (end - warmEnd));
  };
}

/** Linear warm-up to `peak`, then cosine decay to `final` at the last step. */
export function cosineWithWarmup(opts: CosineOptions): LrSchedule {
  const { peak, totalSteps, warmupSteps = 0, warmupStart = 0, final = 0 } = opts;
  checkPositiveInt("totalSteps", totalSteps);
  if (!(peak > 0) || final < 0) {
    throw new ScheduleError(`learning rates must be positive (peak ${peak}, final ${final})`);
  }
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0 && warmupSteps < totalSteps)) {
    throw new ScheduleError(`warm-up steps must be an integer in [0, ${totalSteps}), got ${warmupSteps}`);
  }
  const decaySteps = totalSteps - 1 - warmupSteps;
  return (step) => {
    const s = Math.min(Math.max(step, 0), totalSteps - 1);
    if (s < warmupSteps) return peak * (warmupStart + (1 - warmupStart) * s / warmupSteps);
    return decaySteps > 0 ? cosineRamp(peak, final, (s - warmupSteps) / decaySteps) : peak;
  };
}

/** Settings of {@link cosineRestarts}. */
export interface RestartOptions {
  /** Learning rate at the start of every cycle. */
  peak: number;
  /** Steps in the whole schedule; the last cycle ends at the last step. */
  totalSteps: number;
  /** Number of cosine cycles (1 = plain cosine decay). */
  cycles: number;
  /** Each cycle is `mult` times as long as the one before (SGDR's T_mult). Default 2. */
  mult?: number;
  /** Learning rate at the end of every cycle. Default 0. */
  final?: number;
}

/**
 * Cosine annealing with warm restarts (Loshchilov & Hutter's SGDR): `cycles`
 * cosine decays from `peak` to `final`, each `mult` times as long as the one
 * before, sized so that they span `totalSteps` exactly — a run of planned
 * length ends at the bottom of its last cycle, where SGDR's snapshots are best.
 *
 * @example
 * ```ts
 * const lr = cosineRestarts({ peak: 0.01, totalSteps: 700, cycles: 3 }); // cycles of 100, 200, 400 steps
 * lr(0);   // 0.01
 * lr(99);  // 0 (end of the first cycle)
 * lr(100); // 0.01 (restart)
 * ```
 */
export function cosineRestarts(opts: RestartOptions): LrSchedule {
  const { peak, totalSteps, cycles, mult = 2, final = 0 } = opts;
  checkPositiveInt("totalSteps", totalSteps);
  checkPositiveInt("cycles", cycles);
  if (!(mult >= 1)) throw new ScheduleError(`cycle length multiplier must be at least 1, got ${mult}`);
  if (!(peak > 0) || !(final >= 0 && final < peak)) {
    throw new ScheduleError(`learning rates must satisfy 0 ≤ final < peak (peak ${peak}, final ${final})`);
  }
  const lengths = Array.from({ length: cycles }, (_, i) => mult ** i);
  const sum = lengths.reduce((a, b) => a + b, 0);
  let acc = 0;
  const ends = lengths.map((l) => Math.round(totalSteps * (acc += l) / sum));
  ends.forEach((end, i) => {
    if (end <= (ends[i - 1] ?? 0)) {
      throw new ScheduleError(`${totalSteps} steps are too few for ${cycles} cycles growing ×${mult}`);
    }
  });
  return (step) => {
    const s = Math.min(Math.max(step, 0), totalSteps - 1);
    const i = ends.findIndex((end) => s < end);
    const start = ends[i - 1] ?? 0;
    const len = ends[i] - start;
    return len > 1 ? cosineRamp(peak, final, (s - start) / (len - 1)) : peak;
  };
}

/** What a budgeted run measured before sizing its schedule. */
export interface BudgetInputs {
  /** The wall-clock budget for the whole training, in seconds. */
  budgetSeconds: number;
  /** Seconds already spent (loading, the timing probe) that count against the budget. */
  spentSeconds: number;
  /** Measured seconds of one training step (warm, steady state). */
  stepSeconds: number;
  /** Training steps in one epoch. */
  stepsPerEpoch: number;
  /** Measured or estimated seconds of the per-epoch extras (validation, checkpoint). */
  epochOverheadSeconds: number;
  /** Fraction of the budget kept free for timing drift and the final evaluation. Default 0.05. */
  safety?: number;
}

/** The schedule length that fits a budget. */
export interface BudgetPlan {
  /** Whole epochs that fit. */
  epochs: number;
  /** `epochs × stepsPerEpoch`. */
  totalSteps: number;
  /** Predicted wall seconds of the training, from the measured step time. */
  predictedSeconds: number;
}

/** How many whole epochs fit in what is left of the budget (at least 1). */
export function planBudget(inputs: BudgetInputs): BudgetPlan {
  const { budgetSeconds, spentSeconds, stepSeconds, stepsPerEpoch, epochOverheadSeconds, safety = 0.05 } = inputs;
  checkPositiveInt("stepsPerEpoch", stepsPerEpoch);
  if (!(stepSeconds > 0)) throw new ScheduleError(`step time must be positive, got ${stepSeconds}`);
  const usable = budgetSeconds * (1 - safety) - spentSeconds;
  const epochSeconds = stepSeconds * stepsPerEpoch + epochOverheadSeconds;
  const epochs = Math.max(1, Math.floor(usable / epochSeconds));
  return { epochs, totalSteps: epochs * stepsPerEpoch, predictedSeconds: epochs * epochSeconds };
}
