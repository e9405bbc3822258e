/**
 * Training loop tests on the pure-JS cpu backend with a tiny synthetic task:
 * 12×12 images whose left or right half is bright (class 0 / class 1).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeRng, type Rng } from "../lib/rng.ts";
import { DataError } from "../lib/data/fer2013.ts";
import { batchOrder, oneHot, toImageTensor } from "../lib/data/batches.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { train, type TrainOptions } from "../lib/train/loop.ts";
import { getLearningRate, setLearningRate } from "../lib/train/learning_rate.ts";
import { computeGradients, crossEntropy, outputKind, trainStep } from "../lib/train/step.ts";
import { type Callback, EarlyStopping, ReduceLROnPlateau } from "../lib/train/callbacks.ts";
import { CheckpointError, hasCheckpoint } from "../lib/train/checkpoint.ts";
import { estimateEta, formatEta, formatProgressLine, Progress } from "../lib/train/progress.ts";
import { leftRightImages } from "./helpers/left_right.ts";

await tf.setBackend("cpu");

const SIZE = 12;

const leftRight = (n: number, seed: number) => leftRightImages(n, seed, { size: SIZE });

const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);

/** The real baseline builder, shrunk: 2 blocks of 4 and 8 filters on 12×12. */
function tinyBaseline(seed = 1, dropout = 0) {
  return buildBaseline({
    filters: [4, 8],
    dropout: [dropout, dropout],
    dense: 8,
    denseDropout: dropout,
    inputSize: SIZE,
    numClasses: 2,
    seed,
  });
}

/** A model without BatchNorm or dropout, whose gradient is batch-separable. */
function tinyPlain(seed = 3) {
  return buildBaseline({
    filters: [3],
    dropout: [0],
    dense: 6,
    denseDropout: 0,
    batchNorm: false,
    inputSize: SIZE,
    numClasses: 2,
    seed,
  });
}

const quiet = { progress: false as const, log: () => {} };

function baseOptions(model: tf.LayersModel, rng: Rng): TrainOptions {
  const data = leftRight(120, 7);
  return {
    model,
    optimizer: tf.train.adam(0.01),
    data,
    trainRows: range(0, 96),
    valRows: range(96, 120),
    epochs: 4,
    batchSize: 16,
    rng,
    ...quiet,
  };
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((x, i) => {
    assert.equal(x.length, b[i].length);
    for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j] - b[i][j]));
  });
  return m;
}

function batch(data: { pixels: Uint8Array; labels: Uint8Array }, rows: Int32Array) {
  return {
    x: toImageTensor(data.pixels, rows, 0, rows.length, SIZE),
    y: oneHot(data.labels, rows, 0, rows.length, 2),
  };
}

Deno.test("toImageTensor scales bytes to [0, 1] in row order; oneHot and batchOrder", () => {
  const pixels = new Uint8Array([0, 255, 51, 102, 10, 20, 30, 40]); // 2 images of 2×2
  const x = toImageTensor(pixels, [1, 0], 0, 2, 2);
  assert.deepEqual(x.shape, [2, 2, 2, 1]);
  const v = x.dataSync();
  assert.ok(Math.abs(v[0] - 10 / 255) < 1e-7 && Math.abs(v[5] - 1) < 1e-7);
  const y = oneHot(new Uint8Array([2, 0]), [1, 0], 0, 2, 3);
  assert.deepEqual(Array.from(y.dataSync()), [1, 0, 0, 0, 0, 1]);
  assert.throws(() => oneHot(new Uint8Array([5]), [0], 0, 1, 3), RangeError);
  assert.throws(() => toImageTensor(pixels, [2], 0, 1, 2), RangeError);
  tf.dispose([x, y]);
  const rows = range(0, 50);
  const a = batchOrder(rows, makeRng(1));
  assert.deepEqual(Array.from(a), Array.from(batchOrder(rows, makeRng(1))));
  assert.notDeepEqual(Array.from(a), Array.from(rows));
  assert.deepEqual(Array.from(a).sort((p, q) => p - q), Array.from(rows));
});

