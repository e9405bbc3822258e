import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  cachedFeatures,
  computeFeatures,
  featureBatch,
  FeatureCacheError,
  featureKey,
  loadFeatureCache,
} from "../lib/transfer/features.ts";
import { materialisedCost, MemoryMonitor } from "../lib/transfer/memory.ts";

await tf.setBackend("cpu");

/** A small features model with real weights: conv → pool → 5 features, on `side`-pixel inputs. */
function featureModel(side = 48): tf.LayersModel {
  const input = tf.input({ shape: [side, side, 1] });
  const c = tf.layers.conv2d({
    filters: 5,
    kernelSize: 5,
    strides: 4,
    kernelInitializer: tf.initializers.glorotUniform({ seed: 9 }),
  })
    .apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.globalAveragePooling2d({}).apply(c) as tf.SymbolicTensor });
}

const n = 37;
const data = {
  pixels: new Uint8Array(n * 2304).map((_, i) => (i * 7919) % 251),
  labels: new Uint8Array(n),
};
const rows = Int32Array.from([5, 0, 36, 12, 7, 30, 2, 19, 25, 33, 1]);

/** Features of one row computed on its own (of its centre `crop`-pixel square), the reference the cache must match. */
function direct(model: tf.LayersModel, row: number, crop = 48): number[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(data.pixels.subarray(row * 2304, (row + 1) * 2304), (v) => v / 255), [
      1,
      48,
      48,
      1,
    ]);
    const o = (48 - crop) / 2;
    return Array.from((model.predict(x.slice([0, o, o, 0], [1, crop, crop, 1])) as tf.Tensor).dataSync());
  });
}

Deno.test("a crop model's cached features are those of each face's centre crop", async () => {
  const model = featureModel(44);
  const cache = await computeFeatures(model, data, rows, { batchSize: 4, imageSize: 48 });
  for (const r of rows) {
    const at = cache.index.get(r)!;
    const got = Array.from(cache.values.subarray(at * 5, at * 5 + 5));
    direct(model, r, 44).forEach((v, j) =>
      assert.ok(Math.abs(v - got[j]) < 1e-5, `row ${r} feature ${j}: ${got[j]} vs ${v}`)
    );
  }
  // and not those of another window: the corner crop gives other features
  const corner = tf.tidy(() =>
    Array.from(
      (model.predict(
        tf.tensor4d(Float32Array.from(data.pixels.subarray(0, 2304), (v) => v / 255), [1, 48, 48, 1])
          .slice([0, 0, 0, 0], [1, 44, 44, 1]),
      ) as tf.Tensor).dataSync(),
    )
  );
  const at = cache.index.get(0)!;
  assert.ok(corner.some((v, j) => Math.abs(v - cache.values[at * 5 + j]) > 1e-4));
  model.dispose();
});

Deno.test("cached features equal the features recomputed image by image", async () => {
  const model = featureModel();
  const cache = await computeFeatures(model, data, rows, { batchSize: 4, imageSize: 48 });
  assert.equal(cache.dim, 5);
  for (const r of rows) {
    const at = cache.index.get(r)!;
    const got = Array.from(cache.values.subarray(at * 5, at * 5 + 5));
    direct(model, r).forEach((v, j) =>
      assert.ok(Math.abs(v - got[j]) < 1e-5, `row ${r} feature ${j}: ${got[j]} vs ${v}`)
    );
  }
  // batches read back by row, in any order
  const b = featureBatch(cache, Int32Array.from([36, 5]), 0, 2).arraySync();
  assert.deepEqual(b[0].map((v) => +v.toFixed(5)), direct(model, 36).map((v) => +v.toFixed(5)));
  assert.throws(() => featureBatch(cache, Int32Array.from([3]), 0, 1), FeatureCacheError);
});

