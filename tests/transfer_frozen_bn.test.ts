import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { makeRng } from "../lib/rng.ts";
import { train } from "../lib/train/loop.ts";
import { loadBackbone } from "../lib/transfer/backbone.ts";
import { countBatchNorm, freezeBatchNorm } from "../lib/models/frozen_bn.ts";
import { buildTransferModel } from "../lib/transfer/model.ts";
import { tinyBlockOf, writeTinyLayersModel } from "./helpers/transfer_fixtures.ts";

await tf.setBackend("cpu");

const dir = await Deno.makeTempDir({ prefix: "ferlab-layers-" });
await writeTinyLayersModel(dir);

/** 48×48 grey faces whose label is visible in the pixels (so training has something to learn). */
function data(n: number) {
  const pixels = new Uint8Array(n * 48 * 48);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 7;
    for (let j = 0; j < 48 * 48; j++) pixels[i * 2304 + j] = (labels[i] * 30 + ((j * 7 + i) % 40)) & 255;
  }
  return { pixels, labels };
}

const stats = (m: tf.LayersModel) =>
  m.weights.filter((w) => /moving_(mean|variance)/.test(w.originalName)).map((w) => Array.from(w.read().dataSync()));
const gammas = (m: tf.LayersModel) =>
  m.weights.filter((w) => /gamma/.test(w.originalName)).map((w) => Array.from(w.read().dataSync()));

async function fineTune(freeze: boolean) {
  const bb = await loadBackbone(dir, { featureLayer: "out_relu", blockOf: tinyBlockOf, depth: 2 });
  const t = await buildTransferModel(bb, {
    size: 16,
    fineTuneBlocks: 3,
    freezeBatchNorm: freeze,
    dropout: 0,
    numClasses: 7,
    seed: 3,
  });
  const before = { stats: stats(t.model), gammas: gammas(t.model) };
  const d = data(42);
  await train({
    model: t.model,
    optimizer: tf.train.adam(0.01),
    data: d,
    trainRows: Int32Array.from({ length: 42 }, (_, i) => i),
    valRows: new Int32Array(0),
    epochs: 2,
    batchSize: 14,
    rng: makeRng(1),
    progress: false,
    log: () => {},
  });
  return { t, before, after: { stats: stats(t.model), gammas: gammas(t.model) } };
}

Deno.test("freezeBatchNorm swaps every BatchNormalization and keeps weights and outputs", async () => {
  const base = await writeTinyLayersModel(await Deno.makeTempDir());
  const frozen = await freezeBatchNorm(base);
  assert.deepEqual(countBatchNorm(base), { frozen: 0, live: 2 });
  assert.deepEqual(countBatchNorm(frozen), { frozen: 2, live: 0 });
  const x = tf.randomUniform([3, 16, 16, 3], 0, 1, "float32", 5);
  const d = tf.tidy(() =>
    tf.max(tf.abs(tf.sub(base.predict(x) as tf.Tensor, frozen.predict(x) as tf.Tensor))).dataSync()[0]
  );
  assert.ok(d < 1e-6, `outputs differ by ${d}`);
});

Deno.test("with batch norm frozen, fine-tuning leaves the moving statistics unchanged but trains gamma", async () => {
  const { t, before, after } = await fineTune(true);
  assert.deepEqual(countBatchNorm(t.model), { frozen: 2, live: 0 });
  assert.equal(before.stats.length, 4);
  assert.deepEqual(after.stats, before.stats);
  assert.notDeepEqual(after.gammas, before.gammas);
});

Deno.test("without freezing, TF.js batch norm moves its statistics during the same fine-tuning", async () => {
  const { before, after } = await fineTune(false);
  assert.notDeepEqual(after.stats, before.stats);
});

Deno.test("fine-tuning blocks selects the trainable layers; the cut-off classifier is gone", async () => {
  const bb = await loadBackbone(dir, { featureLayer: "out_relu", blockOf: tinyBlockOf, depth: 2 });
  const opts = { size: 16, freezeBatchNorm: true, dropout: 0, numClasses: 7, seed: 3 };
  const head = await buildTransferModel(bb, { ...opts, fineTuneBlocks: 0 });
  const top = await buildTransferModel(bb, { ...opts, fineTuneBlocks: 1 });
  assert.equal(head.trainableBackboneParams, 0);
  // block 2: conv 3×3×4×4 + gamma/beta 4+4
  assert.equal(top.trainableBackboneParams, 3 * 3 * 4 * 4 + 8);
  assert.equal(head.featureDim, 4);
  assert.ok(!head.model.weights.some((w) => w.originalName.startsWith("classifier")));
});
