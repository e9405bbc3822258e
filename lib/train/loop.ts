/**
 * The custom training loop: epochs of shuffled mini-batches with optional
 * gradient accumulation over micro-batches, label smoothing, augmentation,
 * Keras-style callbacks, a live progress line, per-epoch checkpoints that
 * resume bit-exactly, and a wall-clock budget. The step itself is in
 * `step.ts`, validation in `validate.ts`, resuming in `resume.ts`.
 *
 * Why not `model.fit`: fit cannot resume an optimizer, accumulate
 * micro-batches or stop on a time budget, and hides the per-step work the
 * backend experiments need to see. Everything here is plain tfjs ops, so it
 * runs on whichever backend is active.
 *
 * Determinism: batch order, augmentation and dropout masks all come from the
 * one `rng` passed in (tfjs Dropout otherwise draws from an unseeded global
 * generator, so each Dropout layer is given a fresh seed from `rng` before
 * every forward pass), and the rng's state is checkpointed each epoch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { recalibrateBatchNorm, sampleRows } from "./bn_recalibrate.ts";
import { makeRng, type Rng } from "../rng.ts";
import { batchBounds, batchOrder, oneHot, toImageTensor, type TrainData } from "../data/batches.ts";
import { fitToInput } from "../data/crops.ts";
import { DataError } from "../data/fer2013.ts";
import { inputSide, modelInput } from "../models/input_spec.ts";
import type { Callback, EpochLog } from "./callbacks.ts";
import { type Fingerprint, hashRows, saveCheckpoint } from "./checkpoint.ts";
import { getLearningRate, setLearningRate } from "./learning_rate.ts";
import type { LrSchedule } from "./lr_schedule.ts";
import { mixBatch } from "./mixup.ts";
import { Progress } from "./progress.ts";
import { restoreTraining } from "./resume.ts";
import { checkSoftTargets, mixTargets, type SoftTargets } from "./soft_targets.ts";
import { dropoutLayers, type OutputKind, outputKind, trainStep } from "./step.ts";
import { evaluateLoss } from "./validate.ts";

export type { EpochLog };

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model to train (a Layers model ending in softmax or linear logits). */
  model: tf.LayersModel;
  /** Optimizer, e.g. `tf.train.adam(1e-3)`. */
  optimizer: tf.Optimizer;
  /** Pixel and label store. */
  data: TrainData;
  /** Rows used for training. */
  trainRows: Int32Array;
  /** Rows used for validation (may be empty if no callback monitors val*). */
  valRows: Int32Array;
  /** Total epochs (a resumed run continues up to this number). */
  epochs: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Split each batch into chunks of this size and accumulate gradients (saves memory). */
  microBatch?: number;
  /** Keras-style label smoothing `s`: targets become y(1−s) + s/K. */
  labelSmoothing?: number;
  /**
   * Learning rate per optimizer step, from the 0-based global step
   * `(epoch − 1) × stepsPerEpoch + batch`; set before every step, so it
   * overrides callbacks' changes. A pure function of the step, so a resumed
   * run continues the schedule exactly where the checkpoint left it.
   */
  lrSchedule?: LrSchedule;
  /** L2 weight decay added to every gradient, as PyTorch's SGD `weight_decay` (default 0; see `weight_decay.ts`). */
  weightDecay?: number;
  /**
   * Batch augmentation in [0, 1] space; may return its input, or crops of the
   * model's input side (images still larger than the input are centre-cropped
   * to it). Draw randomness only from `rng`.
   */
  augment?: (x: tf.Tensor4D, rng: Rng) => tf.Tensor4D;
  /** mixup's Beta(α, α) parameter: every batch mixed with a permutation of itself, labels too (0 or absent = off). */
  mixup?: number;
  /** Knowledge distillation: a teacher's distribution per image, mixed into the one-hot labels (see `soft_targets.ts`). */
  softTargets?: SoftTargets;
  /** Source of all randomness (batch order, augmentation, dropout). */
  rng: Rng;
  /** Callbacks, called after each epoch in order. */
  callbacks?: Callback[];
  /** Checkpoint directory, saved every `every` epochs (default 1) and when training ends. */
  checkpoint?: { dir: string; every?: number };
  /** Continue from the checkpoint in `checkpoint.dir` if there is one. */
  resume?: boolean;
  /** Stop after the epoch during which this many seconds have passed. */
  maxSeconds?: number;
  /** Where epoch summaries and notices go (default: stderr). */
  log?: (line: string) => void;
  /** Live progress: false for none, a {@link Progress}, or true (default) for stderr. */
  progress?: boolean | Progress;
  /**
   * Side of the stored square images (default: the side the model records it
   * was trained on, else its input side; see `input_spec.ts`). A model with a
   * smaller input validates on their centre crops.
   */
  imageSize?: number;
  /**
   * Before each validation, re-estimate batch-norm statistics over this many
   * training images (see `bn_recalibrate.ts`); 0 or absent = Keras' moving
   * averages as they are.
   */
  bnRecalibrationRows?: number;
  /**
   * What computes the epochs ("oneDNN 2.6.3 avx512_core", "wasm"), recorded in
   * each epoch's log: kernels and ISAs round differently, so a resumed run's
   * report says where they changed.
   */
  kernels?: string;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** One log per epoch, resumed epochs included. */
  history: EpochLog[];
  /** A callback (or a non-finite loss) ended training before `epochs`. */
  stoppedEarly: boolean;
  /** The time budget ended this run before `epochs`; resuming continues. */
  cutShort: boolean;
  /** Why training ended early, if it did. */
  reason?: string;
  /** Epochs already done in the checkpoint this run resumed from. */
  resumedFrom?: number;
  /** What the callbacks did when training ended (e.g. which epoch's weights EarlyStopping put back). */
  endNotes?: string[];
  /** Wall seconds of this call. */
  wallSeconds: number;
}

