/**
 * A wall-clock budget that drives a whole training run: measure what one
 * step (and one epoch's extras) costs on this machine right now, then size
 * the epochs and the learning-rate schedule so that the run — loading,
 * probe, training and final evaluation — ends inside the budget with the
 * schedule complete.
 *
 * The plan is written next to the checkpoint (`<out>/checkpoints/<name>.budget.json`)
 * and a `--resume` reuses it instead of measuring again, so a resumed run
 * continues the very schedule it was interrupted in.
 *
 * Why warm steps before timing: V8 first compiles wasm with its baseline
 * compiler (Liftoff) and swaps in optimised code (TurboFan) in the
 * background, and tfjs creates its operators and grows the heap on the first
 * calls; the first steps are therefore slower than the rest of the run.
 *
 * Why the plan is revisited during the warm-up: a probe of a few steps
 * cannot see the whole warm-up of the process (on our 2-core machines the
 * first epoch ran at about 65 images/s and the second at 86, against 55 in
 * the probe), nor a machine that gets busier. So after every epoch that ends
 * inside the schedule's warm-up, {@link BudgetReplanner} re-sizes the
 * epochs from the last epoch's measured wall time; the warm-up then rises
 * from where it had got to towards the new peak step, and once the warm-up
 * is over the plan is fixed.
 *
 * @example
 * ```ts
 * const budget = await planBudgetedRun(exp, {
 *   build: () => buildDeep(arch), optimizer: () => tf.train.momentum(0.1, 0.9, true),
 *   budgetMinutes: 120, schedule: "onecycle", peakLr: 0.1, warmupFraction: 0.25,
 *   augment: "yardstick", labelSmoothing: 0.1, weightDecay: 5e-4, finalEvalImages: 10000,
 * });
 * const training = await exp.train(model, { optimizer, lrSchedule: budget.schedule, callbacks: [budget.replanner] });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import { type CommonConfig, type ConfigOf, num, oneOf } from "../cli/args.ts";
import { oneHot, toImageTensor } from "../data/batches.ts";
import { augmentBatch, augmentPreset, type AugmentPresetName } from "../data/augment.ts";
import { UserError } from "../errors.ts";
import type { Callback, CallbackAction, CallbackState, EpochLog } from "../train/callbacks.ts";
import { hasCheckpoint, saveCheckpoint } from "../train/checkpoint.ts";
import { type BudgetPlan, cosineWithWarmup, type LrSchedule, oneCycle, planBudget } from "../train/lr_schedule.ts";
import { trainStep } from "../train/step.ts";
import type { Experiment } from "../harness/experiment.ts";

/** The schedule shapes a budget can drive. */
export const SCHEDULES = ["onecycle", "cosine"] as const;
/** A schedule shape: PyTorch-style one-cycle, or linear warm-up then cosine decay. */
export type ScheduleKind = typeof SCHEDULES[number];

/** A budget plan that cannot be made or resumed. */
export class BudgetError extends UserError {}

/** What a budgeted run asks for. */
export interface BudgetRequest {
  /** Builds a throwaway copy of the model to time (same architecture as the one trained). */
  build: () => tf.LayersModel;
  /** A fresh optimizer of the kind trained with. */
  optimizer: () => tf.Optimizer;
  /** The whole run's wall-clock budget, in minutes. */
  budgetMinutes: number;
  schedule: ScheduleKind;
  /** Highest learning rate of the schedule. */
  peakLr: number;
  /** Fraction of the steps spent warming up. */
  warmupFraction: number;
  /** Augmentation, label smoothing and weight decay of the real steps (so the probe costs what they cost). */
  augment: AugmentPresetName;
  labelSmoothing: number;
  weightDecay: number;
  /** Images the final evaluation will run through the model (test, validation, TTA passes). */
  finalEvalImages: number;
  /** Untimed steps first (default 3), then timed steps (default 5). */
  warmSteps?: number;
  timedSteps?: number;
  /** Fraction of the budget kept free for drift (default 0.05). */
  safety?: number;
}

