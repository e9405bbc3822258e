/**
 * Sum and Mean over leading or trailing axes for wasm. The stock kernels
 * transpose the whole tensor first so the reduced axes come last; batch-norm
 * gradients reduce [B,H,W,C] over B,H,W every step, which made that copy the
 * cost. Other axis patterns fall back to the stock kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, runStock, sizeOf, type WasmBackend } from "./heap.ts";

/** Splits `shape` into [outer, inner] sizes when `axes` are exactly its first or last dims. */
function leadingOrTrailing(shape: number[], axes: number[]): { lead: boolean; outer: number; inner: number } | null {
  const sorted = [...axes].sort((a, b) => a - b);
  const k = sorted.length;
  const isLead = sorted.every((a, i) => a === i);
  const isTrail = sorted.every((a, i) => a === shape.length - k + i);
  if (!isLead && !isTrail) return null;
  const split = isLead ? k : shape.length - k;
  return { lead: isLead, outer: sizeOf(shape.slice(0, split)), inner: sizeOf(shape.slice(split)) };
}

function reduce(
  name: "Sum" | "Mean",
  { inputs, backend, attrs }: { inputs: { x: tf.TensorInfo }; backend: WasmBackend; attrs: Record<string, unknown> },
): tf.TensorInfo {
  const { x } = inputs;
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const plan = x.dtype === "float32" && x.shape.length > 0 ? leadingOrTrailing(x.shape, axes) : null;
  if (!plan || axes.length === 0) return runStock(backend, name, { x }, attrs);
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const finalShape = keepDims ? outShape : x.shape.filter((_, i) => !axes.includes(i));
  const { outer, inner, lead } = plan;
  const out = backend.makeOutput(finalShape, "float32");
  const src = f32(backend, x), dst = f32(backend, out);
  if (lead) {
    // Sum rows of an [outer, inner] matrix in float64 for accuracy close to a pairwise sum.
    const acc = new Float64Array(inner);
    for (let r = 0; r < outer; r++) {
      const base = r * inner;
      for (let c = 0; c < inner; c++) acc[c] += src[base + c];
    }
    const scale = name === "Mean" ? 1 / outer : 1;
    for (let c = 0; c < inner; c++) dst[c] = acc[c] * scale;
  } else {
    const scale = name === "Mean" ? 1 / inner : 1;
    for (let r = 0; r < outer; r++) {
      let s = 0;
      const base = r * inner;
      for (let c = 0; c < inner; c++) s += src[base + c];
      dst[r] = s * scale;
    }
  }
  return out;
}

/** `Sum` for wasm. */
export const sum = (args: Parameters<typeof reduce>[1]) => reduce("Sum", args);
/** `Mean` for wasm. */
export const mean = (args: Parameters<typeof reduce>[1]) => reduce("Mean", args);