Deno.test("training lowers the loss and learns the left/right task", async () => {
  const model = tinyBaseline(1);
  const res = await train({ ...baseOptions(model, makeRng(11)), epochs: 6 });
  const h = res.history;
  assert.equal(h.length, 6);
  assert.ok(h[5].loss < h[0].loss * 0.7, `loss ${h[0].loss} -> ${h[5].loss}`);
  assert.ok(h[5].valAcc >= 0.95, `val acc ${h[5].valAcc}`);
  assert.ok(h.every((e) => e.imagesPerSec > 0 && e.seconds > 0 && e.lr === 0.01));
  assert.equal(res.stoppedEarly, false);
  assert.equal(res.cutShort, false);
  // (No wall-clock assertion: speed targets live in the benchmark, and the CPU here is shared.)
});

Deno.test("no tensor growth between step 2 and step 20 (plain and micro-batched)", async () => {
  for (const microBatch of [undefined, 5]) {
    const model = tinyBaseline(2, 0.2);
    const opt = tf.train.adam(0.01);
    const data = leftRight(16, 3);
    const { x, y } = batch(data, range(0, 16));
    const rng = makeRng(5);
    let after2 = -1;
    for (let step = 1; step <= 20; step++) {
      await trainStep(model, opt, x, y, { microBatch, dropoutRng: rng });
      if (step === 2) after2 = tf.memory().numTensors;
    }
    assert.equal(tf.memory().numTensors, after2, `microBatch ${microBatch}`);
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  }
});

Deno.test("a whole train() call leaves no tensors behind", async () => {
  const model = tinyBaseline(2);
  const opts = { ...baseOptions(model, makeRng(1)), epochs: 1 };
  await train(opts); // creates the optimizer slots once
  const before = tf.memory().numTensors;
  await train({ ...opts, callbacks: [new ReduceLROnPlateau({ patience: 1 })] });
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("BatchNorm moving statistics update in the custom loop", async () => {
  const model = tinyBaseline(4);
  const conv = model.getLayer("block1_conv");
  const bn = model.getLayer("block1_bn");
  const data = leftRight(8, 9);
  const { x, y } = batch(data, range(0, 8));
  // BN starts at mean 0, momentum 0.99, so one step must give 0.01·batch mean.
  const expected = tf.tidy(() => tf.mean(conv.apply(x) as tf.Tensor, [0, 1, 2]).mul(0.01).dataSync());
  const [, , mean0, var0] = bn.getWeights().map((w) => w.dataSync().slice());
  assert.ok(mean0.every((v) => v === 0) && var0.every((v) => v === 1));
  await trainStep(model, tf.train.adam(0.01), x, y);
  const [, , mean1, var1] = bn.getWeights().map((w) => w.dataSync());
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(mean1[i] - expected[i]) < 1e-6, `channel ${i}: ${mean1[i]} vs ${expected[i]}`);
    assert.notEqual(var1[i], 1);
  }
  tf.dispose([x, y]);
});

Deno.test("label smoothing loss matches a hand computation; logits agree with probabilities", () => {
  const p = [0.7, 0.2, 0.1];
  const s = 0.1;
  const t = [1 - s + s / 3, s / 3, s / 3];
  const hand = -(t[0] * Math.log(p[0]) + t[1] * Math.log(p[1]) + t[2] * Math.log(p[2]));
  const plain = -Math.log(p[0]);
  tf.tidy(() => {
    const y = tf.tensor2d([[1, 0, 0]]);
    const probs = tf.tensor2d([p]);
    const got = crossEntropy(y, probs, "probabilities", s).dataSync()[0];
    assert.ok(Math.abs(got - hand) < 1e-6, `${got} vs ${hand}`);
    assert.ok(Math.abs(crossEntropy(y, probs, "probabilities").dataSync()[0] - plain) < 1e-6);
    const logits = tf.tensor2d([[2, -1, 0.5], [0, 3, 1]]);
    const y2 = tf.tensor2d([[0, 0, 1], [0, 1, 0]]);
    const a = crossEntropy(y2, logits, "logits", s).dataSync()[0];
    const b = crossEntropy(y2, tf.softmax(logits), "probabilities", s).dataSync()[0];
    assert.ok(Math.abs(a - b) < 1e-5, `${a} vs ${b}`);
  });
  assert.equal(outputKind(tinyPlain()), "probabilities");
});