/** What the probe measured. */
export interface StepProbe {
  /** Wall milliseconds of each untimed warm-up step (shows the Liftoff → TurboFan tier-up). */
  warmMs: number[];
  /** Wall milliseconds of each timed step. */
  timedMs: number[];
  /** Mean of the timed steps, in seconds: what the plan uses. */
  stepSeconds: number;
  /** Inference seconds per image (validation, recalibration, evaluation). */
  forwardSecondsPerImage: number;
  /** Seconds to write one checkpoint. */
  checkpointSeconds: number;
  batchSize: number;
}

/** The settings of a budgeted run, each declared once; an experiment spreads them into its own table. */
export const BUDGET_SETTINGS = {
  budgetMinutes: num(120, "wall-clock budget of the whole run, in minutes", { ablation: (v) => `${v}min` }),
  schedule: oneOf(SCHEDULES, "onecycle", "learning-rate schedule", { ablation: (v) => v }),
  peakLr: num(0.1, "peak learning rate of the schedule"),
  warmup: num(0.25, "fraction of the steps spent warming up"),
};

/** The settings of a budgeted run (see {@link BUDGET_SETTINGS}). */
export type BudgetConfig = ConfigOf<typeof BUDGET_SETTINGS>;

/** The plan of a budgeted run, as written to disk and to the report. */
export interface BudgetRecord {
  budgetMinutes: number;
  safety: number;
  /** Seconds since the script started when the plan was made (loading + probe). */
  spentSeconds: number;
  /** Seconds kept for the final evaluation and model save. */
  reserveSeconds: number;
  probe: StepProbe;
  stepsPerEpoch: number;
  /** Validation, batch-norm recalibration and checkpoint, per epoch. */
  epochOverheadSeconds: number;
  plan: BudgetPlan;
  schedule: { kind: ScheduleKind; peakLr: number; warmupFraction: number; warmupSteps: number; totalSteps: number };
  /** Predicted wall seconds of the whole run: spent + training + reserve. */
  predictedRunSeconds: number;
  plannedAt: string;
  /** Changes of plan made during the warm-up, in order (absent or empty: the probe's plan held). */
  replans?: Replan[];
}

/** Epochs and schedule length of a plan. */
export interface PlanSize {
  epochs: number;
  totalSteps: number;
  warmupSteps: number;
}

/** A change of plan at the end of a warm-up epoch, sized from that epoch's measured wall time. */
export interface Replan {
  /** The epoch after which the plan changed. */
  afterEpoch: number;
  /** Global step of the first step under the new plan. */
  step: number;
  /** Wall seconds of that epoch (training, validation, recalibration) plus a checkpoint. */
  epochSeconds: number;
  from: PlanSize;
  to: PlanSize;
}

/** A plan, the schedule it implies, and the callback that revisits it during the warm-up. */
export interface Budgeted {
  record: BudgetRecord;
  /** The learning rate per global step, following the plan's re-plans as they happen. */
  schedule: LrSchedule;
  /** Pass to `exp.train`'s callbacks: re-sizes the epochs after each warm-up epoch. */
  replanner: BudgetReplanner;
  /** True when the plan was read back from an interrupted run's checkpoint. */
  reused: boolean;
}

/**
 * The learning-rate schedule of a plan (pure: same record, same rates): the
 * first plan's schedule, then from each re-plan's step on the new one, its
 * warm-up rising (in its own shape) from the rate reached so far to the
 * peak at the new warm-up's last step.
 */
export function scheduleOf(record: Pick<BudgetRecord, "schedule" | "replans">): LrSchedule {
  const s = record.schedule;
  const shape = (p: Omit<PlanSize, "epochs">): LrSchedule =>
    s.kind === "onecycle"
      ? oneCycle({ peak: s.peakLr, totalSteps: p.totalSteps, warmupFraction: s.warmupFraction })
      : cosineWithWarmup({ peak: s.peakLr, totalSteps: p.totalSteps, warmupSteps: p.warmupSteps, warmupStart: 0.04 });
  const replans = record.replans ?? [];
  // The warm-up's own shape: one-cycle rises along a half cosine, the cosine schedule linearly.
  const rise = s.kind === "onecycle"
    ? (a: number, b: number, t: number) => b + (a - b) * (1 + Math.cos(Math.PI * t)) / 2
    : (a: number, b: number, t: number) => a + (b - a) * t;
  let lr = shape(replans[0]?.from ?? s);
  for (const r of replans) {
    const before = lr, after = shape(r.to), from = before(r.step), peakStep = r.to.warmupSteps - 1;
    lr = (step) =>
      step < r.step
        ? before(step)
        : step > peakStep
        ? after(step)
        : peakStep === r.step
        ? s.peakLr
        : rise(from, s.peakLr, (step - r.step) / (peakStep - r.step));
  }
  return lr;
}

