/**
 * Pretrained backbones: where they come from (an npm package, a local
 * directory, a URL), in which TF.js format (layers or graph), what their
 * weights were trained on and how they want their pixels.
 *
 * Loading stops at {@link tf.io.ModelArtifacts}; `transfer_model.ts` turns
 * the artifacts into a trainable feature extractor.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import type { PreprocessMode } from "../models/preprocess.ts";
import { UserError } from "../errors.ts";

/** One error class for this module. */
export class BackboneError extends UserError {}

/** A known backbone: where to get it and how to use it. */
export interface BackboneSpec {
  id: string;
  /** One line for reports. */
  description: string;
  /** What the weights were trained on (never facial expressions). */
  trainedOn: string;
  format: "layers" | "graph";
  source: { kind: "npm"; load: () => Promise<tf.io.ModelArtifacts> } | { kind: "url"; url: string; tfHub?: boolean };
  preprocess: PreprocessMode;
  /** Side the weights were trained at. */
  nativeSize: number;
  /** Layers format: the layer whose output is the feature map (everything after it is dropped). */
  featureLayer?: string;
  /** Graph format: the node whose output is the feature map or vector (default: the classifier's input). */
  featureNode?: string;
  /**
   * Depth of a layer or weight by name (0 = stem … `depth` = last block), or
   * null when the name is not part of the backbone; fine-tuning the top `n`
   * blocks trains everything at depth > `depth - n`.
   */
  blockOf: (name: string) => number | null;
  depth: number;
}

/** MobileNetV2 depth by Keras layer name: Conv1 stem 0, block_k / expanded_conv k+1, Conv_1 18. */
function kerasMobileNetV2Block(name: string): number | null {
  if (/^(Conv1|bn_Conv1|Conv1_relu)$/.test(name)) return 0;
  if (/^expanded_conv_/.test(name)) return 1;
  const m = /^block_(\d+)_/.exec(name);
  if (m) return Number(m[1]) + 1;
  if (/^(Conv_1|Conv_1_bn|out_relu)$/.test(name)) return 18;
  return null;
}