Deno.test("micro-batching gives the full-batch gradient", () => {
  const model = tinyPlain();
  const data = leftRight(8, 21);
  const { x, y } = batch(data, range(0, 8));
  const full = computeGradients(model, x, y, { labelSmoothing: 0.1 });
  const micro = computeGradients(model, x, y, { labelSmoothing: 0.1, microBatch: 3 });
  assert.equal(full.grads.length, micro.grads.length);
  let maxDiff = 0;
  let maxAbs = 0;
  full.grads.forEach((g, i) => {
    assert.equal(g.name, micro.grads[i].name);
    const a = g.tensor.dataSync();
    const b = micro.grads[i].tensor.dataSync();
    for (let j = 0; j < a.length; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[j] - b[j]));
      maxAbs = Math.max(maxAbs, Math.abs(a[j]));
    }
  });
  assert.ok(maxAbs > 1e-3, "gradient should not be trivially zero");
  assert.ok(maxDiff < 1e-5, `max gradient difference ${maxDiff}`);
  assert.ok(Math.abs(full.loss.dataSync()[0] - micro.loss.dataSync()[0]) < 1e-6);
  assert.equal(full.correct.dataSync()[0], micro.correct.dataSync()[0]);
  tf.dispose([x, y, full.loss, full.correct, micro.loss, micro.correct]);
  tf.dispose([...full.grads, ...micro.grads].map((g) => g.tensor));
});

Deno.test("a learning-rate change by a callback takes effect", async () => {
  // After epoch 1 the callback sets lr = 0: epoch 2 must leave trainable weights untouched.
  const freeze: Callback = {
    name: "Freeze",
    onEpochEnd: (log) => (log.epoch === 1 ? { lr: 0 } : {}),
    state: () => ({}),
    restore: () => {},
  };
  const model = tinyBaseline(5);
  let afterEpoch1: Float32Array[] = [];
  const snap: Callback = {
    name: "Snap",
    onEpochEnd: (log, ctx) => {
      if (log.epoch === 1) {
        afterEpoch1 = ctx.model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
      }
      return {};
    },
    state: () => ({}),
    restore: () => {},
  };
  const opt = tf.train.adam(0.01);
  const res = await train({ ...baseOptions(model, makeRng(2)), optimizer: opt, epochs: 2, callbacks: [snap, freeze] });
  assert.deepEqual(res.history.map((e) => e.lr), [0.01, 0]);
  const after2 = model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
  assert.equal(maxAbsDiff(afterEpoch1, after2), 0);
  // SGD caches its rate in a tensor: the helper must refresh it too.
  const sgd = tf.train.sgd(0.1);
  setLearningRate(sgd, 0.025);
  assert.equal(getLearningRate(sgd), 0.025);
});