/** One summary line per epoch, Keras-like. */
export function formatEpochLine(log: EpochLog, epochs: number): string {
  const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
  return `epoch ${log.epoch}/${epochs}  loss ${f(log.loss, 4)} acc ${f(log.acc, 4)}  ` +
    `val_loss ${f(log.valLoss, 4)} val_acc ${f(log.valAcc, 4)}  lr ${log.lr.toExponential(2)}  ` +
    `${log.seconds.toFixed(1)}s (${log.imagesPerSec.toFixed(1)} img/s)`;
}

function checkOptions(o: TrainOptions, imageSize: number) {
  const posInt = (v: number) => Number.isInteger(v) && v >= 1;
  if (!posInt(o.epochs)) throw new RangeError(`epochs must be a positive integer, got ${o.epochs}`);
  if (!posInt(o.batchSize)) {
    throw new RangeError(`batchSize must be a positive integer, got ${o.batchSize}`);
  }
  if (o.microBatch !== undefined && !(posInt(o.microBatch) && o.microBatch <= o.batchSize)) {
    throw new RangeError(`microBatch must be an integer in 1..batchSize, got ${o.microBatch}`);
  }
  const s = o.labelSmoothing ?? 0;
  if (!(s >= 0 && s < 1)) throw new RangeError(`labelSmoothing must be in [0, 1), got ${s}`);
  const wd = o.weightDecay ?? 0;
  if (!(wd >= 0 && Number.isFinite(wd))) throw new RangeError(`weightDecay must be a finite number ≥ 0, got ${wd}`);
  const mixup = o.mixup ?? 0;
  if (!(mixup >= 0 && Number.isFinite(mixup))) throw new RangeError(`mixup must be a finite number ≥ 0, got ${mixup}`);
  if (o.trainRows.length === 0) throw new RangeError("no training rows");
  if (o.softTargets) checkSoftTargets(o.softTargets, o.trainRows, o.model.outputs[0].shape.at(-1)!);
  if (o.data.pixels.length !== o.data.labels.length * imageSize * imageSize) {
    throw new DataError(
      "training data",
      null,
      `${o.data.pixels.length} pixel bytes do not make ${o.data.labels.length} images of ` +
        `${imageSize}×${imageSize}`,
    );
  }
  if (o.resume && !o.checkpoint) throw new RangeError("resume needs checkpoint.dir");
  for (const cb of o.callbacks ?? []) {
    if (cb.monitor?.startsWith("val") && o.valRows.length === 0) {
      throw new Error(`${cb.name} monitors ${cb.monitor} but there are no validation rows`);
    }
  }
}

