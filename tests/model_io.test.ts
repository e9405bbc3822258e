/** Model builders, FLOP counting and TF.js-format save/load on the file system. */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { DataError } from "../lib/data/fer2013.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { buildDeep } from "../lib/models/deep.ts";
import { countFlops, flopsByLayer } from "../lib/models/flops.ts";
import { fileLoader, loadModel, readWeights, saveModel } from "../lib/models/io.ts";

await tf.setBackend("cpu");

const tiny = (seed = 1) =>
  buildBaseline({ filters: [4, 8], dropout: [0.1, 0.2], dense: 8, inputSize: 12, numClasses: 3, seed });

function sameWeights(a: tf.LayersModel, b: tf.LayersModel): boolean {
  const wa = a.getWeights();
  const wb = b.getWeights();
  return wa.length === wb.length &&
    wa.every((w, i) => {
      const x = w.dataSync();
      const y = wb[i].dataSync();
      return x.length === y.length && x.every((v, j) => v === y[j]);
    });
}

Deno.test("baseline: study architecture, seeded and deterministic init", () => {
  const m = buildBaseline();
  assert.deepEqual(m.inputs[0].shape, [null, 48, 48, 1]);
  assert.deepEqual(m.outputs[0].shape, [null, 7]);
  const classes = m.layers.map((l) => l.getClassName());
  assert.equal(classes.filter((c) => c === "Conv2D").length, 4);
  assert.equal(classes.filter((c) => c === "BatchNormalization").length, 5);
  assert.deepEqual(
    m.layers.filter((l) => l.getClassName() === "Dropout").map((l) => l.getConfig().rate),
    [0.1, 0.2, 0.3, 0.4, 0.5],
  );
  // Convs followed by BatchNorm carry no bias.
  assert.equal(m.getLayer("block1_conv").getConfig().useBias, false);
  assert.equal(m.getLayer("output").getConfig().activation, "softmax");
  assert.ok(sameWeights(tiny(5), tiny(5)));
  assert.ok(!sameWeights(tiny(5), tiny(6)));
  assert.throws(() => buildBaseline({ inputSize: 12 }), /too small for 4 blocks/);
  assert.throws(() => buildBaseline({ dropout: [0.1] }), /dropout has 1 rates/);
});

Deno.test("deep model: LeakyReLU, 5 blocks, ≈0.5–0.7 GFLOP per 48×48 image, seeded", () => {
  const m = buildDeep();
  assert.deepEqual(m.outputs[0].shape, [null, 7]);
  const lrelu = m.layers.filter((l) => l.getClassName() === "LeakyReLU");
  assert.ok(lrelu.length > 0 && lrelu.every((l) => l.getConfig().alpha === 0.1));
  assert.equal(m.layers.filter((l) => l.getClassName() === "MaxPooling2D").length, 5);
  const gflop = countFlops(m) / 1e9;
  assert.ok(gflop > 0.5 && gflop < 0.7, `${gflop} GFLOP`);
  const small = (seed: number) =>
    buildDeep({ filters: [2, 2, 2, 2, 2], convsPerBlock: 1, dense: [4], inputSize: 32, seed });
  assert.ok(sameWeights(small(1), small(1)));
  assert.ok(!sameWeights(small(1), small(2)));
  assert.throws(() => buildDeep({ convsPerBlock: [1, 2] }), /convsPerBlock has 2 entries/);
});

