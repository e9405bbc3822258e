/**
 * oneDNN's native kernels (`lib/backend/native/`) against ferlab's wasm
 * kernels and TF.js's reference cpu backend: the awkward conv shapes, fused
 * activations, batch norm, a whole model's gradients, bit-identical reruns,
 * and loading under the tasks' own permission sets. Skipped, with a message,
 * where oneDNN (Debian's libdnnl2) is not installed.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { installWasmTrainingKernels } from "../../lib/backend/wasm/register.ts";
import { loadDnnl } from "../../lib/backend/native/dnnl.ts";
import { nativeFallbacks } from "../../lib/backend/native/kernels.ts";
import { batchNormalization as fastBatchNorm } from "../../lib/models/batch_norm.ts";
import { denoCommand } from "../../lib/cli/permissions.ts";
import { makeRng } from "../../lib/rng.ts";
import { assertClose, CASES, convOn, randArray, type Shape4 } from "../helpers/conv_cases.ts";
import { assertSameGradients, modelGradients } from "../helpers/model_grads.ts";
import { runSource } from "../helpers/run_script.ts";

tf.enableProdMode();
await tf.setBackend("wasm");
const dnnl = loadDnnl({ threads: 2 });
const ignore = "reason" in dnnl;
if (ignore) console.warn(`native kernel tests skipped: ${dnnl.reason}`);

/** Runs `f` with the native kernel set registered, then puts the wasm set back. */
async function withNative<T>(f: () => Promise<T>): Promise<T> {
  if ("reason" in dnnl) throw new Error(dnnl.reason);
  installWasmTrainingKernels(dnnl);
  try {
    return await f();
  } finally {
    installWasmTrainingKernels();
  }
}

const size = (sh: number[]) => sh.reduce((a, b) => a * b, 1);

Deno.test({
  name: "native conv forward and gradients match cpu on awkward shapes, with no fallback to wasm",
  ignore,
  fn: async () => {
    nativeFallbacks.clear();
    const rng = makeRng("native-cases");
    const cases: typeof CASES = [...CASES, [[2, 48, 48, 1], [3, 3, 1, 32], 1, "same"], [
      [4, 6, 6, 64],
      [1, 1, 64, 8],
      1,
      "valid",
    ]];
    for (const [xs, ws, s, pad] of cases) {
      const yShape = tf.backend_util.computeConv2DInfo(xs, ws, s, 1, pad).outShape;
      const x = randArray(size(xs), rng), w = randArray(size(ws), rng), dy = randArray(size(yShape), rng);
      const ours = await withNative(() => convOn("wasm", x, xs, w, ws, dy, s, pad));
      const ref = await convOn("cpu", x, xs, w, ws, dy, s, pad);
      const what = `x ${xs} w ${ws} stride ${s} ${pad}`;
      ["y", "dx", "dw"].forEach((name, i) => assertClose(ours[i], ref[i], 2e-5, `${what}: ${name}`));
    }
    assert.deepEqual([...nativeFallbacks], []);
  },
});

Deno.test({
  name: "native fused conv: bias with linear, relu, leaky relu and relu6 post-ops match cpu",
  ignore,
  fn: async () => {
    const rng = makeRng("native-fused");
    for (const activation of ["linear", "relu", "leakyrelu", "relu6"] as const) {
      const xs: Shape4 = [2, 9, 8, 5], ws: Shape4 = [3, 3, 5, 11];
      const x = randArray(size(xs), rng).map((v) => 4 * v), w = randArray(size(ws), rng);
      const dy = randArray(2 * 9 * 8 * 11, rng), bias = randArray(11, rng);
      const ours = await withNative(() => convOn("wasm", x, xs, w, ws, dy, 1, "same", { bias, activation }));
      const ref = await convOn("cpu", x, xs, w, ws, dy, 1, "same", { bias, activation });
      ["y", "dx", "dw", "dbias"].forEach((name, i) => assertClose(ours[i], ref[i], 2e-5, `${activation}: ${name}`));
    }
  },
});

Deno.test({
  name: "a whole model's gradients and batch-norm statistics on native kernels match wasm's and cpu's",
  ignore,
  fn: async () => {
    nativeFallbacks.clear();
    const [native] = await withNative(() => modelGradients([["wasm", fastBatchNorm]]));
    assert.deepEqual([...nativeFallbacks], [], "every conv and batch norm ran on oneDNN");
    const [wasm, cpu] = await modelGradients([["wasm", fastBatchNorm], ["cpu", fastBatchNorm]]);
    assertSameGradients(native, cpu, "native vs cpu");
    assertSameGradients(native, wasm, "native vs wasm kernels");
  },
});

/** A script: a few training steps of the baseline on the chosen kernels; prints the backend and final weights. */
function trainScript(kernels: string): string {
  const lib = (p: string) => JSON.stringify(new URL(`../../lib/${p}`, import.meta.url).href);
  return `
    import * as tf from "@tensorflow/tfjs";
    import { selectBackend } from ${lib("backend/select.ts")};
    import { buildBaseline } from ${lib("models/baseline.ts")};
    import { makeRng } from ${lib("rng.ts")};
    const info = await selectBackend("wasm", { threads: 2, kernels: ${JSON.stringify(kernels)} });
    // no dropout: its masks are not seeded here, and they are not what this compares
    const model = buildBaseline({ seed: 3, dropout: [0, 0, 0, 0], denseDropout: 0 });
    const rng = makeRng("steps");
    const x = tf.tensor4d(Float32Array.from({ length: 16 * 48 * 48 }, () => rng.next()), [16, 48, 48, 1]);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 7), "int32"), 7);
    const opt = tf.train.adam(1e-3);
    for (let i = 0; i < 3; i++) {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true })));
    }
    const sums = model.getWeights().map((w) => Array.from(w.dataSync()).reduce((a, b) => a + b * 1.000001, 0));
    console.log(JSON.stringify({ native: info.native ?? null, notes: info.notes, weights: sums }));
    Deno.exit(0);`;
}

Deno.test({
  name: "the native kernels load under the experiment set, train bit-identically twice, and stay within wasm's result",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const a = await runSource(trainScript("native"));
    const b = await runSource(trainScript("native"));
    const wasm = await runSource(trainScript("wasm"));
    assert.ok(a.native, `native kernels did not load: ${JSON.stringify(a.notes)}`);
    assert.equal(wasm.native, null);
    assert.deepEqual(a.weights, b.weights, "two native runs with the same seed and threads differ");
    const [wa, ww] = [a.weights as number[], wasm.weights as number[]];
    assert.equal(wa.length, ww.length);
    wa.forEach((v, i) =>
      assert.ok(Math.abs(v - ww[i]) <= 1e-2 * (1 + Math.abs(ww[i])), `weight ${i}: ${v} vs ${ww[i]}`)
    );
  },
});

Deno.test({
  name: "where FFI is refused, --kernels auto falls back to wasm and says why; --kernels native stops with one line",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const deny = "--deny-ffi=lib/backend/native/libferlab_dnnl.so";
    const auto = await runSource(trainScript("auto"), { flags: [deny] });
    assert.equal(auto.native, null);
    assert.match((auto.notes as string[]).join("\n"), /native kernels unavailable \(FFI is not allowed/);
    const out = await new Deno.Command(denoCommand(), {
      args: ["run", "-P=experiment", deny, "experiments/01_baseline.ts", "--quick", "--kernels", "native"],
      cwd: new URL("../..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /error: backend "wasm with --kernels native" is not available: FFI is not allowed/);
    assert.doesNotMatch(stderr, /^\s+at /m, "a one-line error, not a stack trace");
  },
});