/** Settings derived once from the options, shared by the phases of {@link train}. */
interface Run {
  opts: TrainOptions;
  imageSize: number;
  /** Side of the model's input (smaller than `imageSize` for a model trained on crops). */
  inputSize: number;
  numClasses: number;
  kind: OutputKind;
  microBatch: number;
  labelSmoothing: number;
  callbacks: Callback[];
  progress: Progress | null;
  log: (line: string) => void;
  fingerprint: Fingerprint;
  t0: number;
}

/** Where training stands: restored from a checkpoint, then advanced epoch by epoch. */
interface State {
  rng: Rng;
  /** Total epochs: the options', until a callback re-plans them (e.g. a time budget). */
  epochs: number;
  history: EpochLog[];
  startEpoch: number;
  resumedFrom?: number;
  /** Set when a checkpoint says training already ended for good. */
  finishedReason?: string;
  /** Seconds of each epoch run in this call (for the ETA). */
  runSeconds: number[];
}

/** How the epoch loop ended. */
interface Ending {
  stoppedEarly: boolean;
  cutShort: boolean;
  reason?: string;
}

/**
 * Trains `opts.model` in place; see {@link TrainOptions} and the module docs.
 *
 * @example
 * ```ts
 * const result = await train({
 *   model, optimizer: tf.train.adam(1e-3), data, trainRows, valRows,
 *   epochs: 30, batchSize: 64, rng: makeRng("42:train"),
 *   callbacks: [new EarlyStopping({ patience: 8, restoreBestWeights: true })],
 *   checkpoint: { dir: "reports/checkpoints/01_baseline" }, resume: true,
 * });
 * ```
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const run = setUp(opts);
  const state = await startOrResume(run);
  if (state.finishedReason !== undefined) {
    run.log(`checkpoint says training already ended: ${state.finishedReason}`);
    const endNotes = endTraining(run);
    return result(run, state, { stoppedEarly: true, cutShort: false, reason: state.finishedReason }, endNotes);
  }
  const dropouts = dropoutLayers(opts.model);
  const savedSeeds = dropouts.map((l) => l.seed);
  let ending: Ending = { stoppedEarly: false, cutShort: false };
  let endNotes: string[] = [];
  try {
    for (let epoch = state.startEpoch + 1; epoch <= state.epochs; epoch++) {
      const entry = await runEpoch(run, state, epoch);
      state.history.push(entry);
      run.log(formatEpochLine(entry, state.epochs));
      ending = await decideAfterEpoch(run, state, entry);
      await checkpointIfDue(run, state, epoch, ending);
      if (ending.stoppedEarly || ending.cutShort) break;
    }
    // After the last checkpoint, so that it keeps the true training state
    // (last weights) while the caller gets e.g. the best epoch's weights.
    if (!ending.cutShort) endNotes = endTraining(run);
  } finally {
    run.progress?.clear();
    // Give the layers back their own seeds so that a later model.fit does
    // not reuse the last mask seed at every step.
    dropouts.forEach((l, i) => (l.seed = savedSeeds[i]));
  }
  return result(run, state, ending, endNotes);
}

/** Checks the options and derives what every phase needs. */
function setUp(opts: TrainOptions): Run {
  const t0 = performance.now();
  const imageSize = opts.imageSize ?? modelInput(opts.model).imageSize;
  checkOptions(opts, imageSize);
  const microBatch = opts.microBatch ?? opts.batchSize;
  const labelSmoothing = opts.labelSmoothing ?? 0;
  const progress = opts.progress === false ? null : opts.progress instanceof Progress ? opts.progress : new Progress();
  const sink = opts.log ?? ((line: string) => console.error(line));
  return {
    opts,
    imageSize,
    inputSize: inputSide(opts.model),
    numClasses: opts.model.outputs[0].shape.at(-1)!,
    kind: outputKind(opts.model),
    microBatch,
    labelSmoothing,
    callbacks: opts.callbacks ?? [],
    progress,
    log: (line: string) => {
      progress?.clear();
      sink(line);
    },
    fingerprint: {
      trainRows: hashRows(opts.trainRows),
      valRows: hashRows(opts.valRows),
      batchSize: opts.batchSize,
      microBatch,
      labelSmoothing,
      // Only when on, so that checkpoints made before mixup existed still resume.
      ...(opts.mixup ? { mixup: opts.mixup } : {}),
      ...(opts.softTargets ? { softTargets: `${opts.softTargets.weight}:${opts.softTargets.id}` } : {}),
    },
    t0,
  };
}