Deno.test("experiment 03's shapes: the study's filters cost ≈0.9 GFLOP; GAP head; LeakyReLU before BN in the head", () => {
  const study = {
    convsPerBlock: 1,
    head: "globalAverage" as const,
    dense: [512],
    denseOrder: "act-bn" as const,
    filters: [128, 256, 512, 512, 512],
  };
  const m = buildDeep(study);
  // hand count: Σ H·W·9·Cin·Cout·2 over the five convs (48, 24, 12, 6, 3 pixels a side) + 512·512 + 512·7 dense
  const convs = [[48, 1, 128], [24, 128, 256], [12, 256, 512], [6, 512, 512], [3, 512, 512]];
  const hand = convs.reduce((a, [s, i, o]) => a + 2 * s * s * 9 * i * o, 0) + 2 * (512 * 512 + 512 * 7);
  assert.equal(countFlops(m), hand);
  const names = m.layers.map((l) => l.getClassName());
  assert.ok(names.includes("GlobalAveragePooling2D") && !names.includes("Flatten"));
  const head = names.slice(names.indexOf("GlobalAveragePooling2D"));
  assert.deepEqual(head, ["GlobalAveragePooling2D", "Dense", "LeakyReLU", "BatchNormalization", "Dropout", "Dense"]);
  // the dense layer keeps its bias when the activation sits between it and batch norm
  assert.equal((m.getLayer("fc1").getConfig() as { useBias: boolean }).useBias, true);
  const lean = buildDeep({ ...study, filters: [32, 64, 128, 256, 512] });
  assert.ok(countFlops(lean) < countFlops(m) / 9, "lean is about a tenth of the study's cost");
});

Deno.test("countFlops matches a hand count", () => {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 5, kernelSize: 3, padding: "same" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 2, kernelSize: [1, 2], padding: "valid" }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 4 }));
  // conv1: 8·8·5·(3·3·3) MACs; conv2: 4·3·2·(1·2·5); dense: 24·4.
  const macs = [8 * 8 * 5 * 27, 4 * 3 * 2 * 10, 24 * 4];
  assert.deepEqual(flopsByLayer(m).map((l) => l.flops), macs.map((x) => 2 * x));
  assert.equal(countFlops(m), 2 * macs.reduce((a, b) => a + b));
});

Deno.test("save/load round trip gives identical predictions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = tiny(3);
    // Non-trivial BatchNorm statistics, so they must be saved too.
    model.setWeights(model.getWeights().map((w, i) => tf.add(w, tf.fill(w.shape, 0.01 * (i + 1)))));
    const x = tf.randomUniform([5, 12, 12, 1], 0, 1, "float32", 7);
    const want = (model.predict(x) as tf.Tensor).dataSync();
    await saveModel(model, join(dir, "m"));
    const loaded = await loadModel(join(dir, "m"));
    const got = (loaded.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(got), Array.from(want));
    assert.ok(sameWeights(model, loaded));
    // The standard tfjs entry point reads our handler too.
    const viaTf = await tf.loadLayersModel(fileLoader(join(dir, "m")));
    assert.ok(sameWeights(model, viaTf));
    const named = await readWeights(join(dir, "m"));
    assert.equal(named.length, model.weights.length);
    assert.match(named[0].name, /block1_conv\/kernel/);
    // Saving again over an existing model replaces it.
    await saveModel(tiny(4), join(dir, "m"));
    assert.ok(sameWeights(tiny(4), await loadModel(join(dir, "m"))));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loading a missing, corrupt or truncated model fails with a clear DataError", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      loadModel(join(dir, "nothing")),
      (e) => e instanceof DataError && /model\.json not found/.test(e.message),
    );
    await saveModel(tiny(), join(dir, "m"));
    const json = join(dir, "m", "model.json");
    const bin = join(dir, "m", "weights.bin");
    const good = await Deno.readTextFile(json);
    await Deno.writeTextFile(json, good.slice(0, 100));
    await assert.rejects(
      loadModel(join(dir, "m")),
      (e) => e instanceof DataError && /not valid JSON/.test(e.message) && e.file === json,
    );
    await Deno.writeTextFile(json, JSON.stringify({ format: "layers-model" }));
    await assert.rejects(loadModel(join(dir, "m")), /modelTopology/);
    await Deno.writeTextFile(json, good);
    const bytes = await Deno.readFile(bin);
    await Deno.writeFile(bin, bytes.slice(0, bytes.length - 8));
    await assert.rejects(loadModel(join(dir, "m")), (e) => e instanceof DataError && /truncated/.test(e.message));
    await Deno.remove(bin);
    await assert.rejects(loadModel(join(dir, "m")), /weights file listed in model\.json is missing/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
