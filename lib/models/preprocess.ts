/**
 * The per-batch input pipeline of a transfer model: FER2013's 48×48
 * grayscale batch in [0, 1] becomes the backbone's `size×size` RGB input in
 * the backbone's own value range, inside the model, one batch at a time.
 *
 * The study upsampled the whole set to 224×224×3 up front (28,709 × 224² × 3
 * float32 ≈ 17 GB) and ran out of memory; as a layer, the resize costs one
 * batch (64 × 224² × 3 × 4 B ≈ 38 MB) whatever the data set size.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors.ts";

/**
 * How a backbone wants its pixels:
 * - `unit`: RGB in [0, 1] (TF Hub image models, nsfwjs);
 * - `tf`: RGB in [−1, 1] (Keras `mobilenet_v2.preprocess_input`);
 * - `caffe`: BGR in 0–255 minus the ImageNet channel means (Keras ResNet50);
 * - `torch`: RGB in [0, 1], standardised by the ImageNet mean and std.
 */
export type PreprocessMode = "unit" | "tf" | "caffe" | "torch";

/** Modes accepted by {@link ResizeToBackbone}. */
export const PREPROCESS_MODES: readonly PreprocessMode[] = ["unit", "tf", "caffe", "torch"];

const IMAGENET_MEAN_RGB = [0.485, 0.456, 0.406];
const IMAGENET_STD_RGB = [0.229, 0.224, 0.225];
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

/** One pipeline error class for this module. */
export class PreprocessError extends UserError {}

/**
 * Resizes a `[b, h, w, 1]` batch in [0, 1] to `[b, size, size, 3]` in the
 * backbone's range. Grey replicated into three channels is exactly what an
 * RGB network sees for a grey photo, so no channel is favoured.
 *
 * @example
 * ```ts
 * const x = tf.ones([2, 48, 48, 1]);
 * toBackboneInput(x, 96, "tf").shape; // [2, 96, 96, 3], all values 1
 * ```
 */
export function toBackboneInput(x: tf.Tensor4D, size: number, mode: PreprocessMode): tf.Tensor4D {
  return tf.tidy(() => {
    if (x.shape[3] !== 1) throw new PreprocessError(`expected a 1-channel batch, got shape [${x.shape}]`);
    const resized = x.shape[1] === size && x.shape[2] === size
      ? x
      : tf.image.resizeBilinear(x, [size, size], false, true);
    const rgb = tf.tile(resized, [1, 1, 1, 3]);
    switch (mode) {
      case "unit":
        return rgb;
      case "tf":
        return tf.sub(tf.mul(rgb, 2), 1);
      case "torch":
        return tf.div(tf.sub(rgb, IMAGENET_MEAN_RGB), IMAGENET_STD_RGB);
      case "caffe":
        // grey is the same in every channel, so BGR order only matters for the means
        return tf.sub(tf.mul(rgb, 255), CAFFE_MEAN_BGR);
      default:
        throw new PreprocessError(`unknown preprocessing mode "${mode}"; use one of ${PREPROCESS_MODES.join(", ")}`);
    }
  }) as tf.Tensor4D;
}

/** Config of {@link ResizeToBackbone}. */
export interface ResizeToBackboneArgs {
  size: number;
  mode: PreprocessMode;
  name?: string;
}

/**
 * {@link toBackboneInput} as a Keras layer, so a transfer model takes the
 * stored 48×48 grey batch like every other ferlab model and the training
 * loop, evaluation and checkpoints need no change. Nothing before it is
 * trainable, so no gradient flows through the resize.
 */
export class ResizeToBackbone extends tf.layers.Layer {
  static className = "ResizeToBackbone";
  readonly size: number;
  readonly mode: PreprocessMode;

  constructor(args: ResizeToBackboneArgs) {
    super({ name: args.name, trainable: false });
    if (!(Number.isInteger(args.size) && args.size >= 8)) {
      throw new PreprocessError(`input size must be an integer ≥ 8, got ${args.size}`);
    }
    if (!PREPROCESS_MODES.includes(args.mode)) {
      throw new PreprocessError(`unknown preprocessing mode "${args.mode}"; use one of ${PREPROCESS_MODES.join(", ")}`);
    }
    this.size = args.size;
    this.mode = args.mode;
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [inputShape[0], this.size, this.size, 3];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return toBackboneInput(x as tf.Tensor4D, this.size, this.mode);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, mode: this.mode };
  }
}
tf.serialization.registerClass(ResizeToBackbone);
