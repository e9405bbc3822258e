/**
 * ferlab's wasm SIMD conv kernels (`lib/backend/wasm/kernels/conv_gemm.c`)
 * against TF.js's reference cpu backend on awkward shapes, their plain-SIMD
 * fallback, and their threads (more than the machine has cores).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { installWasmTrainingKernels } from "../../lib/backend/wasm/register.ts";
import { gemmInfo } from "../../lib/backend/wasm/gemm_pool.ts";
import { makeRng } from "../../lib/rng.ts";
import { assertClose, CASES, convOn, randArray, type Shape4 } from "../helpers/conv_cases.ts";
import { runSource } from "../helpers/run_script.ts";

tf.enableProdMode();
await tf.setBackend("wasm");
installWasmTrainingKernels();

Deno.test("conv forward and gradients on ferlab's kernels match cpu on awkward shapes", async () => {
  const rng = makeRng("gemm-cases");
  for (const [xs, ws, s, pad] of CASES) {
    const yShape = tf.backend_util.computeConv2DInfo(xs, ws, s, 1, pad).outShape;
    const size = (sh: number[]) => sh.reduce((a, b) => a * b, 1);
    const x = randArray(size(xs), rng), w = randArray(size(ws), rng), dy = randArray(size(yShape), rng);
    const ours = await convOn("wasm", x, xs, w, ws, dy, s, pad);
    const ref = await convOn("cpu", x, xs, w, ws, dy, s, pad);
    const what = `x ${xs} w ${ws} stride ${s} ${pad}`;
    ["y", "dx", "dw"].forEach((name, i) => assertClose(ours[i], ref[i], 2e-5, `${what}: ${name}`));
  }
  await tf.setBackend("wasm");
  assert.ok(gemmInfo(), "the GEMM kernels should have been loaded");
});

Deno.test("fused conv with bias and relu on ferlab's forward kernel matches cpu", async () => {
  const rng = makeRng("gemm-fused");
  for (const activation of ["linear", "relu"] as const) {
    const xs: Shape4 = [2, 9, 8, 1], ws: Shape4 = [3, 3, 1, 11];
    const x = randArray(2 * 9 * 8, rng), w = randArray(99, rng), dy = randArray(2 * 9 * 8 * 11, rng);
    const bias = randArray(11, rng);
    const ours = await convOn("wasm", x, xs, w, ws, dy, 1, "same", { bias, activation });
    const ref = await convOn("cpu", x, xs, w, ws, dy, 1, "same", { bias, activation });
    ["y", "dx", "dw", "dbias"].forEach((name, i) => assertClose(ours[i], ref[i], 2e-5, `${activation}: ${name}`));
  }
  await tf.setBackend("wasm");
});

/** A script: conv gradients of a fixed problem on wasm with `threads`, printed with the kernels' info. */
function gradientScript(threads: number): string {
  const lib = (p: string) => JSON.stringify(new URL(`../../lib/${p}`, import.meta.url).href);
  return `
    import * as tf from "@tensorflow/tfjs";
    import { selectBackend } from ${lib("backend/select.ts")};
    import { makeRng } from ${lib("rng.ts")};
    const info = await selectBackend("wasm", { threads: ${threads}, kernels: "wasm" });
    const rng = makeRng("threads");
    const r = (shape) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape);
    const x = r([6, 14, 13, 1]), w1 = r([3, 3, 1, 10]), w2 = r([3, 3, 10, 12]);
    const f = (x, w1, w2) => {
      const h = tf.leakyRelu(tf.conv2d(x, w1, 1, "same"), 0.1);
      const y = tf.conv2d(h, w2, 2, "same");
      return tf.sum(tf.mul(y, y));
    };
    const g = tf.grads((w1, w2) => f(x, w1, w2))([w1, w2]);
    const gx = tf.grad((h) => tf.sum(tf.square(tf.conv2d(h, w2, 1, "valid"))))(r([3, 11, 9, 10]));
    console.log(JSON.stringify({ convKernels: info.convKernels, grads: [...g, gx].map((t) => Array.from(t.dataSync())) }));
    Deno.exit(0);`;
}

Deno.test({
  name: "more threads than cores give exactly the one-thread results, run after run",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const many = Math.min(8, 2 * navigator.hardwareConcurrency);
    const one = await runSource(gradientScript(1));
    const a = await runSource(gradientScript(many));
    const b = await runSource(gradientScript(many));
    assert.equal((one.convKernels as { threads: number }).threads, 1);
    assert.equal((a.convKernels as { threads: number }).threads, many, JSON.stringify(a.convKernels));
    assert.deepEqual(a.grads, b.grads, `two runs with ${many} threads differ`);
    assert.deepEqual(a.grads, one.grads, `${many} threads differ from one`);
  },
});

Deno.test({
  name: "the plain-SIMD fallback runs when asked for, says so, and matches relaxed SIMD",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const relaxed = await runSource(gradientScript(2));
    const plain = await runSource(gradientScript(2), { env: { FERLAB_WASM_SIMD: "plain" } });
    assert.equal((relaxed.convKernels as { flavour: string }).flavour, "relaxed-simd");
    assert.equal((plain.convKernels as { flavour: string }).flavour, "simd");
    (relaxed.grads as number[][]).forEach((g, i) =>
      assertClose(Float32Array.from((plain.grads as number[][])[i]), Float32Array.from(g), 1e-5, `gradient ${i}`)
    );
  },
});

Deno.test("ReLU, LeakyReLU and 2×2 max-pool gradients in wasm SIMD match cpu (ties, odd sizes, 5 channels)", async () => {
  const rng = makeRng("simd-loops");
  for (const shape of [[2, 7, 9, 5], [1, 8, 8, 8], [3, 3, 3, 3]] as Shape4[]) {
    const n = shape.reduce((a, b) => a * b, 1);
    // values rounded to halves: many ties in the pooling windows, and exact zeros for LeakyReLU
    const x = Float32Array.from({ length: n }, () => Math.round(2 * rng.normal()) / 2);
    const results: Float32Array[][] = [];
    for (const backend of ["wasm", "cpu"]) {
      await tf.setBackend(backend);
      const xt = tf.tensor4d(x, shape);
      const f = (v: tf.Tensor) => {
        const a = tf.add(tf.leakyRelu(v, 0.1), tf.relu(tf.mul(v, -1))) as tf.Tensor4D;
        const p = tf.maxPool(a, 2, 2, "valid");
        return tf.sum(tf.mul(p, tf.range(1, p.size + 1).reshape(p.shape)));
      };
      const y = tf.concat([tf.leakyRelu(xt, 0.1), tf.relu(xt)]);
      const g = tf.grad(f)(xt);
      results.push([(await y.data()) as Float32Array, (await g.data()) as Float32Array]);
      tf.dispose([xt, y, g]);
    }
    assertClose(results[0][0], results[1][0], 0, `${shape}: leaky relu, relu`);
    assertClose(results[0][1], results[1][1], 1e-6, `${shape}: gradient through pool, leaky relu and relu`);
  }
  await tf.setBackend("wasm");
});
