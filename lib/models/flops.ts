/**
 * Forward-pass cost of a Layers model, counted from layer shapes.
 *
 * Only convolutions and dense layers are counted (2 FLOPs per
 * multiply-add); BatchNorm, activations, pooling and biases are a rounding
 * error next to them and are left out, as is usual when quoting CNN FLOPs.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** FLOPs of one layer for a single input example. */
export interface LayerFlops {
  /** Layer name. */
  name: string;
  /** Layer class, e.g. "Conv2D". */
  className: string;
  /** 2 × multiply-adds for one example. */
  flops: number;
}

type Sym = tf.SymbolicTensor | tf.SymbolicTensor[];

/** Non-batch dims of a layer's (first) input or output. */
function dims(t: Sym): number[] {
  const s = Array.isArray(t) ? t[0] : t;
  return s.shape.slice(1).map((d) => d ?? 0);
}

/**
 * A layer that counts its own FLOPs, e.g. a converted graph whose
 * convolutions live inside one layer.
 */
export interface CountsOwnFlops {
  /** 2 × multiply-adds for one example whose (non-batch) input shape is `inputDims`. */
  flopsPerExample(inputDims: number[]): number;
}

function countsOwnFlops(layer: unknown): layer is CountsOwnFlops {
  return typeof (layer as Partial<CountsOwnFlops>).flopsPerExample === "function";
}

/**
 * Per-layer FLOPs of conv, depthwise-conv and dense layers (and nested
 * models), for one example. Shapes are read at a layer's first call: a layer
 * shared between two models (a head trained alone, then on a backbone) has
 * one call per model, with the same shapes.
 */
export function flopsByLayer(model: tf.LayersModel): LayerFlops[] {
  const out: LayerFlops[] = [];
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (countsOwnFlops(layer)) {
      out.push({ name: layer.name, className, flops: layer.flopsPerExample(dims(layer.getInputAt(0))) });
    } else if ("layers" in layer) {
      out.push(...flopsByLayer(layer as unknown as tf.LayersModel));
    } else if (className === "DepthwiseConv2D") {
      const [h, w, channels] = dims(layer.getOutputAt(0));
      // deno-lint-ignore no-explicit-any
      const k = (layer as any).kernelSize as number[];
      out.push({ name: layer.name, className, flops: 2 * h * w * channels * k[0] * k[1] });
    } else if (className === "Conv2D") {
      const [h, w, filters] = dims(layer.getOutputAt(0));
      const inC = dims(layer.getInputAt(0)).at(-1)!;
      // deno-lint-ignore no-explicit-any
      const k = (layer as any).kernelSize as number[];
      const macs = h * w * filters * k[0] * k[1] * inC;
      out.push({ name: layer.name, className, flops: 2 * macs });
    } else if (className === "Dense") {
      const outDims = dims(layer.getOutputAt(0));
      const inDims = dims(layer.getInputAt(0));
      // Dense on an N-d input applies to the last axis at every position.
      const positions = outDims.slice(0, -1).reduce((a, b) => a * b, 1);
      const macs = positions * inDims.at(-1)! * outDims.at(-1)!;
      out.push({ name: layer.name, className, flops: 2 * macs });
    }
  }
  return out;
}

/** Total forward FLOPs (conv + dense multiply-adds × 2) for one example. */
export function countFlops(model: tf.LayersModel): number {
  return flopsByLayer(model).reduce((a, l) => a + l.flops, 0);
}
