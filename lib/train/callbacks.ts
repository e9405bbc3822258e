/**
 * Keras-style training callbacks as small state machines.
 *
 * A callback sees one {@link EpochLog} per epoch and answers with an
 * {@link CallbackAction} (change the learning rate, stop). Its whole state is
 * a JSON object (plus, for EarlyStopping's best weights, a list of tensors)
 * so that a checkpoint can freeze it and a resumed run behaves exactly like
 * an uninterrupted one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** What one epoch of training produced. */
export interface EpochLog {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch (training mode, as Keras reports it). */
  loss: number;
  /** Training accuracy over the epoch (training mode). */
  acc: number;
  /** Validation loss (inference mode); NaN without validation rows. */
  valLoss: number;
  /** Validation accuracy; NaN without validation rows. */
  valAcc: number;
  /** Learning rate used during this epoch (its first step's, under a per-step schedule). */
  lr: number;
  /** Wall seconds of the epoch, validation included. */
  seconds: number;
  /** Training throughput of the epoch. */
  imagesPerSec: number;
  /** What computed it (kernels and ISA), when the run recorded that; see `TrainOptions.kernels`. */
  kernels?: string;
}

/** A metric a callback can watch. */
export type Monitor = "loss" | "acc" | "valLoss" | "valAcc";

/** Whether smaller or larger is better; "auto" means larger for accuracies. */
export type Mode = "auto" | "min" | "max";

/** What a callback may read besides the log. */
export interface CallbackContext {
  /** The model being trained (EarlyStopping copies/restores its weights). */
  model: tf.LayersModel;
  /** Learning rate in effect during the epoch that just ended. */
  lr: number;
}

/** A callback's answer at the end of an epoch. */
export interface CallbackAction {
  /** Stop training after this epoch. */
  stop?: boolean;
  /** Learning rate for the next epochs. */
  lr?: number;
  /** A new total of epochs (e.g. a time budget re-planned from measured epochs); never below the epochs run. */
  epochs?: number;
  /** One human-readable line explaining the action. */
  reason?: string;
}

/** JSON-safe state of a callback. */
export type CallbackState = Record<string, number | boolean | null>;

/** A training callback (see ReduceLROnPlateau and EarlyStopping). */
export interface Callback {
  /** Name used to match saved state with the callback on resume. */
  readonly name: string;
  /** Metric the callback watches, if any (the loop checks it exists). */
  readonly monitor?: Monitor;
  /** Called once per finished epoch, in order (awaited: a callback may write a file). */
  onEpochEnd(log: EpochLog, ctx: CallbackContext): CallbackAction | Promise<CallbackAction>;
  /**
   * Called once when training is over for good (all epochs done or stopped
   * early; not when a time budget cut the run short, since it will resume).
   * May return a line to log.
   */
  onTrainEnd?(ctx: { model: tf.LayersModel }): string | void;
  /** JSON-serializable state, for checkpoints. */
  state(): CallbackState;
  /** Restores a state produced by {@link Callback.state}. */
  restore(state: CallbackState): void;
  /** Tensors that belong to the state (kept by the callback; not disposed by callers). */
  tensors?(): tf.Tensor[];
  /** Hands saved tensors back (the callback takes ownership). */
  restoreTensors?(tensors: tf.Tensor[]): void;
  /** Frees tensors the callback holds. */
  dispose?(): void;
}

/** Resolves "auto" the way Keras does: accuracies are maximised. */
export function resolveMode(monitor: Monitor, mode: Mode): "min" | "max" {
  if (mode !== "auto") return mode;
  return monitor.toLowerCase().includes("acc") ? "max" : "min";
}

/** True when `current` beats `best` by more than `minDelta` (Keras rule). */
export function isImprovement(
  current: number,
  best: number | null,
  mode: "min" | "max",
  minDelta: number,
): boolean {
  // NaN never improves (a diverged run must not become "best").
  if (Number.isNaN(current)) return false;
  if (best === null) return true;
  const d = Math.abs(minDelta);
  return mode === "min" ? current < best - d : current > best + d;
}

/**
 * Options of {@link ReduceLROnPlateau}. Defaults are the study's
 * (factor 0.5, patience 3); Keras' own are 0.1 and 10.
 */