Deno.test("a callback can re-plan the epochs: more, or fewer, and the checkpoint keeps the new total", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const replan = (after: number, epochs: number): Callback => ({
      name: "Replan",
      // an async answer, as a callback that writes its plan to disk gives
      onEpochEnd: (log) => Promise.resolve(log.epoch === after ? { epochs, reason: `now ${epochs}` } : {}),
      state: () => ({}),
      restore: () => {},
    });
    const lines: string[] = [];
    const longer = await train({
      ...baseOptions(tinyBaseline(4), makeRng(1)),
      epochs: 2,
      callbacks: [replan(1, 4)],
      checkpoint: { dir },
      log: (l) => lines.push(l),
    });
    assert.deepEqual(longer.history.map((e) => e.epoch), [1, 2, 3, 4]);
    assert.equal(longer.stoppedEarly, false);
    assert.ok(lines.includes("now 4"));
    assert.ok(lines.some((l) => l.startsWith("epoch 4/4")), lines.join("\n"));
    assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "state.json"))).epochs, 4);
    const shorter = await train({ ...baseOptions(tinyBaseline(4), makeRng(1)), epochs: 4, callbacks: [replan(2, 2)] });
    assert.deepEqual(shorter.history.map((e) => e.epoch), [1, 2]);
    assert.equal(shorter.stoppedEarly, false, "a shorter plan is a complete run, not an early stop");
    // never below the epochs already run
    const below = await train({ ...baseOptions(tinyBaseline(4), makeRng(1)), epochs: 3, callbacks: [replan(2, 1)] });
    assert.deepEqual(below.history.map((e) => e.epoch), [1, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resume after 2 epochs equals 4 uninterrupted epochs (with BN, dropout, callbacks)", async () => {
  const dirA = await Deno.makeTempDir();
  const dirB = await Deno.makeTempDir();
  try {
    const cbs = () => [
      new ReduceLROnPlateau({ patience: 1, factor: 0.5, minDelta: 0.5 }),
      new EarlyStopping({ patience: 10, restoreBestWeights: true }),
    ];
    const run = (epochs: number, dir: string, resume: boolean) => {
      const model = tinyBaseline(8, 0.25);
      return train({
        ...baseOptions(model, makeRng(99)),
        epochs,
        callbacks: cbs(),
        checkpoint: { dir },
        resume,
        labelSmoothing: 0.05,
        microBatch: 6,
        augment: (x, rng) => (rng.next() < 0.5 ? tf.reverse(x, 2) : x),
      }).then((res) => ({ res, model }));
    };
    const straight = await run(4, dirA, false);
    const first = await run(2, dirB, false);
    assert.equal(first.res.history.length, 2);
    assert.ok(await hasCheckpoint(dirB));
    const resumed = await run(4, dirB, true);
    assert.equal(resumed.res.resumedFrom, 2);
    assert.equal(resumed.res.history.length, 4);
    const diff = maxAbsDiff(weightsOf(straight.model), weightsOf(resumed.model));
    assert.ok(diff <= 1e-6, `weights differ by ${diff}`);
    const strip = (h: typeof straight.res.history) =>
      h.map(({ loss, acc, valLoss, valAcc, lr }) => [loss, acc, valLoss, valAcc, lr]);
    assert.deepEqual(strip(resumed.res.history), strip(straight.res.history));
    // The plateau callback really acted, so its state had to survive the resume.
    assert.ok(straight.res.history.some((e) => e.lr < 0.01));
    // A different seed changes the run: the comparison above is not vacuous.
    const other = tinyBaseline(8, 0.25);
    await train({ ...baseOptions(other, makeRng(100)), epochs: 1 });
    assert.ok(maxAbsDiff(weightsOf(other), weightsOf(straight.model)) > 1e-3);
  } finally {
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  }
});

