/** Callback state machines on hand-made metric sequences. */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import {
  type CallbackAction,
  type CallbackState,
  EarlyStopping,
  type EpochLog,
  isImprovement,
  ReduceLROnPlateau,
} from "../lib/train/callbacks.ts";

await tf.setBackend("cpu");

function log(epoch: number, valLoss: number, valAcc = 0.5): EpochLog {
  return { epoch, loss: 1, acc: 0.5, valLoss, valAcc, lr: NaN, seconds: 1, imagesPerSec: 1 };
}

/** The built-in callbacks answer at once (a callback may also answer with a promise). */
type SyncCallback = ReduceLROnPlateau | EarlyStopping;

/** Feeds a valLoss sequence, tracking lr as the loop would; returns each epoch's action. */
function drive(cb: SyncCallback, losses: number[], lr0: number, model = dummy()) {
  let lr = lr0;
  const actions: CallbackAction[] = [];
  const lrs: number[] = [];
  losses.forEach((v, i) => {
    lrs.push(lr);
    const a = cb.onEpochEnd({ ...log(i + 1, v), lr }, { model, lr });
    actions.push(a);
    if (a.lr !== undefined) lr = a.lr;
  });
  return { actions, lrs, lr };
}

function dummy(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [2], units: 1, kernelInitializer: "zeros" }));
  return m;
}

Deno.test("isImprovement follows Keras (strictly better by more than minDelta; NaN never)", () => {
  assert.equal(isImprovement(1, null, "min", 0), true);
  assert.equal(isImprovement(0.9, 1, "min", 0), true);
  assert.equal(isImprovement(1, 1, "min", 0), false);
  assert.equal(isImprovement(0.95, 1, "min", 0.1), false);
  assert.equal(isImprovement(0.85, 1, "min", 0.1), true);
  assert.equal(isImprovement(0.7, 0.6, "max", 0), true);
  assert.equal(isImprovement(NaN, 1, "min", 0), false);
  assert.equal(isImprovement(NaN, null, "min", 0), false);
});

Deno.test("ReduceLROnPlateau halves the rate after `patience` flat epochs", () => {
  const cb = new ReduceLROnPlateau({ patience: 2, factor: 0.5, minDelta: 0 });
  // best 0.9 at epoch 2; epochs 3 and 4 do not improve → reduce at the end of epoch 4.
  const { actions, lrs } = drive(cb, [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.8], 0.01);
  assert.deepEqual(actions.map((a) => a.lr), [undefined, undefined, undefined, 0.005, undefined, 0.0025, undefined]);
  assert.deepEqual(lrs, [0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.0025]);
  assert.match(actions[3].reason!, /valLoss did not improve for 2 epochs/);
});

Deno.test("ReduceLROnPlateau honours minDelta, cooldown and minLr", () => {
  // Improvements smaller than minDelta count as flat.
  const a = drive(new ReduceLROnPlateau({ patience: 2, minDelta: 0.1 }), [1, 0.95, 0.92], 1);
  assert.equal(a.actions[2].lr, 0.5);
  // Cooldown 2 (Keras semantics): the counter is decremented at the start of
  // each epoch, so the epoch after a reduction is ignored and the second one
  // counts again: with patience 1 the reductions come every other epoch.
  const b = drive(
    new ReduceLROnPlateau({ patience: 1, cooldown: 2, minDelta: 0 }),
    [1, 1, 1, 1, 1, 1],
    1,
  );
  assert.deepEqual(b.actions.map((x) => x.lr), [undefined, 0.5, undefined, 0.25, undefined, 0.125]);
  // Without cooldown it reduces every epoch.
  const b0 = drive(new ReduceLROnPlateau({ patience: 1, minDelta: 0 }), [1, 1, 1], 1);
  assert.deepEqual(b0.actions.map((x) => x.lr), [undefined, 0.5, 0.25]);
  // minLr clamps and then stops further reductions.
  const c = drive(new ReduceLROnPlateau({ patience: 1, factor: 0.1, minLr: 0.003 }), [1, 1, 1, 1], 0.1);
  assert.deepEqual(c.actions.map((x) => x.lr), [undefined, 0.010000000000000002, 0.003, undefined]);
  // Monitoring an accuracy maximises it.
  const d = new ReduceLROnPlateau({ monitor: "valAcc", patience: 1 });
  assert.equal(d.mode, "max");
  assert.equal(d.onEpochEnd(log(1, 0, 0.5), { model: dummy(), lr: 1 }).lr, undefined);
  assert.equal(d.onEpochEnd(log(2, 0, 0.7), { model: dummy(), lr: 1 }).lr, undefined);
  assert.equal(d.onEpochEnd(log(3, 0, 0.6), { model: dummy(), lr: 1 }).lr, 0.5);
});

