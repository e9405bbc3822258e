/**
 * Saving and loading TF.js Layers models on the local file system (Deno).
 *
 * A model directory holds `model.json` (topology + weights manifest) and
 * `weights.bin`, the same layout `tensorflowjs` writes, so a saved model can
 * be served to a browser as-is. Files are written under a temporary name and
 * renamed, so a crash never leaves a half-written `model.json` behind.
 * `model.json` also carries how the model is fed (its input side, the image
 * side it crops from, its default TTA; see `input_spec.ts`) in TF.js's
 * `userDefinedMetadata`, and loading checks that record.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic_write.ts";
import { DataError } from "../data/fer2013.ts";
import { modelInput, ModelInputError } from "./input_spec.ts";
// Custom layers a saved ferlab model may contain (registered on import), so that every loader can rebuild it.
import "./preprocess.ts";
import "./graph_layer.ts";
import "./frozen_bn.ts";

/** A tensor with the name it is saved under. */
export interface NamedTensor {
  /** Weight name as written in the manifest. */
  name: string;
  /** The values. */
  tensor: tf.Tensor;
}

/** Name of the topology + manifest file inside a model directory. */
export const MODEL_JSON = "model.json";
/** Name of the single weights shard inside a model directory. */
export const WEIGHTS_BIN = "weights.bin";

const BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** Bytes a weight entry occupies in the binary shard. */
function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const b = BYTES[dtype];
  if (b === undefined) throw new Error(`unsupported weight dtype ${dtype} (${spec.name})`);
  return size * b;
}

/** An IOHandler whose `save` writes `model.json` + `weights.bin` into `dir`. */
export function fileSaver(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      const topology = artifacts.modelTopology;
      if (topology === undefined || topology instanceof ArrayBuffer) {
        throw new Error("fileSaver: only JSON (Layers) model topologies can be saved");
      }
      await Deno.mkdir(dir, { recursive: true });
      const weights = artifacts.weightData === undefined
        ? new ArrayBuffer(0)
        : new tf.io.CompositeArrayBuffer(artifacts.weightData).slice();
      const manifest: tf.io.WeightsManifestConfig = [{
        paths: [WEIGHTS_BIN],
        weights: artifacts.weightSpecs ?? [],
      }];
      const json: tf.io.ModelJSON = {
        modelTopology: topology,
        weightsManifest: manifest,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // Weights first: a model.json that exists always has its weights.
      await writeFileAtomic(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
      await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(json));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          modelTopologyBytes: JSON.stringify(topology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },
  };
}

/** Reads and checks `dir/model.json`, with a {@link DataError} on any problem. */
async function readModelJson(dir: string): Promise<tf.io.ModelJSON> {
  const path = join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(path, null, "model.json not found (is this a saved model directory?)");
    }
    throw e;
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DataError(path, null, `not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || json.modelTopology == null) {
    throw new DataError(path, "modelTopology", "missing: not a TF.js Layers model.json");
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw new DataError(path, "weightsManifest", "missing or not a list");
  }
  return json;
}

/** An IOHandler whose `load` reads a model saved by {@link fileSaver}. */
export function fileLoader(dir: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const json = await readModelJson(dir);
      return await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const parts: Uint8Array[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const path = join(dir, p);
            try {
              parts.push(await Deno.readFile(path));
            } catch (e) {
              if (e instanceof Deno.errors.NotFound) {
                throw new DataError(path, null, `weights file listed in ${MODEL_JSON} is missing`);
              }
              throw e;
            }
          }
        }
        const total = parts.reduce((a, p) => a + p.byteLength, 0);
        const expected = specs.reduce((a, s) => a + specBytes(s), 0);
        if (total !== expected) {
          throw new DataError(
            join(dir, manifest[0]?.paths[0] ?? WEIGHTS_BIN),
            null,
            `weights hold ${total} bytes but ${MODEL_JSON} describes ${expected} (truncated or mismatched file?)`,
          );
        }
        const buf = new Uint8Array(total);
        let o = 0;
        for (const p of parts) {
          buf.set(p, o);
          o += p.byteLength;
        }
        return [specs, buf.buffer];
      });
    },
  };
}

/** Saves `model` into `dir` (created if needed) as model.json + weights.bin. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileSaver(dir));
}

/** Loads a Layers model saved by {@link saveModel}, with its input record checked. */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(fileLoader(dir));
  } catch (e) {
    if (e instanceof DataError) throw e;
    // tfjs reports a malformed topology with a bare message; name the file.
    throw new DataError(join(dir, MODEL_JSON), null, `cannot build model: ${(e as Error).message}`);
  }
  try {
    modelInput(model);
  } catch (e) {
    if (!(e instanceof ModelInputError)) throw e;
    model.dispose();
    throw new DataError(join(dir, MODEL_JSON), "userDefinedMetadata.ferlab", e.message);
  }
  return model;
}

/**
 * Reads just the weights of a saved model, in manifest order, without
 * building it: used to restore a checkpoint into an already-built model.
 * The caller owns (and must dispose) the returned tensors.
 */
export async function readWeights(
  dir: string,
): Promise<NamedTensor[]> {
  const artifacts = await fileLoader(dir).load!();
  const specs = artifacts.weightSpecs ?? [];
  const map = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  return specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}