/**
 * Re-sizes a fresh budgeted run after each epoch that ends inside the
 * warm-up: as many whole epochs as the rest of the budget holds at the last
 * epoch's wall time (never so few that the warm-up would already be over).
 * The new plan is written beside the checkpoint, so `--resume` continues it;
 * a resumed run keeps its plan (its sessions are not one timed run).
 */
export class BudgetReplanner implements Callback {
  readonly name = "budget-replan";

  constructor(
    private readonly budget: { record: BudgetRecord; reused: boolean },
    private readonly clock: { elapsedSeconds(): number },
    private readonly save: (record: BudgetRecord) => Promise<void> | void,
  ) {}

  async onEpochEnd(log: EpochLog): Promise<CallbackAction> {
    const r = this.budget.record;
    const step = log.epoch * r.stepsPerEpoch;
    if (this.budget.reused || step >= r.schedule.warmupSteps) return {};
    const epochSeconds = log.seconds + r.probe.checkpointSeconds;
    const left = r.budgetMinutes * 60 * (1 - r.safety) - this.clock.elapsedSeconds() - r.reserveSeconds -
      r.probe.checkpointSeconds;
    // The new warm-up must end after this step, or the rate would jump to the peak.
    const minEpochs = Math.floor((step + 1) / (r.schedule.warmupFraction * r.stepsPerEpoch)) + 1;
    const epochs = Math.max(log.epoch + Math.floor(left / epochSeconds), minEpochs, log.epoch + 1);
    if (epochs === r.plan.epochs) return {};
    const from = { epochs: r.plan.epochs, totalSteps: r.schedule.totalSteps, warmupSteps: r.schedule.warmupSteps };
    const totalSteps = epochs * r.stepsPerEpoch;
    const to = { epochs, totalSteps, warmupSteps: warmupStepsOf(r.schedule.warmupFraction, totalSteps) };
    r.replans = [...(r.replans ?? []), { afterEpoch: log.epoch, step, epochSeconds, from, to }];
    r.plan = { epochs, totalSteps, predictedSeconds: r.plan.predictedSeconds + (epochs - from.epochs) * epochSeconds };
    r.schedule = { ...r.schedule, totalSteps, warmupSteps: to.warmupSteps };
    r.predictedRunSeconds = this.clock.elapsedSeconds() + (epochs - log.epoch) * epochSeconds + r.reserveSeconds;
    await this.save(r);
    return {
      epochs,
      reason: `budget: epoch ${log.epoch} took ${epochSeconds.toFixed(0)} s (with its checkpoint) → ${epochs} ` +
        `epochs instead of ${from.epochs}, predicted ${(r.predictedRunSeconds / 60).toFixed(1)} of ` +
        `${r.budgetMinutes} min`,
    };
  }

  state(): CallbackState {
    return {};
  }

  restore(): void {}
}

/** Warm-up steps of a schedule of `totalSteps` (at least 1, and fewer than all). */
function warmupStepsOf(fraction: number, totalSteps: number): number {
  return Math.min(Math.max(1, Math.round(fraction * totalSteps)), totalSteps - 1);
}

/** Where a run's plan is kept, beside its checkpoint folder. */
export function budgetPath(out: string, name: string): string {
  return join(out, "checkpoints", `${name}.budget.json`);
}

/**
 * Plans the run of `exp`: on `--resume` with a saved plan, reads it back;
 * otherwise probes the step time, sizes epochs and schedule, writes the plan,
 * and sets `exp.config.epochs` to the planned epochs.
 */
