import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { BackboneError, fetchModel, formatOf, loadBackbone, readModelDir } from "../lib/transfer/backbone.ts";
import { featureNode, GraphLayer, GraphLayerError, graphLayerFromArtifacts } from "../lib/models/graph_layer.ts";
import { buildTransferModel } from "../lib/transfer/model.ts";
import { countFlops } from "../lib/models/flops.ts";
import { loadModel, saveModel } from "../lib/models/io.ts";
import { writeTinyGraphModel } from "./helpers/transfer_fixtures.ts";

await tf.setBackend("cpu");

const dir = await Deno.makeTempDir({ prefix: "ferlab-graph-" });
const weightNames = await writeTinyGraphModel(dir);
const x = tf.randomUniform([5, 8, 8, 3], 0, 1, "float32", 7) as tf.Tensor4D;

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("a graph model read from a directory is detected as graph format", async () => {
  const artifacts = await readModelDir(dir);
  assert.equal(formatOf(artifacts), "graph");
  assert.equal(artifacts.weightSpecs!.length, weightNames.length + 1);
});

Deno.test("GraphLayer computes what stock TF.js's GraphModel computes", async () => {
  const artifacts = await readModelDir(dir);
  const stock = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const want = stock.predict(x) as tf.Tensor;
  const layer = graphLayerFromArtifacts(artifacts, { outputNode: "Identity" });
  const got = layer.apply(x) as tf.Tensor;
  assert.deepEqual(got.shape, [5, 3]);
  assert.ok(maxDiff(got, want) < 1e-5, `max difference ${maxDiff(got, want)}`);
  // the feature node is the classifier's input: the pooled 4-channel map
  assert.equal(featureNode((artifacts.modelTopology as { node: never[] }).node), "net/pool");
  stock.dispose();
});

Deno.test("a graph layer counts the FLOPs of its convolutions and matrix product", async () => {
  const layer = graphLayerFromArtifacts(await readModelDir(dir), { outputNode: "Identity" });
  const input = tf.input({ shape: [8, 8, 3] });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  // stem: 3×3×3 conv, stride 2 → 4×4×4; block_1: 3×3 depthwise on 4×4×4; logits: 4 → 3 (2 FLOPs per multiply-add)
  const hand = 2 * (4 * 4 * 4 * 27) + 2 * (4 * 4 * 4 * 9) + 2 * (4 * 3);
  assert.equal(layer.flopsPerExample([8, 8, 3]), hand);
  assert.equal(countFlops(model), hand);
  // a larger input costs more: the convolutions scale with the map
  assert.equal(layer.flopsPerExample([16, 16, 3]), 4 * (hand - 24) + 24);
});

Deno.test("gradients reach exactly the trainable graph weights, and training lowers the loss", async () => {
  const artifacts = await readModelDir(dir);
  const layer = graphLayerFromArtifacts(artifacts, {
    outputNode: "net/logits",
    trainable: (name) => name.startsWith("net/block_1/") || name.startsWith("net/logits/"),
  });
  const input = tf.input({ shape: [8, 8, 3] });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  const trainable = model.trainableWeights.map((w) => w.originalName.replace(/^[^/]+\//, "")).sort();
  assert.deepEqual(trainable, ["net/block_1/b", "net/block_1/dw", "net/logits/b", "net/logits/w"]);
  const frozenBefore = layer.weights.filter((w) => !w.trainable).map((w) => w.read().clone());
  const trainBefore = layer.weights.filter((w) => w.trainable).map((w) => w.read().clone());
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1], "int32"), 3);
  const opt = tf.train.sgd(0.5);
  const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  const first = loss().dataSync()[0];
  for (let i = 0; i < 20; i++) opt.minimize(loss, false, model.trainableWeights.map((w) => w.read() as tf.Variable));
  const last = loss().dataSync()[0];
  assert.ok(last < first, `loss went from ${first} to ${last}`);
  const trainAfter = layer.weights.filter((w) => w.trainable).map((w) => w.read());
  trainBefore.forEach((t, i) => assert.ok(maxDiff(t, trainAfter[i]) > 0, `${layer.weights[i].name} did not change`));
  const frozenAfter = layer.weights.filter((w) => !w.trainable).map((w) => w.read());
  frozenBefore.forEach((t, i) => assert.equal(maxDiff(t, frozenAfter[i]), 0));
});

Deno.test("a graph backbone becomes a transfer model on 48×48 grey input", async () => {
  const bb = await loadBackbone(dir, {
    blockOf: (n) => (n.includes("block_1") ? 1 : n.includes("stem") ? 0 : null),
    depth: 1,
  });
  assert.equal(bb.spec.format, "graph");
  const t = await buildTransferModel(bb, {
    size: 8,
    fineTuneBlocks: 1,
    freezeBatchNorm: true,
    dropout: 0,
    numClasses: 7,
    seed: 1,
  });
  assert.equal(t.featureDim, 4);
  const p = t.model.predict(tf.zeros([2, 48, 48, 1])) as tf.Tensor;
  assert.deepEqual(p.shape, [2, 7]);
  // block_1's depthwise kernel and bias are trainable, the stem is not
  assert.equal(t.trainableBackboneParams, 3 * 3 * 4 + 4);
});

Deno.test("an unsupported op is a GraphLayerError naming the node", () => {
  assert.throws(
    () =>
      new GraphLayer({
        nodes: [
          { name: "in", op: "Placeholder" },
          { name: "weird", op: "Cumsum", input: ["in"] },
        ],
        outputNode: "weird",
      }).apply(tf.zeros([1, 2, 2, 3])),
    (e: Error) => e instanceof GraphLayerError && /weird/.test(e.message) && /Cumsum/.test(e.message),
  );
});

Deno.test("a transfer model on a graph backbone saves and reloads with the same predictions", async () => {
  const bb = await loadBackbone(dir);
  const t = await buildTransferModel(bb, {
    size: 16,
    fineTuneBlocks: 0,
    freezeBatchNorm: true,
    dropout: 0.2,
    numClasses: 7,
    seed: 4,
  });
  const out = await Deno.makeTempDir();
  await saveModel(t.model, out);
  const back = await loadModel(out);
  const x = tf.randomUniform([3, 48, 48, 1], 0, 1, "float32", 2);
  assert.ok(maxDiff(back.predict(x) as tf.Tensor, t.model.predict(x) as tf.Tensor) < 1e-6);
});

Deno.test("backbones load by URL (plain and TF Hub style) as they do from a directory", async () => {
  const requested: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    requested.push(url.pathname + url.search);
    try {
      return new Response(await Deno.readFile(`${dir}/${url.pathname.split("/").at(-1)}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const plain = await loadBackbone(`${base}/models/tiny/model.json`);
    assert.equal(plain.spec.format, "graph");
    const hub = await fetchModel(`${base}/hub/tiny/1`, true);
    assert.ok(requested.includes("/hub/tiny/1/model.json?tfjs-format=file"), requested.join(", "));
    const local = await readModelDir(dir);
    for (const a of [plain.artifacts, hub]) {
      const got = graphLayerFromArtifacts(a, { outputNode: "Identity" }).apply(x) as tf.Tensor;
      const want = graphLayerFromArtifacts(local, { outputNode: "Identity" }).apply(x) as tf.Tensor;
      assert.equal(maxDiff(got, want), 0);
    }
    await assert.rejects(() => loadBackbone(`${base}/missing/absent.json`), BackboneError);
  } finally {
    await server.shutdown();
  }
});