Deno.test("ReduceLROnPlateau state survives a JSON round trip mid-sequence", () => {
  const seq = [1, 0.9, 0.95, 0.97, 0.96, 0.99, 0.98, 0.97];
  const straight = drive(new ReduceLROnPlateau({ patience: 2, cooldown: 1 }), seq, 1);
  const first = new ReduceLROnPlateau({ patience: 2, cooldown: 1 });
  const head = drive(first, seq.slice(0, 4), 1);
  const second = new ReduceLROnPlateau({ patience: 2, cooldown: 1 });
  second.restore(JSON.parse(JSON.stringify(first.state())));
  const tail = drive(second, seq.slice(4), head.lr);
  assert.deepEqual([...head.actions, ...tail.actions].map((a) => a.lr), straight.actions.map((a) => a.lr));
  assert.ok(straight.actions.some((a) => a.lr !== undefined));
});

Deno.test("EarlyStopping stops `patience` epochs after the best one", () => {
  const es = new EarlyStopping({ patience: 2 });
  const { actions } = drive(es, [1.0, 0.8, 0.85, 0.9], 1);
  // best at epoch 2; epochs 3 and 4 flat → stop at the end of epoch 4.
  assert.deepEqual(actions.map((a) => a.stop ?? false), [false, false, false, true]);
  assert.equal(es.bestEpochNumber, 2);
  assert.match(actions[3].reason!, /best 0\.8000 at epoch 2/);
  // minDelta: 0.79 is not better than 0.8 by 0.05.
  const es2 = new EarlyStopping({ patience: 1, minDelta: 0.05 });
  const r = drive(es2, [0.8, 0.79], 1);
  assert.equal(r.actions[1].stop, true);
  // Accuracies are maximised.
  const es3 = new EarlyStopping({ monitor: "valAcc", patience: 1 });
  assert.equal(es3.onEpochEnd(log(1, 9, 0.5), { model: dummy(), lr: 1 }).stop, undefined);
  assert.equal(es3.onEpochEnd(log(2, 9, 0.6), { model: dummy(), lr: 1 }).stop, undefined);
  assert.equal(es3.onEpochEnd(log(3, 9, 0.55), { model: dummy(), lr: 1 }).stop, true);
});