export async function planBudgetedRun<C extends CommonConfig>(
  exp: Experiment<C>,
  req: BudgetRequest,
): Promise<Budgeted> {
  checkRequest(req);
  const { config } = exp;
  const path = budgetPath(config.out, exp.name);
  let record: BudgetRecord | null = null;
  if (config.resume) record = await readPlan(path, req);
  if (record === null && config.resume && await hasCheckpoint(join(config.out, "checkpoints", exp.name))) {
    throw new BudgetError(
      `${path}: no budget plan beside the checkpoint, so its schedule cannot be continued; start afresh without --resume`,
    );
  }
  const reused = record !== null;
  if (record) {
    exp.log(`budget: resuming the plan of ${record.plannedAt} (${record.plan.epochs} epochs, ${record.schedule.kind})`);
  } else {
    record = await makePlan(exp, req);
    await Deno.mkdir(join(config.out, "checkpoints"), { recursive: true });
    await writeFileAtomic(path, JSON.stringify(record, null, 1));
  }
  config.epochs = record.plan.epochs;
  const budget = { record, reused };
  // Rebuilt when a re-plan changes the record; the same rates otherwise.
  let schedule = scheduleOf(record), replans = record.replans?.length ?? 0;
  const lr: LrSchedule = (step) => {
    if ((record.replans?.length ?? 0) !== replans) [schedule, replans] = [scheduleOf(record), record.replans!.length];
    return schedule(step);
  };
  const replanner = new BudgetReplanner(budget, exp, async (r) => {
    config.epochs = r.plan.epochs;
    await writeFileAtomic(path, JSON.stringify(r, null, 1));
  });
  return { ...budget, schedule: lr, replanner };
}

function checkRequest(req: BudgetRequest) {
  if (!(req.budgetMinutes > 0 && Number.isFinite(req.budgetMinutes))) {
    throw new BudgetError(`--budget-minutes must be a positive number, got ${req.budgetMinutes}`);
  }
  if (!SCHEDULES.includes(req.schedule)) {
    throw new BudgetError(`schedule must be one of ${SCHEDULES.join(", ")}, got "${req.schedule}"`);
  }
}

async function readPlan(path: string, req: BudgetRequest): Promise<BudgetRecord | null> {
  if (!await exists(path)) return null;
  let r: BudgetRecord;
  try {
    r = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new BudgetError(`${path}: not a readable budget plan (${(e as Error).message})`);
  }
  const want = { budgetMinutes: req.budgetMinutes, kind: req.schedule, peakLr: req.peakLr };
  const got = { budgetMinutes: r.budgetMinutes, kind: r.schedule?.kind, peakLr: r.schedule?.peakLr };
  if (JSON.stringify(want) !== JSON.stringify(got) || !(r.plan?.epochs >= 1)) {
    throw new BudgetError(
      `${path}: the saved plan was made for ${JSON.stringify(got)}, this run asks for ${JSON.stringify(want)}; ` +
        `resume with the same --budget-minutes, --schedule and --peak-lr, or start afresh`,
    );
  }
  return r;
}