Deno.test("the cache is computed once, saved, and read back identical without running the model", async () => {
  const model = featureModel();
  const path = `${await Deno.makeTempDir()}/f.bin`;
  const first = await cachedFeatures(path, model, data, rows, { batchSize: 8, imageSize: 48 });
  assert.equal(first.computed, true);
  let calls = 0;
  const counting = {
    predict: (...a: unknown[]) => (calls++, (model.predict as (...b: unknown[]) => unknown)(...a)),
    inputs: model.inputs,
    outputs: model.outputs,
  };
  const second = await cachedFeatures(path, counting as unknown as tf.LayersModel, data, rows, {
    batchSize: 8,
    imageSize: 48,
  });
  assert.equal(second.computed, false);
  assert.equal(calls, 0);
  assert.deepEqual(Array.from(second.cache.values), Array.from(first.cache.values));
  assert.deepEqual(Array.from(second.cache.rows), Array.from(rows));
  // other rows: recomputed (so the model runs)
  const other = await cachedFeatures(path, counting as unknown as tf.LayersModel, data, rows.slice(0, 3), {
    batchSize: 8,
    imageSize: 48,
  });
  assert.equal(other.computed, true);
  assert.ok(calls > 0);
});

Deno.test("a truncated cache file is a FeatureCacheError naming the file", async () => {
  const model = featureModel();
  const path = `${await Deno.makeTempDir()}/f.bin`;
  await cachedFeatures(path, model, data, rows, { batchSize: 8, imageSize: 48 });
  const bytes = await Deno.readFile(path);
  await Deno.writeFile(path, bytes.subarray(0, bytes.length - 8));
  await assert.rejects(
    () => loadFeatureCache(path),
    (e: Error) => e instanceof FeatureCacheError && e.message.includes(path),
  );
  assert.equal(await loadFeatureCache(`${path}.absent`), null);
});

Deno.test("cache keys change with backbone, size, data, rows and crop", () => {
  const k = { backbone: "nsfwjs-mobilenet-v2", size: 96, data: "abc", rows };
  const keys = new Set([
    featureKey(k),
    featureKey({ ...k, backbone: "x/y" }),
    featureKey({ ...k, size: 128 }),
    featureKey({ ...k, data: "abd" }),
    featureKey({ ...k, rows: rows.slice(1) }),
    featureKey({ ...k, crop: 44 }),
    featureKey({ ...k, crop: 40 }),
  ]);
  assert.equal(keys.size, 7);
  // whole faces keep the key they had before crops existed, so existing caches stay valid
  assert.equal(featureKey({ ...k, crop: undefined }), `nsfwjs-mobilenet-v2-96-abc-${featureKey(k).split("-").at(-1)}`);
  assert.ok(!featureKey({ ...k, backbone: "https://a/b c" }).includes("/"));
});

Deno.test("the study's materialised set costs size²×3×4 bytes per image, extrapolated linearly", async () => {
  const x = tf.zeros([8, 48, 48, 1]) as tf.Tensor4D;
  const before = tf.memory().numBytes;
  const m = await materialisedCost(x, 64, 28709);
  assert.equal(m.bytesPerImage, 64 * 64 * 3 * 4);
  assert.equal(m.targetBytes, 28709 * 64 * 64 * 3 * 4);
  assert.equal(tf.memory().numBytes, before, "the materialised tensor is freed");
  // at 224, FER2013's 28,709 training images need ~16 GiB as float32
  assert.ok(Math.abs(224 * 224 * 3 * 4 * 28709 / 2 ** 30 - 16.1) < 0.1);
});

Deno.test("the memory monitor keeps the peak of its samples", async () => {
  const mon = new MemoryMonitor().start(5);
  const big = tf.zeros([1024, 1024]);
  mon.sample();
  big.dispose();
  await new Promise((r) => setTimeout(r, 20));
  const peak = mon.stop();
  assert.ok(peak.tensorBytes >= 4 * 1024 * 1024);
  assert.ok(peak.rssBytes > 0);
});
