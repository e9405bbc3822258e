/**
 * A checkpoint save the disk refuses: the previous checkpoint stays intact
 * and loadable, no temp folder is left, and the error is one line that says
 * which checkpoint failed, why, and which one survives. The fault is
 * injected where the checkpoint's model files are written.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { WriteError } from "../lib/atomic_write.ts";
import { UserError } from "../lib/errors.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { type CheckpointInput, CheckpointWriteError, loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint.ts";

await tf.setBackend("cpu");

function input(model: tf.LayersModel, optimizer: tf.Optimizer, epoch: number): CheckpointInput {
  return {
    model,
    optimizer,
    callbacks: [],
    state: {
      epoch,
      epochs: 3,
      rngState: {},
      lr: 1e-3,
      history: [],
      finished: null,
      cutShort: false,
      fingerprint: { trainRows: "1:0", valRows: "1:0", batchSize: 4, microBatch: 4, labelSmoothing: 0 },
    },
  };
}

/** Makes `model.save` write part of the model into the checkpoint's temp folder, then meet a full disk. */
function failSavesWithFullDisk(model: tf.LayersModel, dir: string): void {
  model.save = async () => {
    const partial = join(`${dir}.tmp`, "model");
    await Deno.mkdir(partial, { recursive: true });
    await Deno.writeFile(join(partial, "weights.bin"), new Uint8Array(1 << 16));
    throw Object.assign(
      new Error(`No space left on device (os error 28): writefile '${join(partial, "model.json")}'`),
      { code: "ENOSPC" },
    );
  };
}

Deno.test("a checkpoint save on a full disk keeps the last good checkpoint and says so in one line", async () => {
  const root = await Deno.makeTempDir({ prefix: "ferlab-ck-full-" });
  const model = buildBaseline({ filters: [2], dropout: [0], dense: 4, denseDropout: 0, inputSize: 8, numClasses: 2 });
  const optimizer = tf.train.adam(1e-3);
  try {
    const dir = join(root, "checkpoints", "01_baseline");
    await saveCheckpoint(dir, input(model, optimizer, 1));
    failSavesWithFullDisk(model, dir);
    const e = await saveCheckpoint(dir, input(model, optimizer, 2)).catch((e) => e);
    assert.ok(e instanceof CheckpointWriteError && e instanceof WriteError && e instanceof UserError, String(e));
    assert.equal(
      e.message,
      `cannot write the epoch-2 checkpoint ${dir} (writing model/model.json): No space left on device (os error 28); ` +
        "the epoch-1 checkpoint there is intact",
    );
    assert.equal(e.resumable, true);
    assert.equal(e.diskFull, true);
    assert.deepEqual([...Deno.readDirSync(join(root, "checkpoints"))].map((d) => d.name), ["01_baseline"]);
    const kept = await loadCheckpoint(dir);
    assert.equal(kept?.state.epoch, 1);
    tf.dispose(kept!.modelWeights.map((w) => w.tensor));
    tf.dispose(kept!.optimizerWeights.map((w) => w.tensor));
  } finally {
    model.dispose();
    optimizer.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a first checkpoint save on a full disk says there is no earlier checkpoint", async () => {
  const root = await Deno.makeTempDir({ prefix: "ferlab-ck-first-" });
  const model = buildBaseline({ filters: [2], dropout: [0], dense: 4, denseDropout: 0, inputSize: 8, numClasses: 2 });
  const optimizer = tf.train.adam(1e-3);
  try {
    const dir = join(root, "ck");
    failSavesWithFullDisk(model, dir);
    const e = await saveCheckpoint(dir, input(model, optimizer, 1)).catch((e) => e);
    assert.ok(e instanceof CheckpointWriteError, String(e));
    assert.match(e.message, /^cannot write the epoch-1 checkpoint .*; there is no earlier checkpoint$/);
    assert.deepEqual([...Deno.readDirSync(root)], []);
  } finally {
    model.dispose();
    optimizer.dispose();
    await Deno.remove(root, { recursive: true });
  }
});
