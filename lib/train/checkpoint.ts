/**
 * Whole-training-state checkpoints, so an interrupted run can resume and end
 * exactly where an uninterrupted one would.
 *
 * A checkpoint directory holds:
 * - `model/` — the model in TF.js Layers format (loadable with `loadModel`);
 * - `optimizer.bin` — the optimizer's slots (e.g. Adam moments, iterations);
 * - `callbacks.bin` — tensors owned by callbacks (EarlyStopping's best weights);
 * - `state.json` — epoch, RNG state, history, learning rate, callback states,
 *   weight manifests and a fingerprint of the data/batching it was made with.
 *
 * It is written into `<dir>.tmp` and swapped in with renames, so a crash
 * mid-save leaves the previous checkpoint intact (at `<dir>` or, in the
 * instant between the two renames, at `<dir>.old`, which loading also tries).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { isAbsolute, join, relative } from "node:path";
import { exists, replaceDirAtomic, WriteError } from "../atomic_write.ts";
import { UserError } from "../errors.ts";
import { type NamedTensor, readWeights, saveModel } from "../models/io.ts";
import type { Callback, CallbackState, EpochLog } from "./callbacks.ts";

/**
 * A checkpoint that cannot be resumed: corrupt files, another layout version,
 * or a run whose data, batching, callbacks or model differ from it.
 */
export class CheckpointError extends UserError {
  constructor(
    readonly file: string,
    readonly where: string | null,
    readonly problem: string,
  ) {
    super(`${file}${where ? `, ${where}` : ""}: ${problem}`);
  }
}

/** Version of the checkpoint layout; bumped on incompatible changes. */
export const CHECKPOINT_VERSION = 1;

/** What must match for a checkpoint to be resumed with the given options. */
export interface Fingerprint {
  /** Hash of the training rows (order included). */
  trainRows: string;
  /** Hash of the validation rows. */
  valRows: string;
  /** Batch size. */
  batchSize: number;
  /** Micro-batch size (equal to batchSize when not micro-batching). */
  microBatch: number;
  /** Label smoothing. */
  labelSmoothing: number;
  /** mixup's α, present only when mixup is on. */
  mixup?: number;
  /** Distillation's teacher weight and teachers, present only when distilling. */
  softTargets?: string;
}

/** The JSON part of a checkpoint. */
export interface CheckpointState {
  /** Layout version ({@link CHECKPOINT_VERSION}). */
  version: number;
  /** Epochs completed. */
  epoch: number;
  /** Epochs the run was planned for (informational). */
  epochs: number;
  /** State of the training RNG after `epoch`. */
  rngState: object;
  /** Learning rate for the next epoch. */
  lr: number;
  /** Epoch logs so far. */
  history: EpochLog[];
  /** Set when training ended for good (early stop, NaN loss): resuming does nothing. */
  finished: { reason: string } | null;
  /** Set when the last run stopped on its time budget (resuming continues). */
  cutShort: boolean;
  /** Options that must match on resume. */
  fingerprint: Fingerprint;
  /** Optimizer class, weight manifest and float32 extras (Adam's beta powers). */
  optimizer: {
    className: string;
    weightSpecs: tf.io.WeightsManifestEntry[];
    extra: Record<string, number>;
  };
  /** Callback names, states and the number of tensors each saved. */
  callbacks: { name: string; state: CallbackState; tensors: number }[];
  /** Manifest of callbacks.bin. */
  callbackWeightSpecs: tf.io.WeightsManifestEntry[];
  /** ISO time of saving. */
  savedAt: string;
}

/** Everything needed to write a checkpoint. */
export interface CheckpointInput {
  /** The model being trained. */
  model: tf.LayersModel;
  /** Its optimizer (must implement getWeights, as Adam/SGD/RMSProp do). */
  optimizer: tf.Optimizer;
  /** Callbacks, whose states and tensors are saved. */
  callbacks: Callback[];
  /** The JSON fields not derived from the objects above. */
  state: Omit<CheckpointState, "version" | "optimizer" | "callbacks" | "callbackWeightSpecs" | "savedAt">;
}

