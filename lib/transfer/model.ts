/**
 * A transfer model assembled from a loaded backbone:
 *
 *     48×48 grey in [0,1] → ResizeToBackbone → backbone trunk → global average pool → features
 *     features → dropout → dense softmax (the new head)
 *
 * `features` and `model` share the same layers, so the head trained on
 * cached features in phase 1 is the head fine-tuned in phase 2.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { LoadedBackbone } from "./backbone.ts";
import { FrozenBatchNormalization } from "../models/frozen_bn.ts";
import { GraphLayer, type GraphNode } from "../models/graph_layer.ts";
import { ResizeToBackbone } from "../models/preprocess.ts";
import { UserError } from "../errors.ts";

/** One error class for this module. */
export class TransferModelError extends UserError {}

/** How to assemble a transfer model. */
export interface TransferModelOptions {
  /** Side of the backbone's input (the 48×48 faces are resized to it per batch). */
  size: number;
  /** Top blocks of the backbone that train (0 = head only; the backbone's depth + 1 = all). */
  fineTuneBlocks: number;
  /** Keep batch norm in inference mode (true), or let TF.js use batch statistics (the study's way). */
  freezeBatchNorm: boolean;
  /** Dropout before the new dense layer. */
  dropout: number;
  numClasses: number;
  seed: number;
  /** Side of the stored images (48 for FER2013). */
  inputSide?: number;
}

/** The pieces of a transfer model. */
export interface TransferModel {
  /** `[b, s, s, 1]` → `[b, featureDim]` (frozen in phase 1). */
  features: tf.LayersModel;
  /** `[b, featureDim]` → `[b, numClasses]`: the new head, on cached features. */
  head: tf.LayersModel;
  /** The whole network, `[b, s, s, 1]` → `[b, numClasses]`, for fine-tuning and evaluation. */
  model: tf.LayersModel;
  featureDim: number;
  /** Parameters of the backbone that train in phase 2. */
  trainableBackboneParams: number;
}

/** Layer names that feed `target`, itself included (Keras functional JSON). */
function ancestors(layers: { name: string; inbound_nodes: unknown[] }[], target: string): Set<string> {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const keep = new Set<string>();
  const stack = [target];
  while (stack.length) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    const l = byName.get(name);
    if (!l) throw new TransferModelError(`backbone has no layer "${name}"`);
    keep.add(name);
    for (const node of l.inbound_nodes as unknown[][]) {
      for (const ref of node) stack.push((ref as [string])[0]);
    }
  }
  return keep;
}

/**
 * The layers backbone cut at its feature layer, rebuilt for a `size×size`
 * input, with frozen batch norm if asked, and the top blocks trainable.
 */
async function layersTrunk(bb: LoadedBackbone, opts: TransferModelOptions): Promise<tf.LayersModel> {
  const base = await tf.loadLayersModel(tf.io.fromMemory(bb.artifacts));
  const featureLayer = bb.spec.featureLayer ?? base.layers.at(-1)!.name;
  const topology = base.toJSON(undefined, false) as unknown as {
    class_name: string;
    config: {
      name: string;
      layers: { name: string; class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[] }[];
      input_layers: unknown[];
      output_layers: unknown[];
    };
  };
  const keep = ancestors(topology.config.layers, featureLayer);
  topology.config.layers = topology.config.layers.filter((l) => keep.has(l.name));
  topology.config.output_layers = [[featureLayer, 0, 0]];
  for (const l of topology.config.layers) {
    if (l.class_name === "InputLayer") l.config.batch_input_shape = [null, opts.size, opts.size, 3];
    if (l.class_name === "BatchNormalization" && opts.freezeBatchNorm) {
      l.class_name = FrozenBatchNormalization.className;
    }
  }
  topology.config.name = `${topology.config.name}_trunk`;
  const trunk = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  for (const l of trunk.layers) l.setWeights(base.getLayer(l.name).getWeights());
  base.dispose();
  const from = bb.spec.depth - opts.fineTuneBlocks;
  for (const l of trunk.layers) {
    const b = bb.spec.blockOf(l.name);
    l.trainable = b !== null && b > from;
  }
  return trunk;
}