async function makePlan<C extends CommonConfig>(exp: Experiment<C>, req: BudgetRequest): Promise<BudgetRecord> {
  const { config, prepared } = exp;
  const safety = req.safety ?? 0.05;
  exp.log(`budget: timing the training step (${req.warmSteps ?? 3} warm-up + ${req.timedSteps ?? 5} timed steps)…`);
  const probe = await probeStep(exp, req);
  const stepsPerEpoch = Math.ceil(prepared.trainRows.length / config.batchSize);
  const perEpochImages = prepared.split.val.length + Math.min(config.bnRecalRows, prepared.trainRows.length);
  const epochOverheadSeconds = perEpochImages * probe.forwardSecondsPerImage + probe.checkpointSeconds;
  const reserveSeconds = req.finalEvalImages * probe.forwardSecondsPerImage + probe.checkpointSeconds;
  const spentSeconds = exp.elapsedSeconds();
  const budgetSeconds = req.budgetMinutes * 60;
  const plan = planBudget({
    budgetSeconds,
    spentSeconds: spentSeconds + reserveSeconds,
    stepSeconds: probe.stepSeconds,
    stepsPerEpoch,
    epochOverheadSeconds,
    safety,
  });
  const warmupSteps = warmupStepsOf(req.warmupFraction, plan.totalSteps);
  const record: BudgetRecord = {
    budgetMinutes: req.budgetMinutes,
    safety,
    spentSeconds,
    reserveSeconds,
    probe,
    stepsPerEpoch,
    epochOverheadSeconds,
    plan,
    schedule: {
      kind: req.schedule,
      peakLr: req.peakLr,
      warmupFraction: req.warmupFraction,
      warmupSteps,
      totalSteps: plan.totalSteps,
    },
    predictedRunSeconds: spentSeconds + plan.predictedSeconds + reserveSeconds,
    plannedAt: new Date().toISOString(),
  };
  exp.log(
    `budget: ${(probe.stepSeconds * 1000).toFixed(0)} ms/step (warm-up steps ${
      probe.warmMs.map((m) => m.toFixed(0)).join(", ")
    } ms), ${epochOverheadSeconds.toFixed(0)} s extras/epoch → ${plan.epochs} epochs × ${stepsPerEpoch} steps, ` +
      `predicted ${(record.predictedRunSeconds / 60).toFixed(1)} of ${+req.budgetMinutes.toFixed(2)} min`,
  );
  if (record.predictedRunSeconds > budgetSeconds) {
    exp.log(`budget: even one epoch does not fit ${req.budgetMinutes} min; training one epoch anyway`);
  }
  return record;
}

/** Times real steps (real rows, augmentation, optimizer, decay) on a throwaway model, then inference and a checkpoint. */
async function probeStep<C extends CommonConfig>(exp: Experiment<C>, req: BudgetRequest): Promise<StepProbe> {
  const { config, prepared } = exp;
  const model = req.build();
  const optimizer = req.optimizer();
  const side = model.inputs[0].shape[1] ?? 48;
  const k = model.outputs[0].shape.at(-1)!;
  const rows = prepared.trainRows;
  const n = Math.min(config.batchSize, rows.length);
  const rng = exp.rng("budget-probe");
  const augment = augmentPreset(req.augment);
  const x = toImageTensor(prepared.data.pixels, rows, 0, n, side);
  const y = oneHot(prepared.data.labels, rows, 0, n, k);
  const step = async () => {
    const t0 = performance.now();
    const xa = req.augment === "none" ? x : augmentBatch(x, augment, rng);
    await trainStep(model, optimizer, xa, y, {
      labelSmoothing: req.labelSmoothing,
      weightDecay: req.weightDecay,
      dropoutRng: rng,
    });
    if (xa !== x) xa.dispose();
    return performance.now() - t0;
  };
  // Beside the run's checkpoints: the only place the experiment's permissions let it write.
  const checkpoints = join(config.out, "checkpoints");
  await Deno.mkdir(checkpoints, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: checkpoints, prefix: ".budget-probe-" });
  try {
    const warmMs: number[] = [];
    for (let i = 0; i < (req.warmSteps ?? 3); i++) warmMs.push(await step());
    const timedMs: number[] = [];
    for (let i = 0; i < Math.max(1, req.timedSteps ?? 5); i++) timedMs.push(await step());
    const forward = async () => {
      const t0 = performance.now();
      const p = model.predict(x) as tf.Tensor;
      await p.data();
      p.dispose();
      return (performance.now() - t0) / 1000;
    };
    await forward();
    const forwardSecondsPerImage = await forward() / n;
    const t0 = performance.now();
    await saveCheckpoint(join(tmp, "ck"), {
      model,
      optimizer,
      callbacks: [],
      state: {
        epoch: 0,
        epochs: 1,
        rngState: {},
        lr: req.peakLr,
        history: [],
        finished: null,
        cutShort: false,
        fingerprint: { trainRows: "", valRows: "", batchSize: n, microBatch: n, labelSmoothing: 0 },
      },
    });
    const checkpointSeconds = (performance.now() - t0) / 1000;
    const stepSeconds = timedMs.reduce((a, b) => a + b, 0) / timedMs.length / 1000;
    return { warmMs, timedMs, stepSeconds, forwardSecondsPerImage, checkpointSeconds, batchSize: n };
  } finally {
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
    await Deno.remove(tmp, { recursive: true });
  }
}