Deno.test("maxSeconds cuts a run short; resume finishes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = tinyBaseline(6);
    const opts = { ...baseOptions(model, makeRng(3)), epochs: 3, checkpoint: { dir } };
    const cut = await train({ ...opts, maxSeconds: 0 });
    assert.equal(cut.cutShort, true);
    assert.equal(cut.stoppedEarly, false);
    assert.equal(cut.history.length, 1);
    assert.match(cut.reason!, /time budget/);
    const rest = await train({ ...opts, model: tinyBaseline(6), optimizer: tf.train.adam(0.01), resume: true });
    assert.equal(rest.resumedFrom, 1);
    assert.equal(rest.cutShort, false);
    assert.deepEqual(rest.history.map((e) => e.epoch), [1, 2, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("early stopping ends training with the best weights; resuming a finished run does nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // minDelta 10 makes every epoch after the first a non-improvement, so
    // epoch 1 is the best one and training stops after epoch 3.
    const es = () => new EarlyStopping({ patience: 2, minDelta: 10, restoreBestWeights: true });
    let epoch1: Float32Array[] = [];
    const snap: Callback = {
      name: "Snap",
      onEpochEnd: (log, ctx) => {
        if (log.epoch === 1) epoch1 = weightsOf(ctx.model);
        return {};
      },
      state: () => ({}),
      restore: () => {},
    };
    const model = tinyBaseline(7);
    const opts = { ...baseOptions(model, makeRng(4)), epochs: 8, checkpoint: { dir } };
    const res = await train({ ...opts, callbacks: [snap, es()] });
    assert.equal(res.stoppedEarly, true);
    assert.equal(res.history.length, 3);
    assert.match(res.reason!, /EarlyStopping/);
    assert.deepEqual(res.endNotes?.length, 1, "the report learns which weights came back");
    assert.match(res.endNotes![0], /restored the weights of epoch 1 /);
    assert.equal(maxAbsDiff(weightsOf(model), epoch1), 0);
    const again = tinyBaseline(7);
    const second = await train({ ...opts, model: again, callbacks: [snap, es()], resume: true });
    assert.equal(second.stoppedEarly, true);
    assert.equal(second.history.length, 3);
    assert.match(second.endNotes?.[0] ?? "", /restored the weights of epoch 1 /);
    assert.equal(maxAbsDiff(weightsOf(again), epoch1), 0);
    // Resuming with a different batch size is refused with a clear error.
    await assert.rejects(
      train({ ...opts, model: tinyBaseline(7), callbacks: [snap, es()], resume: true, batchSize: 8 }),
      (e) => e instanceof CheckpointError && /batchSize/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad options fail clearly", async () => {
  const opts = baseOptions(tinyBaseline(1), makeRng(1));
  await assert.rejects(train({ ...opts, microBatch: 32 }), RangeError);
  await assert.rejects(
    train({ ...opts, valRows: new Int32Array(0), callbacks: [new EarlyStopping()] }),
    /no validation rows/,
  );
  await assert.rejects(train({ ...opts, imageSize: 10 }), DataError);
});

Deno.test("formatEta and progress lines", () => {
  assert.equal(formatEta(0), "0s");
  assert.equal(formatEta(42.4), "42s");
  assert.equal(formatEta(185), "3m05s");
  assert.equal(formatEta(3720), "1h02m");
  assert.equal(formatEta(NaN), "?");
  assert.equal(formatEta(-1), "?");
  const state = { epoch: 2, epochs: 5, done: 100, total: 400, epochSeconds: 10 };
  // 10 img/s: 30 s left in this epoch, then 3 more epochs of 40 s.
  assert.deepEqual(estimateEta(state), { epoch: 30, overall: 150 });
  // Finished epochs (with validation) are a better guide for later ones.
  assert.deepEqual(estimateEta({ ...state, meanEpochSeconds: 50 }), { epoch: 30, overall: 180 });
  const line = formatProgressLine({ ...state, loss: 0.5, acc: 0.75 });
  assert.match(line, /epoch 2\/5/);
  assert.match(line, /100\/400 \(25%\)/);
  assert.match(line, /10\.0 img\/s/);
  assert.match(line, /ETA epoch 30s, total 2m30s/);

  let t = 0;
  const out: string[] = [];
  const log = new Progress({ write: (s) => out.push(s), tty: false, intervalSeconds: 30, now: () => t });
  log.update(state);
  t = 10_000;
  log.update(state); // too soon: throttled
  t = 31_000;
  log.update(state);
  assert.equal(out.length, 2);
  assert.ok(out.every((s) => s.endsWith("\n")));
  const tty: string[] = [];
  const live = new Progress({ write: (s) => tty.push(s), tty: true, now: () => t });
  live.update(state);
  live.clear();
  assert.ok(tty[0].startsWith("\r") && !tty[0].endsWith("\n"));
  assert.equal(tty[1], "\r\x1b[K");
});