export interface ReduceLROnPlateauOptions {
  /** Metric to watch (default "valLoss"). */
  monitor?: Monitor;
  /** Multiplier applied to the learning rate (default 0.5). */
  factor?: number;
  /** Epochs without improvement before reducing (default 3). */
  patience?: number;
  /** Lower bound of the learning rate (default 0). */
  minLr?: number;
  /** Smallest change that counts as improvement (default 1e-4). */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Direction of improvement (default "auto"). */
  mode?: Mode;
}

/**
 * Multiplies the learning rate by `factor` when the monitored metric has not
 * improved for `patience` epochs (Keras `ReduceLROnPlateau`).
 */
export class ReduceLROnPlateau implements Callback {
  readonly name = "ReduceLROnPlateau";
  readonly monitor: Monitor;
  readonly factor: number;
  readonly patience: number;
  readonly minLr: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly mode: "min" | "max";
  private best: number | null = null;
  private wait = 0;
  private cooldownCounter = 0;

  /** Creates the callback; see {@link ReduceLROnPlateauOptions}. */
  constructor(opts: ReduceLROnPlateauOptions = {}) {
    this.monitor = opts.monitor ?? "valLoss";
    this.factor = opts.factor ?? 0.5;
    if (!(this.factor > 0 && this.factor < 1)) {
      throw new RangeError(`ReduceLROnPlateau factor must be in (0, 1), got ${this.factor}`);
    }
    this.patience = opts.patience ?? 3;
    this.minLr = opts.minLr ?? 0;
    this.minDelta = opts.minDelta ?? 1e-4;
    this.cooldown = opts.cooldown ?? 0;
    this.mode = resolveMode(this.monitor, opts.mode ?? "auto");
  }

  /** Updates the plateau counters; may return a reduced `lr`. */
  onEpochEnd(log: EpochLog, ctx: CallbackContext): CallbackAction {
    const current = log[this.monitor];
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    if (isImprovement(current, this.best, this.mode, this.minDelta)) {
      this.best = current;
      this.wait = 0;
      return {};
    }
    if (this.cooldownCounter > 0) return {};
    this.wait++;
    if (this.wait < this.patience) return {};
    // Keras compares in float32; a relative tolerance avoids "reducing"
    // from minLr to minLr forever because of rounding.
    if (!(ctx.lr > this.minLr * (1 + 1e-6))) return {};
    const lr = Math.max(ctx.lr * this.factor, this.minLr);
    this.cooldownCounter = this.cooldown;
    this.wait = 0;
    return {
      lr,
      reason: `${this.name}: ${this.monitor} did not improve for ${this.patience} epochs; ` +
        `learning rate ${ctx.lr.toPrecision(3)} -> ${lr.toPrecision(3)}`,
    };
  }

  /** Counters and best value. */
  state(): CallbackState {
    return { best: this.best, wait: this.wait, cooldownCounter: this.cooldownCounter };
  }

  /** Restores counters and best value. */
  restore(s: CallbackState): void {
    this.best = s.best as number | null;
    this.wait = s.wait as number;
    this.cooldownCounter = s.cooldownCounter as number;
  }
}

/** Options of {@link EarlyStopping}; defaults follow Keras. */
export interface EarlyStoppingOptions {
  /** Metric to watch (default "valLoss"). */
  monitor?: Monitor;
  /** Epochs without improvement before stopping (default 0). */
  patience?: number;
  /** Smallest change that counts as improvement (default 0). */
  minDelta?: number;
  /**
   * At the end of training, put back the weights of the best epoch (default
   * false). As in current Keras (≥ 2.16 / 3), this happens whether or not
   * this callback stopped the run.
   */
  restoreBestWeights?: boolean;
  /** Restore only when this callback stopped the run (Keras ≤ 2.15 behaviour; default false). */
  restoreOnlyOnStop?: boolean;
  /** Direction of improvement (default "auto"). */
  mode?: Mode;
}

/** Copies a tensor into fresh memory (a clone may alias a variable's buffer). */
function copyTensor(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(t, tf.zeros([], t.dtype)));
}

/**
 * Stops training when the monitored metric has not improved for `patience`
 * epochs (Keras `EarlyStopping`). With `restoreBestWeights`, keeps a copy of
 * the weights at the best epoch and puts them back when training ends.
 */
