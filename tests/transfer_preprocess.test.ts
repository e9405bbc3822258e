import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { computeFeatures } from "../lib/transfer/features.ts";
import { MemoryMonitor } from "../lib/transfer/memory.ts";
import { PreprocessError, ResizeToBackbone, toBackboneInput } from "../lib/models/preprocess.ts";

await tf.setBackend("cpu");

const range = (t: tf.Tensor) => tf.tidy(() => [tf.min(t).dataSync()[0], tf.max(t).dataSync()[0]]);

Deno.test("a grey 48×48 batch becomes size×size×3 with the channel replicated", () => {
  const x = tf.randomUniform([3, 48, 48, 1], 0, 1, "float32", 1) as tf.Tensor4D;
  const y = toBackboneInput(x, 96, "unit");
  assert.deepEqual(y.shape, [3, 96, 96, 3]);
  const [r, g, b] = tf.split(y, 3, 3);
  assert.equal(tf.max(tf.abs(tf.sub(r, g))).dataSync()[0], 0);
  assert.equal(tf.max(tf.abs(tf.sub(r, b))).dataSync()[0], 0);
  const [lo, hi] = range(y);
  assert.ok(lo >= 0 && hi <= 1, `unit range is [${lo}, ${hi}]`);
  // bilinear resize keeps a constant image constant
  const flat = toBackboneInput(tf.fill([1, 48, 48, 1], 0.25) as tf.Tensor4D, 224, "unit");
  assert.deepEqual(range(flat).map((v) => +v.toFixed(6)), [0.25, 0.25]);
});

Deno.test("each preprocessing mode maps black and white where the backbone expects them", () => {
  const bw = tf.concat([tf.zeros([1, 48, 48, 1]), tf.ones([1, 48, 48, 1])]) as tf.Tensor4D;
  const at = (mode: "unit" | "tf" | "caffe" | "torch") => {
    const y = toBackboneInput(bw, 48, mode);
    return [y.slice([0, 0, 0, 0], [1, 1, 1, 3]), y.slice([1, 0, 0, 0], [1, 1, 1, 3])].map((t) =>
      Array.from(t.dataSync()).map((v) => +v.toFixed(3))
    );
  };
  assert.deepEqual(at("unit"), [[0, 0, 0], [1, 1, 1]]);
  assert.deepEqual(at("tf"), [[-1, -1, -1], [1, 1, 1]]);
  assert.deepEqual(at("caffe"), [[-103.939, -116.779, -123.68], [151.061, 138.221, 131.32]]);
  assert.deepEqual(at("torch")[0], [-2.118, -2.036, -1.804]);
});

Deno.test("bad sizes and modes are PreprocessErrors", () => {
  assert.throws(() => new ResizeToBackbone({ size: 3, mode: "unit" }), PreprocessError);
  assert.throws(() => new ResizeToBackbone({ size: 96, mode: "bgr" as "unit" }), PreprocessError);
  assert.throws(() => toBackboneInput(tf.zeros([1, 48, 48, 3]) as tf.Tensor4D, 96, "unit"), PreprocessError);
});

Deno.test("ResizeToBackbone serialises and reloads inside a model", async () => {
  const input = tf.input({ shape: [48, 48, 1] });
  const out = new ResizeToBackbone({ size: 64, mode: "tf" }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  assert.deepEqual(model.outputs[0].shape, [null, 64, 64, 3]);
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler((a) => {
    saved = a;
    return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } });
  }));
  const back = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const x = tf.randomUniform([2, 48, 48, 1]);
  assert.equal(tf.max(tf.abs(tf.sub(back.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor))).dataSync()[0], 0);
});

Deno.test("extracting features never materialises the upsampled set", async () => {
  // a backbone-shaped model: 48×48 grey → 96×96×3 → pooled 3 features
  const input = tf.input({ shape: [48, 48, 1] });
  const up = new ResizeToBackbone({ size: 96, mode: "unit" }).apply(input) as tf.SymbolicTensor;
  const features = tf.model({
    inputs: input,
    outputs: tf.layers.globalAveragePooling2d({}).apply(up) as tf.SymbolicTensor,
  });
  const n = 200, batch = 16;
  const pixels = new Uint8Array(n * 48 * 48).map((_, i) => (i * 31) % 256);
  const data = { pixels, labels: new Uint8Array(n) };
  const monitor = new MemoryMonitor();
  const before = tf.memory().numBytes;
  const cache = await computeFeatures(features, data, Int32Array.from({ length: n }, (_, i) => i), {
    batchSize: batch,
    imageSize: 48,
    onProgress: () => monitor.sample(),
  });
  const peak = monitor.stop().tensorBytes - before;
  const oneBatch = batch * 96 * 96 * 3 * 4;
  const fullSet = n * 96 * 96 * 3 * 4;
  assert.equal(cache.values.length, n * 3);
  assert.ok(peak < 3 * oneBatch, `peak tensor bytes ${peak} vs one upsampled batch ${oneBatch}`);
  assert.ok(3 * oneBatch < fullSet / 4, "the bound is far below the full set");
  assert.equal(tf.memory().numBytes, before, "no tensor leaked");
});