/** A fresh start, or the state of the checkpoint when resuming. */
async function startOrResume(run: Run): Promise<State> {
  const { opts } = run;
  const fresh: State = { rng: opts.rng, epochs: opts.epochs, history: [], startEpoch: 0, runSeconds: [] };
  if (!opts.resume) return fresh;
  const restored = await restoreTraining(opts.checkpoint!.dir, {
    model: opts.model,
    optimizer: opts.optimizer,
    callbacks: run.callbacks,
    fingerprint: run.fingerprint,
  }, run.log);
  if (!restored) return fresh;
  return {
    rng: makeRng("resume", restored.rngState),
    epochs: opts.epochs,
    history: restored.history,
    startEpoch: restored.epoch,
    resumedFrom: restored.epoch,
    finishedReason: restored.finished?.reason,
    runSeconds: [],
  };
}

/** One epoch: shuffled, augmented training batches, then batch-norm recalibration and validation. */
async function runEpoch(run: Run, state: State, epoch: number): Promise<EpochLog> {
  const { opts, imageSize, numClasses } = run;
  const { data, model, optimizer, batchSize } = opts;
  const te = performance.now();
  const order = batchOrder(opts.trainRows, state.rng);
  const bounds = batchBounds(order.length, batchSize);
  const firstStep = (epoch - 1) * bounds.length;
  if (opts.lrSchedule) setLearningRate(optimizer, opts.lrSchedule(firstStep));
  const lr = getLearningRate(optimizer);
  const meanEpochSeconds = state.runSeconds.length
    ? state.runSeconds.reduce((a, b) => a + b, 0) / state.runSeconds.length
    : undefined;
  let lossSum = 0;
  let correct = 0;
  let done = 0;
  for (const [b, [s, e]] of bounds.entries()) {
    if (opts.lrSchedule && b > 0) setLearningRate(optimizer, opts.lrSchedule(firstStep + b));
    const x = toImageTensor(data.pixels, order, s, e, imageSize);
    const truth = oneHot(data.labels, order, s, e, numClasses);
    const y = opts.softTargets ? mixTargets(truth, opts.softTargets, order, s, e) : truth;
    const xa = fitToInput(opts.augment ? opts.augment(x, state.rng) : x, run.inputSize);
    const mixed = opts.mixup ? mixBatch(xa, y, opts.mixup, state.rng) : { x: xa, y };
    const r = await trainStep(model, optimizer, mixed.x, mixed.y, {
      microBatch: run.microBatch,
      labelSmoothing: run.labelSmoothing,
      kind: run.kind,
      dropoutRng: state.rng,
      weightDecay: opts.weightDecay,
    });
    tf.dispose([...new Set([x, xa, mixed.x, truth, y, mixed.y])]);
    lossSum += r.loss * (e - s);
    correct += r.correct;
    done += e - s;
    run.progress?.update({
      epoch,
      epochs: state.epochs,
      done,
      total: order.length,
      epochSeconds: (performance.now() - te) / 1000,
      meanEpochSeconds,
      loss: lossSum / done,
      acc: correct / done,
    });
  }
  const trainSeconds = (performance.now() - te) / 1000;
  if (opts.bnRecalibrationRows) {
    recalibrateBatchNorm(model, data, sampleRows(opts.trainRows, opts.bnRecalibrationRows), { batchSize, imageSize });
  }
  const val = await evaluateLoss(model, data, opts.valRows, {
    batchSize,
    imageSize,
    numClasses,
    kind: run.kind,
    labelSmoothing: run.labelSmoothing,
  });
  const seconds = (performance.now() - te) / 1000;
  state.runSeconds.push(seconds);
  return {
    epoch,
    loss: lossSum / done,
    acc: correct / done,
    valLoss: val.loss,
    valAcc: val.acc,
    lr,
    seconds,
    imagesPerSec: done / trainSeconds,
    ...(opts.kernels ? { kernels: opts.kernels } : {}),
  };
}