export class EarlyStopping implements Callback {
  readonly name = "EarlyStopping";
  readonly monitor: Monitor;
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
  readonly restoreOnlyOnStop: boolean;
  readonly mode: "min" | "max";
  private best: number | null = null;
  private bestEpoch = 0;
  private wait = 0;
  private seen = 0;
  private stoppedEpoch = 0;
  private bestWeights: tf.Tensor[] | null = null;

  /** Creates the callback; see {@link EarlyStoppingOptions}. */
  constructor(opts: EarlyStoppingOptions = {}) {
    this.monitor = opts.monitor ?? "valLoss";
    this.patience = opts.patience ?? 0;
    this.minDelta = opts.minDelta ?? 0;
    this.restoreBestWeights = opts.restoreBestWeights ?? false;
    this.restoreOnlyOnStop = opts.restoreOnlyOnStop ?? false;
    this.mode = resolveMode(this.monitor, opts.mode ?? "auto");
  }

  /** Epoch (1-based) with the best monitored value so far; 0 before any. */
  get bestEpochNumber(): number {
    return this.bestEpoch;
  }

  /** Best monitored value so far, or null. */
  get bestValue(): number | null {
    return this.best;
  }

  /** Counts epochs without improvement; may ask to stop. */
  onEpochEnd(log: EpochLog, ctx: CallbackContext): CallbackAction {
    const current = log[this.monitor];
    this.seen++;
    this.wait++;
    if (isImprovement(current, this.best, this.mode, this.minDelta)) {
      this.best = current;
      this.bestEpoch = log.epoch;
      this.wait = 0;
      if (this.restoreBestWeights) this.keepWeights(ctx.model);
      return {};
    }
    // Keras never stops on the very first epoch it sees.
    if (this.wait < this.patience || this.seen <= 1) return {};
    this.stoppedEpoch = log.epoch;
    return {
      stop: true,
      reason: `${this.name}: ${this.monitor} did not improve for ${this.patience} epochs ` +
        `(best ${this.best?.toPrecision(4)} at epoch ${this.bestEpoch})`,
    };
  }

  /** Puts the best epoch's weights back, if asked to keep them. */
  onTrainEnd(ctx: { model: tf.LayersModel }): string | void {
    if (!this.restoreBestWeights || this.bestWeights === null) return;
    if (this.restoreOnlyOnStop && this.stoppedEpoch === 0) return;
    ctx.model.setWeights(this.bestWeights);
    // No wait since the best epoch means the last epoch was the best; without a stop, the epoch cap ended a run
    // still improving: worth saying, since more epochs might have helped.
    const stillImproving = this.stoppedEpoch === 0 && this.wait === 0;
    return `${this.name}: restored the weights of epoch ${this.bestEpoch} ` +
      `(${this.monitor} ${this.best?.toPrecision(4)})` +
      (stillImproving ? `, the last one: ${this.monitor} was still improving when the epoch cap ended training` : "");
  }

  private keepWeights(model: tf.LayersModel) {
    // getWeights() returns the live variables: copy, then drop the old copy.
    const copy = model.getWeights().map(copyTensor);
    this.dispose();
    this.bestWeights = copy;
  }

  /** Counters, best value and epoch. */
  state(): CallbackState {
    return {
      best: this.best,
      bestEpoch: this.bestEpoch,
      wait: this.wait,
      seen: this.seen,
      stoppedEpoch: this.stoppedEpoch,
    };
  }

  /** Restores counters, best value and epoch. */
  restore(s: CallbackState): void {
    this.best = s.best as number | null;
    this.bestEpoch = s.bestEpoch as number;
    this.wait = s.wait as number;
    this.seen = s.seen as number;
    this.stoppedEpoch = s.stoppedEpoch as number;
  }

  /** The best-epoch weights copy (empty when not kept). */
  tensors(): tf.Tensor[] {
    return this.bestWeights ?? [];
  }

  /** Takes ownership of a saved best-epoch weights copy. */
  restoreTensors(tensors: tf.Tensor[]): void {
    this.dispose();
    this.bestWeights = tensors.length > 0 ? tensors : null;
  }

  /** Frees the best-epoch weights copy. */
  dispose(): void {
    if (this.bestWeights) tf.dispose(this.bestWeights);
    this.bestWeights = null;
  }
}
