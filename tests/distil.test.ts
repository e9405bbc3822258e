/**
 * Distillation: soft targets in the training loop, and the teachers' targets
 * (official-protocol teachers only, tempered, cached). Runs on the cpu backend
 * with the left/right toy task.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadTeachers, TeacherError, teacherTargets, temper } from "../lib/distil/teachers.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { saveModel } from "../lib/models/io.ts";
import { makeRng } from "../lib/rng.ts";
import { CheckpointError } from "../lib/train/checkpoint.ts";
import { train, type TrainOptions } from "../lib/train/loop.ts";
import { checkSoftTargets, mixTargets, type SoftTargets } from "../lib/train/soft_targets.ts";
import { leftRightImages } from "./helpers/left_right.ts";

await tf.setBackend("cpu");

const SIZE = 12;
const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
const data = leftRightImages(120, 7, { size: SIZE });

const tiny = (seed = 1) =>
  buildBaseline({ filters: [4], dropout: [0], dense: 8, denseDropout: 0, inputSize: SIZE, numClasses: 2, seed });

/** A teacher that is sure of the opposite of every label. */
function contrarian(weight: number): SoftTargets {
  const probs = new Float32Array(data.labels.length * 2);
  data.labels.forEach((y, r) => (probs[r * 2 + (1 - y)] = 1));
  return { probs, weight, id: "contrarian" };
}

function options(model: tf.LayersModel, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model,
    optimizer: tf.train.adam(0.02),
    data,
    trainRows: range(0, 96),
    valRows: range(96, 120),
    epochs: 6,
    batchSize: 16,
    rng: makeRng("distil-test"),
    progress: false,
    log: () => {},
    ...extra,
  };
}

const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

Deno.test("mixTargets gives weight·teacher + (1−weight)·one-hot for the batch's rows", () => {
  const soft: SoftTargets = { probs: Float32Array.from([0.2, 0.8, 0.6, 0.4, 0.5, 0.5]), weight: 0.75, id: "t" };
  const truth = tf.tensor2d([[1, 0], [0, 1]]);
  const y = mixTargets(truth, soft, Int32Array.from([2, 1, 0]), 1, 3);
  const got = Array.from(y.dataSync());
  [0.75 * 0.6 + 0.25, 0.75 * 0.4, 0.75 * 0.2, 0.75 * 0.8 + 0.25].forEach((v, i) =>
    assert.ok(Math.abs(got[i] - v) < 1e-6)
  );
  tf.dispose([truth, y]);
});

Deno.test("checkSoftTargets refuses targets that do not sum to one or miss a training row", () => {
  const probs = Float32Array.from([0.5, 0.5, 0.9, 0.3]);
  assert.throws(() => checkSoftTargets({ probs, weight: 0.5, id: "x" }, [1], 2), /row 1 sums to 1.2/);
  assert.throws(() => checkSoftTargets({ probs, weight: 0.5, id: "x" }, [2], 2), /row 2 has no soft target/);
  assert.throws(() => checkSoftTargets({ probs, weight: 1.5, id: "x" }, [0], 2), /weight must be in \[0, 1\]/);
  checkSoftTargets({ probs, weight: 0.5, id: "x" }, [0], 2);
});