/** The node a spec names, by full name or unique suffix. */
function resolveNode(nodes: GraphNode[], want: string): string {
  if (nodes.some((n) => n.name === want)) return want;
  const hits = nodes.filter((n) => n.name.endsWith(want));
  if (hits.length !== 1) throw new TransferModelError(`graph has ${hits.length} nodes ending in "${want}"; need one`);
  return hits[0].name;
}

/** The graph backbone as a trainable {@link GraphLayer}, top blocks trainable. */
function graphTrunk(bb: LoadedBackbone, opts: TransferModelOptions): GraphLayer {
  const nodes = (bb.artifacts.modelTopology as { node: GraphNode[] }).node;
  const from = bb.spec.depth - opts.fineTuneBlocks;
  const values = new Map(
    Object.entries(tf.io.decodeWeights(bb.artifacts.weightData ?? new ArrayBuffer(0), bb.artifacts.weightSpecs ?? [])),
  );
  const constNames = nodes.filter((n) => n.op === "Const").map((n) => n.name);
  return new GraphLayer({
    nodes,
    outputNode: bb.spec.featureNode ? resolveNode(nodes, bb.spec.featureNode) : undefined,
    trainableWeights: constNames.filter((n) => {
      const b = bb.spec.blockOf(n);
      return b !== null && b > from;
    }),
    name: "backbone",
    values,
  });
}

/**
 * Builds features, head and whole model from a loaded backbone.
 *
 * @example
 * ```ts
 * const bb = await loadBackbone("nsfwjs-mobilenet-v2");
 * const t = await buildTransferModel(bb, { size: 96, fineTuneBlocks: 5, freezeBatchNorm: true,
 *   dropout: 0.3, numClasses: 7, seed: 42 });
 * t.model.predict(tf.zeros([1, 48, 48, 1])); // [1, 7]
 * ```
 */
export async function buildTransferModel(bb: LoadedBackbone, opts: TransferModelOptions): Promise<TransferModel> {
  const side = opts.inputSide ?? 48;
  const input = tf.input({ shape: [side, side, 1], name: "faces" });
  const resized = new ResizeToBackbone({ size: opts.size, mode: bb.spec.preprocess, name: "resize_to_backbone" })
    .apply(input) as tf.SymbolicTensor;
  const trunk = bb.spec.format === "layers" ? await layersTrunk(bb, opts) : graphTrunk(bb, opts);
  let feat = trunk.apply(resized) as tf.SymbolicTensor;
  if (feat.shape.length === 4) {
    feat = tf.layers.globalAveragePooling2d({ name: "features_gap" }).apply(feat) as tf.SymbolicTensor;
  }
  if (feat.shape.length !== 2) {
    throw new TransferModelError(`backbone features have shape [${feat.shape}]; need 2-D or 4-D`);
  }
  const featureDim = feat.shape[1]!;
  const features = tf.model({ inputs: input, outputs: feat, name: "features" });

  const dropout = tf.layers.dropout({ rate: opts.dropout, seed: opts.seed, name: "head_dropout" });
  const dense = tf.layers.dense({
    units: opts.numClasses,
    activation: "softmax",
    kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed }),
    name: "head_dense",
  });
  const headIn = tf.input({ shape: [featureDim], name: "cached_features" });
  const head = tf.model({
    inputs: headIn,
    outputs: dense.apply(dropout.apply(headIn)) as tf.SymbolicTensor,
    name: "head",
  });
  const out = dense.apply(dropout.apply(feat)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: "transfer" });
  const trainableBackboneParams = trunk.trainableWeights.reduce(
    (a, w) => a + (w.shape as number[]).reduce((p, d) => p * d, 1),
    0,
  );
  return { features, head, model, featureDim, trainableBackboneParams };
}
