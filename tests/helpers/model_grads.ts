/**
 * A small model touching every layer type the study's CNNs use, and its
 * gradients after one step on a backend, for comparing kernel sets.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { makeRng } from "../../lib/rng.ts";

function randArray(n: number, rng: ReturnType<typeof makeRng>): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Close within `tol`, relative to 1 + |reference|. */
export function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (e > worst) [worst, at] = [e, i];
  }
  assert.ok(worst <= tol, `${what}: max rel error ${worst} at ${at} (${a[at]} vs reference ${b[at]})`);
}

export type BnFactory = () => tf.layers.Layer;
export const stockBatchNorm: BnFactory = () => tf.layers.batchNormalization();

/** A small model touching every layer type the study's CNNs use. */
export function smallModel(seed: number, bn: BnFactory = stockBatchNorm): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [12, 12, 1],
      filters: 6,
      kernelSize: 3,
      padding: "same",
      kernelInitializer: init(1),
    }),
  );
  m.add(bn());
  m.add(tf.layers.leakyReLU({ alpha: 0.1 }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: "same", kernelInitializer: init(2) }));
  m.add(bn());
  m.add(tf.layers.activation({ activation: "relu" }));
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: 5, kernelInitializer: init(3) }));
  return m;
}

/** Gradients of every variable and the BN moving statistics after one step, per (backend, BN layer) setup. */
export async function modelGradients(
  setups: [string, BnFactory][],
): Promise<{ grads: Float32Array[]; moving: Float32Array[] }[]> {
  const rng = makeRng("model");
  const x = { shape: [4, 12, 12, 1], data: randArray(4 * 144, rng).map((v) => 3 + 2 * v) }; // offset: |mean| > std
  const labels = [0, 3, 1, 4];
  const out = [];
  for (const [backend, bn] of setups) {
    await tf.setBackend(backend);
    const model = smallModel(7, bn);
    const xt = tf.tensor(x.data, x.shape);
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), 5);
    const { grads: g } = tf.variableGrads(() =>
      tf.losses.softmaxCrossEntropy(y, model.apply(xt, { training: true }) as tf.Tensor, undefined, 0.1) as tf.Scalar
    );
    // by weight order, not name: two builds of a model get different variable names
    const grads = await Promise.all(
      model.trainableWeights.map(async (w) =>
        (await g[w.originalName]?.data() ?? await g[w.name].data()) as Float32Array
      ),
    );
    const moving = await Promise.all(
      model.weights.filter((w) => /moving/.test(w.name)).map(async (w) => (await w.read().data()) as Float32Array),
    );
    out.push({ grads, moving });
    tf.dispose([xt, y, ...Object.values(g)]);
    model.layers.forEach((l) => l.dispose());
  }
  await tf.setBackend("wasm");
  return out;
}

export function assertSameGradients(a: { grads: Float32Array[]; moving: Float32Array[] }, b: typeof a, what: string) {
  assert.equal(a.grads.length, b.grads.length);
  assert.ok(a.grads.length >= 10);
  a.grads.forEach((g, i) => assertClose(g, b.grads[i], 2e-4, `${what}: variable ${i}`));
  assert.equal(a.moving.length, 4);
  a.moving.forEach((m, i) => assertClose(m, b.moving[i], 1e-5, `${what}: moving statistic ${i}`));
}