Deno.test("a student trained on a teacher's targets alone learns the teacher, not the labels", async () => {
  const model = tiny();
  await train(options(model, { softTargets: contrarian(1) }));
  const x = tf.tensor4d(Float32Array.from(data.pixels.subarray(96 * SIZE * SIZE), (v) => v / 255), [24, SIZE, SIZE, 1]);
  const pred = (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
  const agreeWithLabels = Array.from(pred).filter((p, i) => p === data.labels[96 + i]).length;
  assert.ok(
    agreeWithLabels <= 4,
    `the student should follow its contrarian teacher, but ${agreeWithLabels}/24 follow the labels`,
  );
  x.dispose();
});

Deno.test("soft targets of weight 0 train exactly as plain labels", async () => {
  const a = tiny(5);
  const b = tiny(5);
  await train(options(a, { epochs: 2 }));
  await train(options(b, { epochs: 2, softTargets: contrarian(0) }));
  assert.deepEqual(weights(a), weights(b));
});

Deno.test("a checkpoint made with one teacher refuses to resume with another", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await train(options(tiny(), { epochs: 1, checkpoint: { dir }, softTargets: contrarian(0.5) }));
    const other = { ...contrarian(0.5), id: "another" };
    await assert.rejects(
      () => train(options(tiny(), { epochs: 2, checkpoint: { dir }, resume: true, softTargets: other })),
      (e) => e instanceof CheckpointError && /softTargets/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("temper softens above 1, sharpens below, and keeps rows summing to one", () => {
  const p = Float32Array.from([0.8, 0.2]);
  const soft = p.slice();
  temper(soft, 2, 2);
  assert.ok(soft[0] < 0.8 && Math.abs(soft[0] + soft[1] - 1) < 1e-6);
  assert.ok(Math.abs(soft[0] - Math.sqrt(0.8) / (Math.sqrt(0.8) + Math.sqrt(0.2))) < 1e-6);
  const sharp = p.slice();
  temper(sharp, 2, 0.5);
  assert.ok(sharp[0] > 0.8 && Math.abs(sharp[0] + sharp[1] - 1) < 1e-6);
});

/** A results folder with one run's JSON (`protocol`) and a saved model. */
async function resultsDir(protocol: string, cutShort = false): Promise<string> {
  const dir = await Deno.makeTempDir();
  const model = tiny(9);
  await saveModel(model, join(dir, "models", "05_teacher"));
  await Deno.writeTextFile(
    join(dir, "05_teacher.json"),
    JSON.stringify({
      name: "05_teacher",
      title: "a teacher",
      testAccuracy: 0.9,
      config: { protocol, seed: 42 },
      split: { protocol, cacheKey: `fp-${protocol}-s42`, test: 24 },
      data: { kind: "synthetic", fingerprint: "fp" },
      model: { dir: "models/05_teacher" },
      training: { epochs: 1, history: [], cutShort, stoppedEarly: false },
    }),
  );
  return dir;
}

Deno.test("only an official-protocol, finished teacher with a model may teach", async () => {
  const study = await resultsDir("study");
  const short = await resultsDir("official", true);
  try {
    await assert.rejects(
      () => loadTeachers(study, ["05_teacher"]),
      (e) => e instanceof TeacherError && /study protocol/.test(e.message),
    );
    await assert.rejects(
      () => loadTeachers(short, ["05_teacher"]),
      (e) => e instanceof TeacherError && /cut short/.test(e.message),
    );
    await assert.rejects(
      () => loadTeachers(study, ["07_nobody"]),
      (e) => e instanceof TeacherError && /does not exist/.test(e.message),
    );
  } finally {
    await Deno.remove(study, { recursive: true });
    await Deno.remove(short, { recursive: true });
  }
});

Deno.test("teacher targets are the teachers' probabilities on the training rows, cached and read back", async () => {
  const dir = await resultsDir("official");
  const cacheDir = join(dir, "cache");
  try {
    const teachers = await loadTeachers(dir, ["05_teacher"]);
    const rows = range(10, 40);
    const opts = { tta: "none" as const, temperature: 1, dataFingerprint: "fp", imageSize: SIZE, cacheDir };
    const first = await teacherTargets(teachers, data, rows, opts);
    assert.equal(first.cached, false);
    assert.equal(first.probs.length, data.labels.length * 2);
    const x = tf.tensor4d(Float32Array.from(data.pixels.subarray(10 * SIZE * SIZE, 11 * SIZE * SIZE), (v) => v / 255), [
      1,
      SIZE,
      SIZE,
      1,
    ]);
    const direct = (teachers[0].model.predict(x) as tf.Tensor).dataSync();
    assert.ok(Math.abs(first.probs[20] - direct[0]) < 1e-5 && Math.abs(first.probs[21] - direct[1]) < 1e-5);
    assert.deepEqual(Array.from(first.probs.subarray(0, 2)), [0.5, 0.5]); // row 0 is not a training row
    const again = await teacherTargets(teachers, data, rows, opts);
    assert.equal(again.cached, true);
    assert.equal(again.id, first.id);
    assert.deepEqual(again.probs, first.probs);
    const warmer = await teacherTargets(teachers, data, rows, { ...opts, temperature: 2 });
    assert.notEqual(warmer.id, first.id);
    x.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