Deno.test("EarlyStopping restores the best epoch's weights at the end and frees old copies", () => {
  const model = dummy();
  /** Runs a sequence where the weights hold the epoch number; returns the stop flags. */
  const run = (es: EarlyStopping, losses: number[]) =>
    losses.map((v, i) => {
      model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, i + 1)));
      return es.onEpochEnd(log(i + 1, v), { model, lr: 1 }).stop ?? false;
    });
  const weightsAre = (v: number) => model.getWeights().every((w) => w.dataSync().every((x) => x === v));

  const es = new EarlyStopping({ patience: 2, restoreBestWeights: true });
  assert.deepEqual(run(es, [1.0, 0.5, 0.7, 0.9]), [false, false, false, true]);
  assert.ok(weightsAre(4), "weights stay until training ends");
  assert.match(String(es.onTrainEnd({ model })), /restored the weights of epoch 2/);
  assert.ok(weightsAre(2));

  // Current Keras: restored even when the run ends without an early stop...
  const full = new EarlyStopping({ patience: 10, restoreBestWeights: true });
  run(full, [1.0, 0.5, 0.7]);
  full.onTrainEnd({ model });
  assert.ok(weightsAre(2));
  // ...unless the legacy behaviour is asked for; and never without restoreBestWeights.
  const legacy = new EarlyStopping({ patience: 10, restoreBestWeights: true, restoreOnlyOnStop: true });
  run(legacy, [1.0, 0.5, 0.7]);
  assert.equal(legacy.onTrainEnd({ model }), undefined);
  assert.ok(weightsAre(3));
  const plain = new EarlyStopping({ patience: 1 });
  run(plain, [1.0, 0.5, 0.7]);
  assert.equal(plain.onTrainEnd({ model }), undefined);
  assert.ok(weightsAre(3));

  // Keeping a new best replaces (and disposes) the previous copy.
  const es2 = new EarlyStopping({ restoreBestWeights: true, patience: 100 });
  es2.onEpochEnd(log(1, 10), { model, lr: 1 });
  const n = tf.memory().numTensors;
  for (let e = 2; e < 10; e++) es2.onEpochEnd(log(e, 10 - e), { model, lr: 1 });
  assert.equal(tf.memory().numTensors, n);
  assert.equal(es2.tensors().length, 2);
  es2.dispose();
  assert.equal(tf.memory().numTensors, n - 2);
  [es, full, legacy].forEach((c) => c.dispose());
});

Deno.test("EarlyStopping says when the best epoch was the last: the epoch cap ended a run still improving", () => {
  const model = dummy();
  const ended = (losses: number[], restored?: CallbackState) => {
    const es = new EarlyStopping({ patience: 5, restoreBestWeights: true });
    if (restored) {
      es.restore(restored);
      es.restoreTensors(model.getWeights().map((w) => w.clone()));
    }
    losses.forEach((v, i) => es.onEpochEnd(log(i + 1, v), { model, lr: 1 }));
    const line = String(es.onTrainEnd({ model }));
    es.dispose();
    return line;
  };
  assert.match(ended([1.0, 0.8, 0.6]), /epoch 3 \(valLoss 0\.6000\), the last one: valLoss was still improving/);
  assert.doesNotMatch(ended([1.0, 0.6, 0.8]), /still improving/);
  // After a resume: the restored state alone (no wait since the best epoch) tells whether the last epoch was the best.
  const old = { best: 0.5, bestEpoch: 4, wait: 0, seen: 4, stoppedEpoch: 0 };
  assert.match(ended([], old), /epoch 4 .*still improving/);
  assert.doesNotMatch(ended([], { ...old, seen: 6, wait: 2 }), /still improving/);
});

Deno.test("EarlyStopping state and tensors round-trip for checkpoints", () => {
  const model = dummy();
  const seq = [1.0, 0.6, 0.7, 0.65, 0.8];
  const a = new EarlyStopping({ patience: 3, restoreBestWeights: true });
  const straight = drive(a, seq, 1, model).actions.map((x) => x.stop ?? false);
  const b = new EarlyStopping({ patience: 3, restoreBestWeights: true });
  drive(b, seq.slice(0, 3), 1, model);
  const c = new EarlyStopping({ patience: 3, restoreBestWeights: true });
  c.restore(JSON.parse(JSON.stringify(b.state())));
  c.restoreTensors(b.tensors().map((t) => t.clone()));
  const tail = seq.slice(3).map((v, i) => c.onEpochEnd(log(i + 4, v), { model, lr: 1 }).stop ?? false);
  assert.deepEqual([false, false, false, ...tail], straight);
  assert.equal(c.bestEpochNumber, 2);
  assert.equal(c.tensors().length, 2);
  b.dispose();
  c.dispose();
  a.dispose();
});
