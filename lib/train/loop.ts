/**
 * The custom training loop: epochs of shuffled mini-batches with optional
 * gradient accumulation over micro-batches, label smoothing, augmentation,
 * Keras-style callbacks, a live progress line, per-epoch checkpoints that
 * resume bit-exactly, and a wall-clock budget.
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
import { batchBounds, batchOrder, oneHot, toImageTensor } from "../data/batches.ts";
import { DataError, IMAGE_SIZE } from "../data/fer2013.ts";
import type { NamedTensor } from "../models/io.ts";
import type { Callback, CallbackAction, EpochLog } from "./callbacks.ts";
import {
  type CheckpointState,
  type Fingerprint,
  hashRows,
  loadCheckpoint,
  saveCheckpoint,
  setModelWeights,
  setOptimizerWeights,
} from "./checkpoint.ts";
import { Progress } from "./progress.ts";

export type { EpochLog };

/** Whether a model outputs probabilities (softmax) or raw logits. */
export type OutputKind = "probabilities" | "logits";

/** Clipping of probabilities before the log, as Keras' backend epsilon. */
export const PROB_EPSILON = 1e-7;

/** Images and labels the loop reads rows from (a `Fer2013` fits). */
export interface TrainData {
  /** `n × size²` grayscale bytes. */
  pixels: Uint8Array;
  /** Class per row. */
  labels: Uint8Array;
}

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
  /** Batch augmentation in [0, 1] space; may return its input. Draw randomness only from `rng`. */
  augment?: (x: tf.Tensor4D, rng: Rng) => tf.Tensor4D;
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
  /** Side of the stored square images (default: the model's input size, else 48). */
  imageSize?: number;
  /**
   * Before each validation, re-estimate batch-norm statistics over this many
   * training images (see `bn_recalibrate.ts`); 0 or absent = Keras' moving
   * averages as they are.
   */
  bnRecalibrationRows?: number;
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
  /** Wall seconds of this call. */
  wallSeconds: number;
}

/** Per-step options shared by {@link computeGradients} and {@link trainStep}. */
export interface StepOptions {
  /** Micro-batch size (default: the whole batch at once). */
  microBatch?: number;
  /** Label smoothing (default 0). */
  labelSmoothing?: number;
  /** Output kind (default: detected with {@link outputKind}). */
  kind?: OutputKind;
  /** When given, every Dropout layer gets a seed from it before each forward pass. */
  dropoutRng?: Rng;
}

/** Gradients of the mean batch loss, plus the loss and the count of correct predictions. */
export interface GradientResult {
  /** One gradient per trainable weight, named by its variable, in `model.trainableWeights` order. */
  grads: NamedTensor[];
  /** Mean loss over the batch. */
  loss: tf.Scalar;
  /** Number of correct argmax predictions (training mode). */
  correct: tf.Scalar;
}

/**
 * Tells whether the model's last layer gives probabilities (softmax) or
 * logits (linear), so the loss can be computed the matching way.
 */
export function outputKind(model: tf.LayersModel): OutputKind {
  const last = model.layers[model.layers.length - 1];
  const config = last.getConfig();
  const activation = last.getClassName() === "Softmax" ? "softmax" : config.activation;
  if (activation === "softmax") return "probabilities";
  if (activation === "linear" || activation === undefined) return "logits";
  throw new Error(
    `last layer ${last.name} has activation ${activation}; ` +
      `the loss needs softmax probabilities or linear logits`,
  );
}

/**
 * Mean categorical cross-entropy of one-hot `yTrue` against `yPred`, with
 * Keras-style label smoothing. Probabilities are renormalised and clipped
 * to [ε, 1−ε] before the log, as Keras does.
 */
export function crossEntropy(
  yTrue: tf.Tensor2D,
  yPred: tf.Tensor2D,
  kind: OutputKind,
  labelSmoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const k = yTrue.shape[1];
    const y = labelSmoothing > 0 ? tf.add(tf.mul(yTrue, 1 - labelSmoothing), labelSmoothing / k) : yTrue;
    const logp = kind === "logits" ? tf.logSoftmax(yPred) : tf.log(
      tf.clipByValue(tf.div(yPred, tf.sum(yPred, -1, true)), PROB_EPSILON, 1 - PROB_EPSILON),
    );
    return tf.mean(tf.neg(tf.sum(tf.mul(y, logp), -1))) as tf.Scalar;
  });
}

