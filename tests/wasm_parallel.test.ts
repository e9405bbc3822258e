/**
 * ferlab's JS kernels split across two threads (shared wasm heap) give the
 * same results as TF.js's reference cpu backend, on shapes big enough to split.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { shutdownWasm } from "../lib/backend/wasm/init.ts";
import { selectBackend } from "../lib/backend/select.ts";
import { rowThreads } from "../lib/backend/wasm/parallel.ts";
import { fusedBatchNorm } from "../lib/models/batch_norm.ts";
import { makeRng } from "../lib/rng.ts";

function close(a: Float32Array, b: Float32Array, tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  assert.ok(worst <= tol, `${what}: max rel error ${worst}`);
}

Deno.test({
  name: "two-thread JS kernels (batch norm, LeakyReLU, pooling and conv gradients) match cpu",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const info = await selectBackend("wasm", { threads: 2, kernels: "wasm" });
    try {
      assert.equal(info.kernelThreads, 2, `JS kernels should run on 2 threads (notes: ${info.notes.join("; ")})`);
      assert.equal(rowThreads(), 2);
      const rng = makeRng("parallel");
      const shape = [8, 32, 31, 16]; // odd width: pooling leaves a column without gradient
      const n = shape.reduce((a, b) => a * b);
      const xData = Float32Array.from({ length: n }, () => 2 + rng.normal());
      const wData = Float32Array.from({ length: 3 * 3 * 16 * 24 }, () => rng.normal() * 0.2);
      const g = Float32Array.from({ length: 16 }, () => 1 + rng.normal() * 0.1),
        b = Float32Array.from({ length: 16 }, () => rng.normal());
      const f = (x: tf.Tensor, w: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
        const { y, mean, variance } = fusedBatchNorm(x, gamma, beta, 1e-3);
        tf.dispose([mean, variance]);
        const a = tf.leakyRelu(y, 0.1);
        const p = tf.maxPool(a as tf.Tensor4D, 2, 2, "valid");
        const c = tf.conv2d(p, w as tf.Tensor4D, 1, "same");
        return tf.sum(tf.mul(c, c));
      };
      const results: Float32Array[][] = [];
      for (const backend of ["wasm", "cpu"]) {
        await tf.setBackend(backend);
        const ins = [tf.tensor(xData, shape), tf.tensor(wData, [3, 3, 16, 24]), tf.tensor(g), tf.tensor(b)];
        const grads = tf.grads(f)(ins);
        results.push(await Promise.all(grads.map(async (t) => (await t.data()) as Float32Array)));
        tf.dispose([...ins, ...grads]);
      }
      await tf.setBackend("wasm");
      ["x", "filter", "gamma", "beta"].forEach((name, i) => close(results[0][i], results[1][i], 5e-4, `d${name}`));
    } finally {
      await shutdownWasm();
    }
    assert.equal(rowThreads(), 1, "the row kernels' helper thread outlived stopWasmThreads");
  },
});