/** Non-finite loss, callbacks (learning rate, epochs, stopping) and the time budget, in that order. */
async function decideAfterEpoch(run: Run, state: State, entry: EpochLog): Promise<Ending> {
  const { opts } = run;
  const ending: Ending = { stoppedEarly: false, cutShort: false };
  if (!Number.isFinite(entry.loss)) {
    ending.stoppedEarly = true;
    ending.reason = `training loss became ${entry.loss} in epoch ${entry.epoch}`;
  }
  let nextLr: number | undefined;
  for (const cb of run.callbacks) {
    const action = await cb.onEpochEnd(entry, { model: opts.model, lr: entry.lr });
    if (action.reason) run.log(action.reason);
    if (action.lr !== undefined) nextLr = action.lr;
    if (action.epochs !== undefined) state.epochs = Math.max(entry.epoch, action.epochs);
    if (action.stop && !ending.stoppedEarly) {
      ending.stoppedEarly = true;
      ending.reason = action.reason ?? `${cb.name} stopped training`;
    }
  }
  if (nextLr !== undefined) setLearningRate(opts.optimizer, nextLr);

  const elapsed = (performance.now() - run.t0) / 1000;
  if (
    !ending.stoppedEarly && entry.epoch < state.epochs && opts.maxSeconds !== undefined && elapsed >= opts.maxSeconds
  ) {
    ending.cutShort = true;
    ending.reason =
      `time budget of ${opts.maxSeconds.toFixed(0)}s used up after epoch ${entry.epoch}/${state.epochs} ` +
      `(${elapsed.toFixed(0)}s)`;
    run.log(ending.reason);
  }
  return ending;
}

/** Saves the whole training state every `checkpoint.every` epochs and whenever training ends. */
async function checkpointIfDue(run: Run, state: State, epoch: number, ending: Ending): Promise<void> {
  const { opts } = run;
  if (!opts.checkpoint) return;
  const last = ending.stoppedEarly || ending.cutShort || epoch === state.epochs;
  if (!last && epoch % (opts.checkpoint.every ?? 1) !== 0) return;
  await saveCheckpoint(opts.checkpoint.dir, {
    model: opts.model,
    optimizer: opts.optimizer,
    callbacks: run.callbacks,
    state: {
      epoch,
      epochs: state.epochs,
      rngState: state.rng.state(),
      lr: getLearningRate(opts.optimizer),
      history: state.history,
      finished: ending.stoppedEarly ? { reason: ending.reason! } : null,
      cutShort: ending.cutShort,
      fingerprint: run.fingerprint,
    },
  });
}

/** Runs every callback's `onTrainEnd`, logging what they report and returning it for the report. */
function endTraining(run: Run): string[] {
  const notes: string[] = [];
  for (const cb of run.callbacks) {
    const line = cb.onTrainEnd?.({ model: run.opts.model });
    if (line) {
      run.log(line);
      notes.push(line);
    }
  }
  return notes;
}

function result(run: Run, state: State, ending: Ending, endNotes: string[] = []): TrainResult {
  return {
    history: state.history,
    stoppedEarly: ending.stoppedEarly,
    cutShort: ending.cutShort,
    ...(ending.reason !== undefined ? { reason: ending.reason } : {}),
    ...(state.resumedFrom !== undefined ? { resumedFrom: state.resumedFrom } : {}),
    ...(endNotes.length > 0 ? { endNotes } : {}),
    wallSeconds: (performance.now() - run.t0) / 1000,
  };
}