/** Dropout layers of a model (the only stochastic layers the loop seeds). */
function dropoutLayers(model: tf.LayersModel): { seed?: number }[] {
  return model.layers
    .filter((l) => l.getClassName() === "Dropout" || l.getClassName() === "SpatialDropout1D")
    .map((l) => l as unknown as { seed?: number });
}

/**
 * Gradients of the mean loss of batch (x, y) with respect to the trainable
 * weights, in training mode (dropout on, BatchNorm on batch statistics, its
 * moving averages updated). With `microBatch`, the batch is processed in
 * chunks whose gradients are summed weighted by chunk size, which gives the
 * full-batch gradient (exactly, for models without batch-dependent layers)
 * while holding only one chunk's activations.
 */
export function computeGradients(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  opts: StepOptions = {},
): GradientResult {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const kind = opts.kind ?? outputKind(model);
  const smoothing = opts.labelSmoothing ?? 0;
  const n = x.shape[0];
  const m = Math.min(opts.microBatch ?? n, n);
  const dropouts = opts.dropoutRng ? dropoutLayers(model) : [];
  let acc: tf.Tensor[] | null = null;
  let loss = tf.scalar(0);
  let correct = tf.scalar(0);

  for (let a = 0; a < n; a += m) {
    const b = Math.min(n, a + m);
    const whole = a === 0 && b === n;
    const frac = (b - a) / n;
    for (const l of dropouts) l.seed = (opts.dropoutRng!.int32() >>> 0) || 1;
    const xs = whole ? x : x.slice(a, b - a);
    const ys = whole ? y : y.slice(a, b - a);
    let chunkCorrect: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const out = model.apply(xs, { training: true }) as tf.Tensor2D;
      chunkCorrect = tf.keep(
        tf.sum(tf.cast(tf.equal(tf.argMax(out, -1), tf.argMax(ys, -1)), "float32")),
      );
      return crossEntropy(ys, out, kind, smoothing);
    }, vars);
    if (!whole) tf.dispose([xs, ys]);
    const g = vars.map((v) => {
      const t = grads[v.name];
      if (t === undefined) throw new Error(`no gradient reaches weight ${v.name}`);
      return t;
    });
    if (whole) {
      acc = g;
    } else {
      const scaled = tf.tidy(() => g.map((t) => tf.mul(t, frac)));
      tf.dispose(g);
      if (acc === null) {
        acc = scaled;
      } else {
        const prev: tf.Tensor[] = acc;
        acc = tf.tidy(() => prev.map((t, i) => tf.add(t, scaled[i])));
        tf.dispose([...prev, ...scaled]);
      }
    }
    const [oldLoss, oldCorrect] = [loss, correct];
    loss = tf.tidy(() => tf.add(oldLoss, whole ? value : tf.mul(value, frac)));
    correct = tf.tidy(() => tf.add(oldCorrect, chunkCorrect!));
    tf.dispose([oldLoss, oldCorrect, value, chunkCorrect!]);
  }
  const grads = vars.map((v, i) => ({ name: v.name, tensor: acc![i] }));
  return { grads, loss, correct };
}

/**
 * One optimizer step on batch (x, y); returns the batch's mean loss and its
 * number of correct predictions. The caller keeps ownership of x and y.
 */
export async function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  opts: StepOptions = {},
): Promise<{ loss: number; correct: number }> {
  const { grads, loss, correct } = computeGradients(model, x, y, opts);
  // An array keeps slot order = trainable-weight order, which is what lets
  // Adam's saved moments line up with a freshly built model on resume.
  optimizer.applyGradients(grads);
  tf.dispose(grads.map((g) => g.tensor));
  const [l, c] = await Promise.all([loss.data(), correct.data()]);
  tf.dispose([loss, correct]);
  return { loss: l[0], correct: c[0] };
}

