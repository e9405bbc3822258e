/**
 * Batch norm kept in inference mode while the rest of the network trains.
 *
 * TF.js's BatchNormalization normalises with the *batch's* statistics and
 * updates its moving averages whenever `training` is true, even when the
 * layer is not trainable. Fine-tuning a pretrained backbone that way replaces
 * ImageNet statistics with those of small, grey, upsampled FER batches: the
 * usual reason transfer "becomes unstable". Keras fixes it by running frozen
 * BN layers in inference mode; TF.js has no such switch, so we swap each
 * BatchNormalization for {@link FrozenBatchNormalization}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors.ts";

/** One error class for this module. */
export class FrozenBatchNormError extends UserError {}

// tfjs-layers does not export the class itself; its factory gives us an instance.
const BatchNormalization = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as {
  new (args: object): tf.layers.Layer;
};

/**
 * A BatchNormalization that always normalises with its moving statistics and
 * never updates them; gamma and beta stay trainable if the layer is.
 */
export class FrozenBatchNormalization extends BatchNormalization {
  static className = "FrozenBatchNormalization";

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    return super.call(inputs, { ...kwargs, training: false });
  }
}
tf.serialization.registerClass(
  FrozenBatchNormalization as unknown as tf.serialization.SerializableConstructor<
    tf.serialization.Serializable
  >,
);

/**
 * Rebuilds a Layers model with every BatchNormalization replaced by
 * {@link FrozenBatchNormalization}, weights (moving statistics included)
 * copied over and per-layer `trainable` flags kept.
 *
 * @example
 * ```ts
 * const frozen = await freezeBatchNorm(backbone);
 * frozen.layers.filter((l) => l.getClassName() === "BatchNormalization").length; // 0
 * ```
 */
export async function freezeBatchNorm(model: tf.LayersModel): Promise<tf.LayersModel> {
  const topology = model.toJSON(undefined, false) as unknown as Record<string, unknown>;
  if (topology.class_name !== "Model" && topology.class_name !== "Functional") {
    throw new FrozenBatchNormError(`freezeBatchNorm needs a functional model, got a ${String(topology.class_name)}`);
  }
  const layers = (topology.config as { layers: { class_name: string }[] }).layers;
  for (const l of layers) {
    if (l.class_name === "BatchNormalization") {
      l.class_name = FrozenBatchNormalization.className;
    }
  }
  const rebuilt = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  rebuilt.setWeights(model.getWeights());
  for (const l of model.layers) rebuilt.getLayer(l.name).trainable = l.trainable;
  return rebuilt;
}

/** Number of batch-norm layers of each kind in a model (for reports and tests). */
export function countBatchNorm(model: tf.LayersModel): { frozen: number; live: number } {
  let frozen = 0, live = 0;
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      const name = l.getClassName();
      if (name === FrozenBatchNormalization.className) frozen++;
      else if (name === "BatchNormalization") live++;
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (inner) visit(inner);
    }
  };
  visit(model.layers);
  return { frozen, live };
}