/** A checkpoint read back; the caller owns (and must dispose) all tensors. */
export interface LoadedCheckpoint {
  /** The JSON state. */
  state: CheckpointState;
  /** Model weights in manifest (= `model.weights`) order. */
  modelWeights: NamedTensor[];
  /** Optimizer weights as `optimizer.getWeights()` returned them. */
  optimizerWeights: NamedTensor[];
  /** Tensors of each callback, in callback order. */
  callbackTensors: tf.Tensor[][];
}

/** Short FNV-1a hash of integer rows, to tell data selections apart. */
export function hashRows(rows: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < rows.length; i++) {
    let v = rows[i] | 0;
    for (let k = 0; k < 4; k++) {
      h ^= v & 0xff;
      h = Math.imul(h, 0x01000193);
      v >>>= 8;
    }
  }
  return `${rows.length}:${(h >>> 0).toString(16).padStart(8, "0")}`;
}

/** Values of scalar float32 optimizer variables that getWeights() leaves out. */
async function optimizerExtras(opt: tf.Optimizer): Promise<Record<string, number>> {
  const extra: Record<string, number> = {};
  // Adam/Adamax rebuild beta^t from the iteration count on setWeights with
  // pow(), which can differ in the last bit from the running product; saving
  // the products makes resume bit-exact.
  for (const key of ["accBeta1", "accBeta2"]) {
    const v = (opt as unknown as Record<string, unknown>)[key];
    if (v instanceof tf.Variable && v.size === 1) extra[key] = (await v.data())[0];
  }
  return extra;
}

/**
 * A checkpoint the file system would not take (a full disk, say). The one
 * before it is intact, and the message says which epoch that was; the run
 * can go on from it with `--resume`.
 */
export class CheckpointWriteError extends WriteError {
  constructor(
    dir: string,
    readonly epoch: number,
    readonly lastGoodEpoch: number | null,
    fault: WriteError,
  ) {
    const inside = relative(`${dir}.tmp`, fault.path);
    const file = inside && !inside.startsWith("..") && !isAbsolute(inside) ? ` (writing ${inside})` : "";
    super(dir, fault.cause, `the epoch-${epoch} checkpoint ${dir}${file}`);
    this.message += lastGoodEpoch === null
      ? "; there is no earlier checkpoint"
      : `; the epoch-${lastGoodEpoch} checkpoint there is intact`;
    this.resumable = true;
  }
}

/**
 * Writes a checkpoint of the whole training state into `dir`, atomically.
 *
 * @throws CheckpointWriteError when the file system refuses it; the previous checkpoint is then untouched.
 */
export async function saveCheckpoint(dir: string, input: CheckpointInput): Promise<void> {
  try {
    await replaceDirAtomic(dir, (tmp) => writeCheckpointFiles(tmp, input));
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    throw new CheckpointWriteError(dir, input.state.epoch, await savedEpoch(dir), e);
  }
}

/** The epoch of the checkpoint at `dir` (or its `.old` twin), or null when there is none readable. */
async function savedEpoch(dir: string): Promise<number | null> {
  for (const base of [dir, `${dir}.old`]) {
    try {
      const epoch = JSON.parse(await Deno.readTextFile(join(base, "state.json"))).epoch;
      if (typeof epoch === "number") return epoch;
    } catch {
      // not there (or unreadable): try the next place
    }
  }
  return null;
}