/** Reads an optimizer's learning rate (Adam, SGD, RMSProp, … keep it in `learningRate`). */
export function getLearningRate(optimizer: tf.Optimizer): number {
  const lr = (optimizer as unknown as { learningRate?: unknown }).learningRate;
  if (typeof lr !== "number") {
    throw new Error(`cannot read the learning rate of ${optimizer.getClassName()}`);
  }
  return lr;
}

/**
 * Sets an optimizer's learning rate so that the next step uses it. Adam &
 * co. read `learningRate` at every step; SGD/Momentum cache it in a tensor
 * that only `setLearningRate` refreshes.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as {
    learningRate?: unknown;
    setLearningRate?: (lr: number) => void;
  };
  if (typeof o.setLearningRate === "function") o.setLearningRate(lr);
  else if (typeof o.learningRate === "number") o.learningRate = lr;
  else throw new Error(`cannot set the learning rate of ${optimizer.getClassName()}`);
}

/** Options of {@link evaluateLoss}. */
export interface EvalLossOptions {
  /** Images per forward pass. */
  batchSize: number;
  /** Side of the stored images. */
  imageSize: number;
  /** Number of classes. */
  numClasses: number;
  /** Output kind (default: detected). */
  kind?: OutputKind;
  /** Label smoothing, as in training (Keras applies it to val_loss too). */
  labelSmoothing?: number;
}

/** Mean loss and accuracy over `rows`, in inference mode, batch by batch. */
export async function evaluateLoss(
  model: tf.LayersModel,
  data: TrainData,
  rows: ArrayLike<number>,
  opts: EvalLossOptions,
): Promise<{ loss: number; acc: number }> {
  if (rows.length === 0) return { loss: NaN, acc: NaN };
  const kind = opts.kind ?? outputKind(model);
  let lossSum = 0;
  let correct = 0;
  for (const [s, e] of batchBounds(rows.length, opts.batchSize)) {
    const stats = tf.tidy(() => {
      const x = toImageTensor(data.pixels, rows, s, e, opts.imageSize);
      const y = oneHot(data.labels, rows, s, e, opts.numClasses);
      const p = model.predict(x) as tf.Tensor2D;
      const l = tf.mul(crossEntropy(y, p, kind, opts.labelSmoothing ?? 0), e - s);
      const c = tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), "float32"));
      return tf.stack([l, c]);
    });
    const v = await stats.data();
    stats.dispose();
    lossSum += v[0];
    correct += v[1];
  }
  return { loss: lossSum / rows.length, acc: correct / rows.length };
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
  if (o.trainRows.length === 0) throw new RangeError("no training rows");
  if (o.data.pixels.length !== o.data.labels.length * imageSize * imageSize) {
    throw new DataError(
      "training data",
      null,
      `${o.data.pixels.length} pixel bytes do not make ${o.data.labels.length} images of ` +
        `${imageSize}×${imageSize}`,
    );
  }
  if (o.resume && !o.checkpoint) throw new Error("resume needs checkpoint.dir");
  for (const cb of o.callbacks ?? []) {
    if (cb.monitor?.startsWith("val") && o.valRows.length === 0) {
      throw new Error(`${cb.name} monitors ${cb.monitor} but there are no validation rows`);
    }
  }
}

