/**
 * Tiny backbones the transfer tests build and save themselves: a graph-format
 * model written node by node (as tfjs-converter would) and a layers-format
 * model with batch norm, both small enough to run on the cpu backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fileSaver } from "../../lib/models/io.ts";

const b64 = (s: string) => btoa(s);

/** Deterministic small weights. */
function weights(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = (s / 2 ** 31 - 0.5) * 0.8;
  }
  return out;
}

/**
 * Writes a graph model (model.json + one weight file) to `dir`:
 * input [−1, 8, 8, 3] → (×2 − 1) → conv 3×3/2 + bias + relu6 ("stem") →
 * depthwise 3×3 + bias + relu6 ("block_1") → add → mean → dense 3 → softmax.
 * Returns the node names of the weights.
 */
export async function writeTinyGraphModel(dir: string): Promise<string[]> {
  const consts: [string, number[], number][] = [
    ["pre/Mul/y", [], 1],
    ["pre/Sub/y", [], 2],
    ["net/stem/w", [3, 3, 3, 4], 3],
    ["net/stem/b", [4], 4],
    ["net/block_1/dw", [3, 3, 4, 1], 5],
    ["net/block_1/b", [4], 6],
    ["net/logits/w", [4, 3], 7],
    ["net/logits/b", [3], 8],
  ];
  const list = (xs: number[]) => ({ list: { i: xs.map(String) } });
  const conv = (name: string, op: string, inputs: string[], strides: number) => ({
    name,
    op,
    input: inputs,
    attr: {
      T: { type: "DT_FLOAT" },
      strides: list([1, strides, strides, 1]),
      dilations: list([1, 1, 1, 1]),
      padding: { s: b64("SAME") },
      data_format: { s: b64("NHWC") },
      fused_ops: { list: { s: [b64("BiasAdd"), b64("Relu6")] } },
      num_args: { i: "1" },
      explicit_paddings: { list: {} },
      epsilon: { f: 0 },
    },
  });
  const node = [
    {
      name: "input",
      op: "Placeholder",
      attr: {
        dtype: { type: "DT_FLOAT" },
        shape: { shape: { dim: [{ size: "-1" }, { size: "8" }, { size: "8" }, { size: "3" }] } },
      },
    },
    ...consts.map(([name]) => ({
      name,
      op: "Const",
      attr: { dtype: { type: "DT_FLOAT" }, value: { tensor: { dtype: "DT_FLOAT" } } },
    })),
    { name: "axes", op: "Const", attr: { dtype: { type: "DT_INT32" }, value: { tensor: { dtype: "DT_INT32" } } } },
    { name: "pre/Mul", op: "Mul", input: ["input", "pre/Mul/y"], attr: { T: { type: "DT_FLOAT" } } },
    { name: "pre/Sub", op: "Sub", input: ["pre/Mul", "pre/Sub/y"], attr: { T: { type: "DT_FLOAT" } } },
    conv("net/stem/Relu6", "_FusedConv2D", ["pre/Sub", "net/stem/w", "net/stem/b"], 2),
    conv("net/block_1/Relu6", "FusedDepthwiseConv2dNative", ["net/stem/Relu6", "net/block_1/dw", "net/block_1/b"], 1),
    { name: "net/add", op: "AddV2", input: ["net/stem/Relu6", "net/block_1/Relu6"], attr: { T: { type: "DT_FLOAT" } } },
    {
      name: "net/pool",
      op: "Mean",
      input: ["net/add", "axes"],
      attr: { T: { type: "DT_FLOAT" }, keep_dims: { b: false }, Tidx: { type: "DT_INT32" } },
    },
    {
      name: "net/logits",
      op: "_FusedMatMul",
      input: ["net/pool", "net/logits/w", "net/logits/b"],
      attr: {
        T: { type: "DT_FLOAT" },
        transpose_a: { b: false },
        transpose_b: { b: false },
        fused_ops: { list: { s: [b64("BiasAdd")] } },
        num_args: { i: "1" },
        epsilon: { f: 0 },
      },
    },
    { name: "net/prob", op: "Softmax", input: ["net/logits"], attr: { T: { type: "DT_FLOAT" } } },
    { name: "Identity", op: "Identity", input: ["net/prob"], attr: { T: { type: "DT_FLOAT" } } },
  ];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const [name, shape, seed] of consts) {
    const v = shape.length === 0 ? Float32Array.of(seed === 1 ? 2 : 1) : weights(shape, seed);
    specs.push({ name, shape, dtype: "float32" });
    parts.push(new Uint8Array(v.buffer));
  }
  specs.push({ name: "axes", shape: [2], dtype: "int32" });
  parts.push(new Uint8Array(Int32Array.of(1, 2).buffer));
  const bin = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bin.set(p, o);
    o += p.length;
  }
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/group1-shard1of1.bin`, bin);
  await Deno.writeTextFile(
    `${dir}/model.json`,
    JSON.stringify({
      format: "graph-model",
      generatedBy: "ferlab tests",
      convertedBy: "hand",
      modelTopology: { node, library: {}, versions: { producer: 1 } },
      weightsManifest: [{ paths: ["group1-shard1of1.bin"], weights: specs }],
    }),
  );
  return consts.map(([n]) => n);
}

/** Depth of a tiny layers backbone's layer by name ("block_k_…" → k). */
export const tinyBlockOf = (name: string): number | null => {
  const m = /^block_(\d+)_/.exec(name);
  return m ? Number(m[1]) : name === "out_relu" ? 2 : null;
};

/**
 * Saves a layers model to `dir`: input [16, 16, 3] → two conv + batch norm +
 * ReLU blocks (the second ends in "out_relu") → global pool → dense 5
 * (a classifier the transfer model must cut off).
 */
export async function writeTinyLayersModel(dir: string): Promise<tf.LayersModel> {
  const input = tf.input({ shape: [16, 16, 3], name: "input_1" });
  let x = input as tf.SymbolicTensor;
  for (const k of [1, 2]) {
    x = tf.layers.conv2d({
      filters: 4,
      kernelSize: 3,
      padding: "same",
      useBias: false,
      kernelInitializer: tf.initializers.glorotUniform({ seed: k }),
      name: `block_${k}_conv`,
    }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `block_${k}_bn`, movingVarianceInitializer: "ones" }).apply(
      x,
    ) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: k === 2 ? "out_relu" : `block_${k}_relu` }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, activation: "softmax", name: "classifier" }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // give the moving statistics values a batch would not produce
  for (const w of model.weights) {
    if (w.name.includes("moving_mean")) w.write(tf.fill(w.shape as number[], -0.2));
    if (w.name.includes("moving_variance")) w.write(tf.fill(w.shape as number[], 2));
  }
  await model.save(fileSaver(dir));
  return model;
}
