/**
 * How a saved model wants its images: the side of the stored images it was
 * trained on, the side of its own input (smaller when it was trained on
 * random crops of them), and the test-time augmentation it is scored with
 * unless told otherwise. A model trained on 44-pixel crops of 48-pixel faces
 * must see the centre crop, not a resized or misread 48-pixel image, and
 * ten-crop is part of its recipe; both travel with the model so that every
 * tool that loads it (`eval`, `predict`, the comparison's ensembles) scores it
 * as it was meant to be.
 *
 * The record lives in `model.json` under TF.js's own `userDefinedMetadata`
 * (`{"ferlab": {"imageSize": 48, "inputSize": 44, "tta": "crops"}}`): written
 * atomically with the topology, kept by any TF.js loader, and set on the model
 * object, so the training loop, evaluation and checkpoints read it from the
 * model they already hold. A model without it (every model before experiment
 * 06) is fed whole images of its input side with no TTA, as before.
 *
 * @example
 * ```ts
 * const model = buildDeep({ inputSize: 44, ... });
 * setModelInput(model, { imageSize: 48, inputSize: 44, tta: "crops" });
 * modelInput(model); // { imageSize: 48, inputSize: 44, tta: "crops" }
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { IMAGE_SIZE } from "../data/fer2013.ts";
import { UserError } from "../errors.ts";
import { TTA_MODES, type TtaMode } from "../eval/tta.ts";

/** How a model is fed; see the module docs. */
export interface ModelInput {
  /** Side of the stored square images the model is meant for (48 for FER2013). */
  imageSize: number;
  /** Side of the model's input; smaller than `imageSize` for a crop model, which then sees the centre crop. */
  inputSize: number;
  /** The test-time augmentation the model is scored with by default. */
  tta: TtaMode;
}

/** A record that does not describe the model, or is malformed. */
export class ModelInputError extends UserError {}

/** Key of ferlab's record inside `userDefinedMetadata`. */
const KEY = "ferlab";

/** The side of a model's square input (its first input's height); 48 when unknown. */
export function inputSide(model: tf.LayersModel): number {
  return model.inputs[0].shape[1] ?? IMAGE_SIZE;
}

/** Throws a {@link ModelInputError} naming the first field of `input` that does not fit `model`. */
function check(model: tf.LayersModel, input: ModelInput): void {
  checkSide(inputSide(model), input);
}

/** {@link check} against a model whose input side is `side`. */
function checkSide(side: number, input: ModelInput): void {
  const { imageSize, inputSize, tta } = input;
  if (!(Number.isInteger(imageSize) && imageSize >= 1)) {
    throw new ModelInputError(`imageSize must be a positive integer, got ${imageSize}`);
  }
  if (inputSize !== side) {
    throw new ModelInputError(`inputSize ${inputSize} is not the model's input side ${side}`);
  }
  const margin = imageSize - inputSize;
  if (!(margin >= 0 && margin % 2 === 0)) {
    throw new ModelInputError(
      `a ${inputSize}-pixel input cannot be the centre crop of a ${imageSize}-pixel image ` +
        "(it must be smaller by an even number of pixels)",
    );
  }
  if (!(TTA_MODES as readonly string[]).includes(tta)) {
    throw new ModelInputError(`tta must be one of ${TTA_MODES.join(", ")}, got ${JSON.stringify(tta)}`);
  }
}

/** Records on `model` how it is fed (kept by `saveModel`, restored by `loadModel`), after checking it fits. */
export function setModelInput(model: tf.LayersModel, input: ModelInput): void {
  check(model, input);
  const others = (model.getUserDefinedMetadata() ?? {}) as Record<string, unknown>;
  const { imageSize, inputSize, tta } = input;
  model.setUserDefinedMetadata({ ...others, [KEY]: { imageSize, inputSize, tta } });
}

/**
 * How `model` is fed: its record, or for a model without one its whole input
 * side with no TTA.
 *
 * @throws ModelInputError when the record is malformed or does not fit the model.
 */
export function modelInput(model: tf.LayersModel): ModelInput {
  const meta = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const rec = meta?.[KEY];
  if (rec === undefined) {
    const side = inputSide(model);
    return { imageSize: side, inputSize: side, tta: "none" };
  }
  if (rec === null || typeof rec !== "object" || Array.isArray(rec)) {
    throw new ModelInputError(`the ${KEY} record must be an object, got ${JSON.stringify(rec)}`);
  }
  const input = recordOf(rec);
  check(model, input);
  return input;
}

/** The fields of a record already known to be an object. */
function recordOf(rec: object): ModelInput {
  const r = rec as Partial<ModelInput>;
  return { imageSize: r.imageSize, inputSize: r.inputSize, tta: r.tta } as ModelInput;
}

/** How a saved model is fed, read from its `model.json` alone, and the channels its input declares. */
export interface SavedModelInput {
  input: ModelInput;
  /** Channels of the declared input (1 grayscale, 3 colour); undefined when the topology declares no shape. */
  channels?: number;
}

/**
 * How the model saved as `modelJson` (the text of its `model.json`) is fed, as
 * {@link modelInput} would say of the built model: read without building it,
 * so that choosing which saved models can see the same images needs neither
 * their weights nor a backend. Undefined when the file declares neither an
 * input shape nor a record.
 *
 * @throws ModelInputError when the record is malformed or does not fit the declared input.
 * @throws SyntaxError when `modelJson` is not JSON.
 */
export function savedModelInput(modelJson: string): SavedModelInput | undefined {
  const json = JSON.parse(modelJson) as { userDefinedMetadata?: Record<string, unknown> } | null;
  // The first declared input shape is the model's input (a Layers topology lists its input layer first).
  const m = /"batch_?[iI]nput_?[sS]hape"\s*:\s*\[\s*null\s*,([\d\s,]+)\]/.exec(modelJson);
  const shape = m ? m[1].split(",").map(Number) : undefined;
  const channels = shape?.[2];
  const rec = json?.userDefinedMetadata?.[KEY];
  if (rec === undefined) {
    if (!shape) return undefined;
    return { input: { imageSize: shape[0], inputSize: shape[0], tta: "none" }, channels };
  }
  if (rec === null || typeof rec !== "object" || Array.isArray(rec)) {
    throw new ModelInputError(`the ${KEY} record must be an object, got ${JSON.stringify(rec)}`);
  }
  const input = recordOf(rec);
  checkSide(shape?.[0] ?? input.inputSize, input);
  return { input, channels };
}