/** Trains `opts.model` in place; see {@link TrainOptions} and the module docs. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const { model, optimizer, data, trainRows, valRows, epochs, batchSize } = opts;
  const callbacks = opts.callbacks ?? [];
  const inputSide = model.inputs[0].shape[1];
  const imageSize = opts.imageSize ?? inputSide ?? IMAGE_SIZE;
  checkOptions(opts, imageSize);
  const numClasses = model.outputs[0].shape.at(-1)!;
  const kind = outputKind(model);
  const microBatch = opts.microBatch ?? batchSize;
  const labelSmoothing = opts.labelSmoothing ?? 0;
  const progress = opts.progress === false ? null : opts.progress instanceof Progress ? opts.progress : new Progress();
  const sink = opts.log ?? ((line: string) => console.error(line));
  const log = (line: string) => {
    progress?.clear();
    sink(line);
  };
  const fingerprint: Fingerprint = {
    trainRows: hashRows(trainRows),
    valRows: hashRows(valRows),
    batchSize,
    microBatch,
    labelSmoothing,
  };

  let rng = opts.rng;
  let history: EpochLog[] = [];
  let startEpoch = 0;
  let resumedFrom: number | undefined;
  if (opts.resume) {
    const restored = await restoreFromCheckpoint(opts, fingerprint, log);
    if (restored) {
      rng = makeRng("resume", restored.rngState);
      history = restored.history;
      startEpoch = restored.epoch;
      resumedFrom = restored.epoch;
      if (restored.finished) {
        log(`checkpoint says training already ended: ${restored.finished.reason}`);
        endTraining(callbacks, model, log);
        return {
          history,
          stoppedEarly: true,
          cutShort: false,
          reason: restored.finished.reason,
          resumedFrom,
          wallSeconds: (performance.now() - t0) / 1000,
        };
      }
    }
  }

  const dropouts = dropoutLayers(model);
  const savedSeeds = dropouts.map((l) => l.seed);
  let stoppedEarly = false;
  let cutShort = false;
  let reason: string | undefined;
  const runSeconds: number[] = [];
  try {
    for (let epoch = startEpoch + 1; epoch <= epochs; epoch++) {
      const te = performance.now();
      const lr = getLearningRate(optimizer);
      const order = batchOrder(trainRows, rng);
      let lossSum = 0;
      let correct = 0;
      let done = 0;
      for (const [s, e] of batchBounds(order.length, batchSize)) {
        const x = toImageTensor(data.pixels, order, s, e, imageSize);
        const y = oneHot(data.labels, order, s, e, numClasses);
        const xa = opts.augment ? opts.augment(x, rng) : x;
        const r = await trainStep(model, optimizer, xa, y, {
          microBatch,
          labelSmoothing,
          kind,
          dropoutRng: rng,
        });
        tf.dispose(xa === x ? [x, y] : [x, xa, y]);
        lossSum += r.loss * (e - s);
        correct += r.correct;
        done += e - s;
        progress?.update({
          epoch,
          epochs,
          done,
          total: order.length,
          epochSeconds: (performance.now() - te) / 1000,
          meanEpochSeconds: runSeconds.length ? runSeconds.reduce((a, b) => a + b, 0) / runSeconds.length : undefined,
          loss: lossSum / done,
          acc: correct / done,
        });
      }
      const trainSeconds = (performance.now() - te) / 1000;
      if (opts.bnRecalibrationRows) {
        recalibrateBatchNorm(model, data, sampleRows(trainRows, opts.bnRecalibrationRows), { batchSize, imageSize });
      }
      const val = await evaluateLoss(model, data, valRows, {
        batchSize,
        imageSize,
        numClasses,
        kind,
        labelSmoothing,
      });
      const seconds = (performance.now() - te) / 1000;
      runSeconds.push(seconds);
      const entry: EpochLog = {
        epoch,
        loss: lossSum / done,
        acc: correct / done,
        valLoss: val.loss,
        valAcc: val.acc,
        lr,
        seconds,
        imagesPerSec: done / trainSeconds,
      };
      history.push(entry);
      log(formatEpochLine(entry, epochs));

      if (!Number.isFinite(entry.loss)) {
        stoppedEarly = true;
        reason = `training loss became ${entry.loss} in epoch ${epoch}`;
      }
      let nextLr: number | undefined;
      for (const cb of callbacks) {
        const action: CallbackAction = cb.onEpochEnd(entry, { model, lr });
        if (action.reason) log(action.reason);
        if (action.lr !== undefined) nextLr = action.lr;
        if (action.stop && !stoppedEarly) {
          stoppedEarly = true;
          reason = action.reason ?? `${cb.name} stopped training`;
        }
      }
      if (nextLr !== undefined) setLearningRate(optimizer, nextLr);

      const elapsed = (performance.now() - t0) / 1000;
      if (
        !stoppedEarly && epoch < epochs && opts.maxSeconds !== undefined &&
        elapsed >= opts.maxSeconds
      ) {
        cutShort = true;
        reason = `time budget of ${opts.maxSeconds}s used up after epoch ${epoch}/${epochs} ` +
          `(${elapsed.toFixed(0)}s)`;
        log(reason);
      }
      const ending = stoppedEarly || cutShort || epoch === epochs;
      if (opts.checkpoint && (ending || epoch % (opts.checkpoint.every ?? 1) === 0)) {
        await saveCheckpoint(opts.checkpoint.dir, {
          model,
          optimizer,
          callbacks,
          state: {
            epoch,
            epochs,
            rngState: rng.state(),
            lr: getLearningRate(optimizer),
            history,
            finished: stoppedEarly ? { reason: reason! } : null,
            cutShort,
            fingerprint,
          },
        });
      }
      if (stoppedEarly || cutShort) break;
    }
    // After the last checkpoint, so that it keeps the true training state
    // (last weights) while the caller gets e.g. the best epoch's weights.
    if (!cutShort) endTraining(callbacks, model, log);
  } finally {
    progress?.clear();
    // Give the layers back their own seeds so that a later model.fit does
    // not reuse the last mask seed at every step.
    dropouts.forEach((l, i) => (l.seed = savedSeeds[i]));
  }
  return {
    history,
    stoppedEarly,
    cutShort,
    ...(reason !== undefined ? { reason } : {}),
    ...(resumedFrom !== undefined ? { resumedFrom } : {}),
    wallSeconds: (performance.now() - t0) / 1000,
  };
}

/** Runs every callback's `onTrainEnd`, logging what they report. */
function endTraining(callbacks: Callback[], model: tf.LayersModel, log: (line: string) => void) {
  for (const cb of callbacks) {
    const line = cb.onTrainEnd?.({ model });
    if (line) log(line);
  }
}

