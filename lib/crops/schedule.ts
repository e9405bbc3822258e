/**
 * A crop model's learning-rate schedule and stopping rule, as experiment 06
 * chooses them: ReduceLROnPlateau on validation accuracy (the literature's
 * choice, which Khaireddin & Chen measured ahead of cosine, step and
 * one-cycle), or SGDR's cosine with warm restarts spanning the planned
 * epochs, so the two can be measured against each other; early stopping on
 * validation accuracy with either.
 *
 * @example
 * ```ts
 * const { lrSchedule, callbacks } = cropSchedule({ ...config, schedule: "cosine" }, trainRows.length);
 * await exp.train(model, { optimizer, lrSchedule, callbacks });
 * ```
 *
 * @module
 */
import { type Callback, EarlyStopping, ReduceLROnPlateau } from "../train/callbacks.ts";
import { cosineRestarts, type LrSchedule } from "../train/lr_schedule.ts";

/** The settings a crop run's schedule is made from. */
export interface CropScheduleConfig {
  schedule: "plateau" | "cosine";
  /** Initial (plateau) or peak (cosine) learning rate. */
  lr: number;
  lrFactor: number;
  lrPatience: number;
  /** Cosine cycles over the planned epochs, each twice as long as the one before. */
  restarts: number;
  epochs: number;
  batchSize: number;
  /** Early-stopping patience in epochs; 0 = off. */
  patience: number;
}

/** The lowest learning rate either schedule reaches. */
export const MIN_LR = 1e-5;

/** The per-step schedule (cosine) and the epoch callbacks (plateau, early stopping) of a run on `trainRows` images. */
export function cropSchedule(
  c: CropScheduleConfig,
  trainRows: number,
): { lrSchedule?: LrSchedule; callbacks: Callback[] } {
  const stop = c.patience > 0
    ? [new EarlyStopping({ monitor: "valAcc", patience: c.patience, restoreBestWeights: true })]
    : [];
  if (c.schedule === "cosine") {
    const totalSteps = c.epochs * Math.ceil(trainRows / c.batchSize);
    return {
      lrSchedule: cosineRestarts({ peak: c.lr, totalSteps, cycles: c.restarts, final: MIN_LR }),
      callbacks: stop,
    };
  }
  const plateau = new ReduceLROnPlateau({
    monitor: "valAcc",
    factor: c.lrFactor,
    patience: c.lrPatience,
    minLr: MIN_LR,
  });
  return { callbacks: [plateau, ...stop] };
}