async function writeCheckpointFiles(tmp: string, input: CheckpointInput): Promise<void> {
  await saveModel(input.model, join(tmp, "model"));

  const optWeights = await input.optimizer.getWeights();
  const opt = await tf.io.encodeWeights(optWeights);
  // getWeights() hands out the live slot variables plus a fresh "iter"
  // scalar; only the latter is ours to free.
  for (const w of optWeights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  await Deno.writeFile(join(tmp, "optimizer.bin"), new Uint8Array(opt.data as ArrayBuffer));

  const cbNamed: NamedTensor[] = [];
  const cbMeta = input.callbacks.map((cb, i) => {
    const ts = cb.tensors?.() ?? [];
    ts.forEach((t, j) => cbNamed.push({ name: `cb${i}/${j}`, tensor: t }));
    return { name: cb.name, state: cb.state(), tensors: ts.length };
  });
  const cbEnc = await tf.io.encodeWeights(cbNamed);
  await Deno.writeFile(join(tmp, "callbacks.bin"), new Uint8Array(cbEnc.data as ArrayBuffer));

  const state: CheckpointState = {
    version: CHECKPOINT_VERSION,
    ...input.state,
    optimizer: {
      className: input.optimizer.getClassName(),
      weightSpecs: opt.specs,
      extra: await optimizerExtras(input.optimizer),
    },
    callbacks: cbMeta,
    callbackWeightSpecs: cbEnc.specs,
    savedAt: new Date().toISOString(),
  };
  // JSON has no NaN/Infinity; encode them as strings so history survives.
  await Deno.writeTextFile(join(tmp, "state.json"), JSON.stringify(state, encodeNumber, 1));
}

function encodeNumber(_key: string, value: unknown) {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

function decodeNumber(_key: string, value: unknown) {
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return value;
}

/** True when `dir` (or its `.old` twin) holds a checkpoint. */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return await exists(join(dir, "state.json")) || await exists(join(`${dir}.old`, "state.json"));
}

/** Reads a checkpoint, or returns null when there is none at `dir`. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint | null> {
  let base = dir;
  if (!await exists(join(base, "state.json"))) {
    base = `${dir}.old`;
    if (!await exists(join(base, "state.json"))) return null;
  }
  const statePath = join(base, "state.json");
  let state: CheckpointState;
  try {
    state = JSON.parse(await Deno.readTextFile(statePath), decodeNumber);
  } catch (e) {
    throw new CheckpointError(statePath, null, `corrupt checkpoint state (${(e as Error).message})`);
  }
  if (state.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      statePath,
      "version",
      `checkpoint version ${state.version}, this code reads ${CHECKPOINT_VERSION}`,
    );
  }
  const modelWeights = await readWeights(join(base, "model"));
  const optimizerWeights = await readBin(join(base, "optimizer.bin"), state.optimizer.weightSpecs);
  const cbFlat = await readBin(join(base, "callbacks.bin"), state.callbackWeightSpecs);
  const callbackTensors: tf.Tensor[][] = [];
  let k = 0;
  for (const cb of state.callbacks) {
    callbackTensors.push(cbFlat.slice(k, k + cb.tensors).map((n) => n.tensor));
    k += cb.tensors;
  }
  return { state, modelWeights, optimizerWeights, callbackTensors };
}

async function readBin(
  path: string,
  specs: tf.io.WeightsManifestEntry[],
): Promise<NamedTensor[]> {
  const bytes = await Deno.readFile(path);
  const expected = specs.reduce(
    (a, s) => a + s.shape.reduce((x, y) => x * y, 1) * (s.dtype === "bool" ? 1 : 4),
    0,
  );
  if (bytes.byteLength !== expected) {
    throw new CheckpointError(
      path,
      null,
      `holds ${bytes.byteLength} bytes but state.json describes ${expected} (corrupt checkpoint?)`,
    );
  }
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const map = tf.io.decodeWeights(buf as ArrayBuffer, specs);
  return specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}

/**
 * Copies saved weights into `model` by position (layer names differ between
 * two builds of the same architecture, positions and shapes do not).
 */
export function setModelWeights(model: tf.LayersModel, weights: NamedTensor[], source: string) {
  const live = model.weights;
  if (live.length !== weights.length) {
    throw new CheckpointError(
      source,
      null,
      `checkpoint has ${weights.length} weight tensors, the model has ${live.length} (different architecture?)`,
    );
  }
  live.forEach((w, i) => {
    const got = weights[i].tensor.shape;
    if (got.join() !== w.shape.join()) {
      throw new CheckpointError(
        source,
        weights[i].name,
        `shape [${got}] does not fit model weight ${w.originalName} [${w.shape}]`,
      );
    }
  });
  model.setWeights(weights.map((w) => w.tensor));
}

/** Restores optimizer slots (and exact extras) saved by {@link saveCheckpoint}. */
export async function setOptimizerWeights(
  optimizer: tf.Optimizer,
  weights: NamedTensor[],
  saved: CheckpointState["optimizer"],
  source: string,
): Promise<void> {
  if (optimizer.getClassName() !== saved.className) {
    throw new CheckpointError(
      source,
      "optimizer",
      `checkpoint was made with ${saved.className}, resuming with ${optimizer.getClassName()}`,
    );
  }
  await optimizer.setWeights(weights);
  const o = optimizer as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(saved.extra)) {
    const v = o[key];
    if (v instanceof tf.Variable) v.assign(tf.scalar(value, v.dtype));
  }
}