/**
 * Loads `opts.checkpoint.dir` into the model, optimizer and callbacks.
 * Returns the JSON state, or null (after a notice) when there is none.
 */
async function restoreFromCheckpoint(
  opts: TrainOptions,
  fingerprint: Fingerprint,
  log: (line: string) => void,
): Promise<CheckpointState | null> {
  const dir = opts.checkpoint!.dir;
  const ck = await loadCheckpoint(dir);
  if (ck === null) {
    log(`no checkpoint in ${dir}; starting from scratch`);
    return null;
  }
  const callbacks = opts.callbacks ?? [];
  const owned = [
    ...ck.modelWeights.map((w) => w.tensor),
    ...ck.optimizerWeights.map((w) => w.tensor),
  ];
  let handed = 0;
  try {
    const statePath = `${dir}/state.json`;
    for (const [key, want] of Object.entries(fingerprint)) {
      const got = ck.state.fingerprint[key as keyof Fingerprint];
      if (got !== want) {
        throw new DataError(
          statePath,
          `fingerprint.${key}`,
          `checkpoint was made with ${key} = ${got}, this run has ${want}; ` +
            `resume with the same data split and batching, or start afresh`,
        );
      }
    }
    const names = ck.state.callbacks.map((c) => c.name).join(", ");
    if (names !== callbacks.map((c) => c.name).join(", ")) {
      throw new DataError(
        statePath,
        "callbacks",
        `checkpoint has callbacks [${names}], this run has [${callbacks.map((c) => c.name)}]`,
      );
    }
    setModelWeights(opts.model, ck.modelWeights, `${dir}/model`);
    await setOptimizerWeights(opts.optimizer, ck.optimizerWeights, ck.state.optimizer, dir);
    setLearningRate(opts.optimizer, ck.state.lr);
    callbacks.forEach((cb, i) => {
      cb.restore(ck.state.callbacks[i].state);
      const ts = ck.callbackTensors[i];
      handed = i + 1;
      if (cb.restoreTensors) cb.restoreTensors(ts);
      else tf.dispose(ts);
    });
  } catch (e) {
    tf.dispose(ck.callbackTensors.slice(handed).flat());
    throw e;
  } finally {
    // Variables took their own references; these copies are ours to free.
    tf.dispose(owned);
  }
  log(`resumed from ${dir} after epoch ${ck.state.epoch}`);
  return ck.state;
}
