/**
 * Resuming a training run: loads a checkpoint into the model, optimizer and
 * callbacks after checking that it was made by the same run (data rows,
 * batching, label smoothing, callbacks, architecture, optimizer).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Callback } from "./callbacks.ts";
import {
  CheckpointError,
  type CheckpointState,
  type Fingerprint,
  loadCheckpoint,
  setModelWeights,
  setOptimizerWeights,
} from "./checkpoint.ts";
import { setLearningRate } from "./learning_rate.ts";

/** What a checkpoint is restored into. */
export interface ResumeTarget {
  /** The freshly built model (same architecture as the checkpoint's). */
  model: tf.LayersModel;
  /** The optimizer (same class as the checkpoint's). */
  optimizer: tf.Optimizer;
  /** The callbacks (same names, same order). */
  callbacks: Callback[];
  /** What this run's data and batching look like; must equal the checkpoint's. */
  fingerprint: Fingerprint;
}

/**
 * Loads checkpoint `dir` into the model, optimizer and callbacks of `target`.
 * Returns the JSON state, or null (after a notice) when there is none.
 *
 * @throws CheckpointError when the checkpoint does not fit this run.
 */
export async function restoreTraining(
  dir: string,
  target: ResumeTarget,
  log: (line: string) => void,
): Promise<CheckpointState | null> {
  const { fingerprint, callbacks } = target;
  const ck = await loadCheckpoint(dir);
  if (ck === null) {
    log(`no checkpoint in ${dir}; starting from scratch`);
    return null;
  }
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
        throw new CheckpointError(
          statePath,
          `fingerprint.${key}`,
          `checkpoint was made with ${key} = ${got}, this run has ${want}; ` +
            `resume with the same data split and batching, or start afresh`,
        );
      }
    }
    const names = ck.state.callbacks.map((c) => c.name).join(", ");
    if (names !== callbacks.map((c) => c.name).join(", ")) {
      throw new CheckpointError(
        statePath,
        "callbacks",
        `checkpoint has callbacks [${names}], this run has [${callbacks.map((c) => c.name)}]`,
      );
    }
    setModelWeights(target.model, ck.modelWeights, `${dir}/model`);
    await setOptimizerWeights(target.optimizer, ck.optimizerWeights, ck.state.optimizer, dir);
    setLearningRate(target.optimizer, ck.state.lr);
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
