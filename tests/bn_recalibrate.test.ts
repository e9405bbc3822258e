import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { recalibrateBatchNorm, sampleRows } from "../lib/train/bn_recalibrate.ts";
import { batchNormalization } from "../lib/models/batch_norm.ts";
import { makeRng } from "../lib/rng.ts";

await tf.setBackend("cpu");

function model(): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [8, 8, 1],
      filters: 3,
      kernelSize: 3,
      padding: "same",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  m.add(batchNormalization({ name: "bn1" }));
  m.add(tf.layers.dropout({ rate: 0.5 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  return m;
}

Deno.test("sampleRows takes evenly spaced rows, or all when there are fewer", () => {
  assert.deepEqual(Array.from(sampleRows(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 4)), [0, 2, 4, 6]);
  assert.deepEqual(Array.from(sampleRows(Int32Array.from([5, 6]), 4)), [5, 6]);
});

Deno.test("recalibration sets moving statistics to the average batch statistics, and restores momentum and dropout", async () => {
  const rng = makeRng("bn");
  const n = 12;
  const pixels = Uint8Array.from({ length: n * 64 }, () => rng.int(256));
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const m = model();
  const bn = m.getLayer("bn1") as unknown as { momentum: number; getWeights(): tf.Tensor[] };
  const drop = m.layers[2] as unknown as { rate: number };
  // what the BN layer sees: conv outputs of each half, as two batches of 6
  const conv = tf.model({ inputs: m.inputs, outputs: m.layers[0].output as tf.SymbolicTensor });
  const x = tf.tensor4d(Float32Array.from(pixels, (p) => p / 255), [n, 8, 8, 1]);
  const halves = [x.slice(0, 6), x.slice(6, 6)].map((h) => tf.moments(conv.predict(h) as tf.Tensor, [0, 1, 2]));
  const wantMean = await tf.div(tf.add(halves[0].mean, halves[1].mean), 2).data();
  const wantVar = await tf.div(tf.add(halves[0].variance, halves[1].variance), 2).data();

  const before = await bn.getWeights()[3].data(); // moving variance starts at 1
  assert.ok(Math.abs(before[0] - 1) < 1e-6);
  const updated = recalibrateBatchNorm(m, { pixels }, rows, { batchSize: 6, imageSize: 8 });
  assert.equal(updated, 1);
  const [, , movingMean, movingVar] = bn.getWeights();
  const gotMean = await movingMean.data(), gotVar = await movingVar.data();
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(gotMean[c] - wantMean[c]) < 1e-5, `mean ${c}: ${gotMean[c]} vs ${wantMean[c]}`);
    assert.ok(Math.abs(gotVar[c] - wantVar[c]) < 1e-5, `variance ${c}: ${gotVar[c]} vs ${wantVar[c]}`);
  }
  assert.equal(bn.momentum, 0.99);
  assert.equal(drop.rate, 0.5);
});