/** MobileNetV2 depth by TF-slim node name (TF Hub): Conv 0, expanded_conv[_k] k+1, Conv_1 18. */
function slimMobileNetV2Block(name: string): number | null {
  if (/MobilenetV2\/Conv\//.test(name)) return 0;
  const m = /MobilenetV2\/expanded_conv(?:_(\d+))?\//.exec(name);
  if (m) return (m[1] ? Number(m[1]) : 0) + 1;
  if (/MobilenetV2\/Conv_1\//.test(name)) return 18;
  return null;
}

/** ResNet-v2 (TF-slim) depth by node name: root 0, block1..4 → 1..4, postnorm 5. */
function slimResNetBlock(name: string): number | null {
  if (/resnet_v2_\d+\/conv1\//.test(name)) return 0;
  const m = /resnet_v2_\d+\/block(\d)\//.exec(name);
  if (m) return Number(m[1]);
  if (/resnet_v2_\d+\/postnorm\//.test(name)) return 5;
  return null;
}

const NSFW_TRAINED_ON =
  "ImageNet-initialised MobileNetV2, then fine-tuned by the nsfwjs authors (GantMan/nsfw_model) " +
  "as a 5-class classifier (drawings, hentai, neutral, porn, sexy) on about 60 GB of web images; " +
  "no facial-expression labels and no FER2013 faces";

/** Reads one of the model bundles nsfwjs ships (model JSON + base64 weight shards as JS modules). */
async function nsfwjsArtifacts(which: "mobilenet_v2" | "mobilenet_v2_mid"): Promise<tf.io.ModelArtifacts> {
  type Bundle = { modelJson: () => Promise<unknown>; weightBundles: (() => Promise<unknown>)[] };
  const mod = which === "mobilenet_v2"
    ? (await import("nsfwjs/models/mobilenet_v2")).MobileNetV2Model as Bundle
    : (await import("nsfwjs/models/mobilenet_v2_mid")).MobileNetV2MidModel as Bundle;
  const unwrap = <T>(m: unknown): T => ((m as { default?: T }).default ?? m) as T;
  const json = unwrap<tf.io.ModelJSON>(await mod.modelJson());
  const shards = await Promise.all(mod.weightBundles.map(async (b) => unwrap<string>(await b())));
  const bytes = shards.map((s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: concat(bytes),
  };
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out.buffer;
}

/** The backbones ferlab knows by name; any TF.js model directory or URL works too. */
export const BACKBONES: Record<string, BackboneSpec> = {
  "nsfwjs-mobilenet-v2": {
    id: "nsfwjs-mobilenet-v2",
    description:
      "MobileNetV2 (α 1.0, 224×224, Keras layers format, uint8-quantised weights) shipped in npm nsfwjs@4.4.0",
    trainedOn: NSFW_TRAINED_ON,
    format: "layers",
    source: { kind: "npm", load: () => nsfwjsArtifacts("mobilenet_v2") },
    preprocess: "unit",
    nativeSize: 224,
    featureLayer: "out_relu",
    blockOf: kerasMobileNetV2Block,
    depth: 18,
  },
  "nsfwjs-mobilenet-v2-mid": {
    id: "nsfwjs-mobilenet-v2-mid",
    description: "MobileNetV2 (α 1.4, TF Hub graph converted, uint8-quantised) shipped in npm nsfwjs@4.4.0",
    trainedOn: NSFW_TRAINED_ON.replace("MobileNetV2", "MobileNetV2 α 1.4 (TF Hub)"),
    format: "graph",
    source: { kind: "npm", load: () => nsfwjsArtifacts("mobilenet_v2_mid") },
    preprocess: "unit",
    nativeSize: 224,
    // the last conv's map, so any input size works (the graph's own 7×7 average pool fixes 224)
    featureNode: "MobilenetV2/Conv_1/Relu6",
    blockOf: slimMobileNetV2Block,
    depth: 18,
  },
  "tfhub-mobilenet-v2": {
    id: "tfhub-mobilenet-v2",
    description: "MobileNetV2 (α 1.0, 224) ImageNet feature vector, TF.js graph model from TF Hub / Kaggle Models",
    trainedOn: "ImageNet (ILSVRC-2012) classification",
    format: "graph",
    source: {
      kind: "url",
      url: "https://tfhub.dev/google/tfjs-model/imagenet/mobilenet_v2_100_224/feature_vector/3/default/1",
      tfHub: true,
    },
    preprocess: "unit",
    nativeSize: 224,
    featureNode: "MobilenetV2/Conv_1/Relu6",
    blockOf: slimMobileNetV2Block,
    depth: 18,
  },
  "tfhub-resnet50": {
    id: "tfhub-resnet50",
    description: "ResNet-50 v2 ImageNet feature vector, TF.js graph model from TF Hub / Kaggle Models",
    trainedOn: "ImageNet (ILSVRC-2012) classification",
    format: "graph",
    source: {
      kind: "url",
      url: "https://tfhub.dev/google/tfjs-model/imagenet/resnet_v2_50/feature_vector/3/default/1",
      tfHub: true,
    },
    preprocess: "unit",
    nativeSize: 224,
    featureNode: "resnet_v2_50/postnorm/Relu",
    blockOf: slimResNetBlock,
    depth: 5,
  },
};

/** The offline default: a pretrained network an npm package ships. */
export const DEFAULT_BACKBONE = "nsfwjs-mobilenet-v2";

/**
 * Reads a TF.js model directory (`model.json` plus the weight files its
 * manifest names), layers or graph format.
 */
export async function readModelDir(dir: string): Promise<tf.io.ModelArtifacts> {
  const path = dir.endsWith(".json") ? dir : join(dir, "model.json");
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new BackboneError(`${path}: cannot read a TF.js model.json (${(e as Error).message})`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new BackboneError(`${path}: not a TF.js model (needs modelTopology and weightsManifest)`);
  }
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      try {
        parts.push(await Deno.readFile(join(dirname(path), p)));
      } catch (e) {
        throw new BackboneError(`${path}: weight file ${p} is missing or unreadable (${(e as Error).message})`);
      }
    }
  }
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: concat(parts),
  };
}

/** Downloads a TF.js model by URL (TF Hub handles get `?tfjs-format=file`, as tfjs-converter does). */
export async function fetchModel(url: string, tfHub = false): Promise<tf.io.ModelArtifacts> {
  const full = tfHub && !url.endsWith(".json") ? `${url.replace(/\/$/, "")}/model.json?tfjs-format=file` : url;
  try {
    return await tf.io.http(full).load!();
  } catch (e) {
    throw new BackboneError(
      `cannot download ${full}: ${(e as Error).message} (offline? use --backbone ${DEFAULT_BACKBONE})`,
    );
  }
}

/** Which format artifacts are in. */
export function formatOf(a: tf.io.ModelArtifacts): "layers" | "graph" {
  const topo = a.modelTopology as { node?: unknown } | undefined;
  return a.format === "graph-model" || Array.isArray(topo?.node) ? "graph" : "layers";
}

/** A backbone ready to be built: its artifacts plus how to use them. */
export interface LoadedBackbone {
  spec: BackboneSpec;
  artifacts: tf.io.ModelArtifacts;
}

/**
 * Loads a backbone by registry id, directory or URL. A directory or URL
 * needs `overrides` saying how to preprocess (default `unit`) and, for
 * fine-tuning, how to tell its blocks apart (default: by name order).
 *
 * @example
 * ```ts
 * const bb = await loadBackbone("nsfwjs-mobilenet-v2");  // offline, from node_modules
 * const own = await loadBackbone("./models/my_mobilenet", { preprocess: "tf", featureLayer: "out_relu" });
 * ```
 */
export async function loadBackbone(ref: string, overrides: Partial<BackboneSpec> = {}): Promise<LoadedBackbone> {
  const known = BACKBONES[ref];
  if (known) {
    const spec = { ...known, ...overrides };
    const artifacts = spec.source.kind === "npm"
      ? await spec.source.load()
      : await fetchModel(spec.source.url, spec.source.tfHub);
    return { spec, artifacts };
  }
  const isUrl = /^https?:\/\//.test(ref);
  const artifacts = isUrl ? await fetchModel(ref, /tfhub\.dev|kaggle\.com/.test(ref)) : await readModelDir(ref);
  const format = formatOf(artifacts);
  const spec: BackboneSpec = {
    id: ref,
    description: `${format} model from ${ref}`,
    trainedOn: "as stated by its provider (not recorded by ferlab)",
    format,
    source: isUrl ? { kind: "url", url: ref } : { kind: "npm", load: () => readModelDir(ref) },
    preprocess: "unit",
    nativeSize: 224,
    blockOf: () => null,
    depth: 0,
    ...overrides,
  };
  return { spec, artifacts };
}
