/**
 * The native kernel set of the wasm backend: the convolutions (forward with
 * bias and activation fused, backward data, backward weights) and batch norm
 * run in oneDNN, in place on TF.js's wasm heap; everything else stays on
 * ferlab's wasm kernels. Each native kernel hands a case it does not cover
 * (NCHW, PReLU, a shape oneDNN refuses) to the wasm kernel it replaces.
 *
 * Why these and not more: convolutions are ~90% of a training step, and batch
 * norm is the next largest pass over the activations. Pooling, matmul and the
 * depthwise convs stay in wasm until a measurement says moving them pays
 * (`deno task bench`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelFn, memoryOf, sizeOf, type WasmBackend } from "../wasm/heap.ts";
import { BN_BACKWARD, BN_FORWARD } from "../wasm/batch_norm.ts";
import { type Dnnl, DnnlError, OP } from "./dnnl.ts";

const { backend_util } = tf;

type Shape4 = [number, number, number, number];
type Args = Parameters<KernelFn>[0];

/** TF.js fused activations oneDNN runs as a post-op, by the shim's code. */
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, leakyrelu: 2, relu6: 3 };

/** The shim's geometry: shapes, strides, dilations, padding, activation, bias, then the leaky slope's bits. */
function geometry(info: tf.backend_util.Conv2DInfo, activation: number, hasBias: boolean, slope = 0): Int32Array {
  const g = new Int32Array(20);
  g.set([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
    info.padInfo.bottom,
    info.padInfo.right,
    activation,
    hasBias ? 1 : 0,
  ]);
  new Float32Array(g.buffer, 19 * 4, 1)[0] = slope;
  return g;
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
  dilations: number | [number, number] = 1,
): tf.backend_util.Conv2DInfo {
  const a = attrs as unknown as tf.Conv2DAttrs;
  return backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    a.strides,
    dilations,
    a.pad,
    a.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(a.dataFormat),
  );
}

/** The heap as bytes; taken after every allocation of the call (growing the heap detaches older views). */
function heapOf(backend: WasmBackend): Uint8Array {
  return new Uint8Array(memoryOf(backend).buffer);
}

function offset(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** What the native kernels did not take, for the bench and reports. */
export const nativeFallbacks = new Set<string>();

/**
 * Builds the native kernels over `wasm` (the kernel set they replace, by TF.js
 * kernel name), calling oneDNN through `dnnl`.
 */
export function nativeKernels(dnnl: Dnnl, wasm: Record<string, KernelFn>): Record<string, KernelFn> {
  /** Runs `native`, or the wasm kernel (remembering why) when the case is not covered or oneDNN refuses it. */
  const withFallback =
    (name: string, native: (args: Args) => tf.TensorInfo | tf.TensorInfo[] | string): KernelFn => (args) => {
      let why: string;
      try {
        const out = native(args);
        if (typeof out !== "string") return out;
        why = out;
      } catch (e) {
        if (!(e instanceof DnnlError)) throw e;
        why = e.message;
      }
      nativeFallbacks.add(`${name}: ${why}`);
      return wasm[name](args);
    };

  /** A fresh output of `shape` that oneDNN's convolution `op` writes from inputs `a` and `b` (and `bias`). */
  const runConv = (
    backend: WasmBackend,
    op: number,
    g: Int32Array,
    shape: number[],
    a: tf.TensorInfo,
    b: tf.TensorInfo,
    bias?: tf.TensorInfo,
  ): tf.TensorInfo => {
    const out = backend.makeOutput(shape, "float32");
    try {
      const c = bias ? offset(backend, bias) : 0;
      dnnl.conv(op, heapOf(backend), g, offset(backend, a), offset(backend, b), c, offset(backend, out));
    } catch (e) {
      backend.disposeData(out.dataId);
      throw e;
    }
    return out;
  };

  const conv = (name: string, fused: boolean) =>
    withFallback(name, ({ inputs, backend, attrs = {} }) => {
      const { x, filter, bias, preluActivationWeights } = inputs;
      const info = convInfo(x.shape, filter.shape, attrs, (attrs as { dilations?: number }).dilations ?? 1);
      if (info.dataFormat !== "channelsLast") return "NCHW";
      const activation = fused ? String(attrs.activation ?? "linear") : "linear";
      if (!(activation in ACTIVATIONS) || preluActivationWeights) return `activation ${activation}`;
      if (bias && sizeOf(bias.shape) !== info.outChannels) return "bias not per channel";
      const slope = Number(attrs.leakyreluAlpha ?? 0.2);
      const g = geometry(info, ACTIVATIONS[activation], Boolean(bias), slope);
      const yShape = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
      return runConv(backend, OP.convForward, g, yShape, x, filter, bias);
    });

  return {
    Conv2D: conv("Conv2D", false),
    FusedConv2D: conv("FusedConv2D", true),

    Conv2DBackpropInput: withFallback("Conv2DBackpropInput", ({ inputs, backend, attrs = {} }) => {
      const { dy, filter } = inputs;
      const info = convInfo((attrs as unknown as tf.Conv2DBackpropInputAttrs).inputShape, filter.shape, attrs);
      if (info.dataFormat !== "channelsLast") return "NCHW";
      const dxShape = [info.batchSize, info.inHeight, info.inWidth, info.inChannels];
      return runConv(backend, OP.convBackwardData, geometry(info, 0, false), dxShape, dy, filter);
    }),

    Conv2DBackpropFilter: withFallback("Conv2DBackpropFilter", ({ inputs, backend, attrs = {} }) => {
      const { x, dy } = inputs;
      const info = convInfo(x.shape, (attrs as unknown as tf.Conv2DBackpropFilterAttrs).filterShape, attrs);
      if (info.dataFormat !== "channelsLast") return "NCHW";
      const dwShape = [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels];
      return runConv(backend, OP.convBackwardWeights, geometry(info, 0, false), dwShape, x, dy);
    }),

    [BN_FORWARD]: withFallback(BN_FORWARD, ({ inputs, backend, attrs = {} }) => {
      const { x, gamma, beta } = inputs;
      const C = x.shape.at(-1)!;
      const outs = [x.shape, [C], [C]].map((s) => backend.makeOutput(s, "float32"));
      return runBn(dnnl, backend, OP.bnForward, x.shape, Number(attrs.epsilon), [x, gamma, beta, ...outs], outs);
    }),

    [BN_BACKWARD]: withFallback(BN_BACKWARD, ({ inputs, backend, attrs = {} }) => {
      const { dy, x, mean, variance, gamma } = inputs;
      const C = x.shape.at(-1)!;
      const outs = [x.shape, [C], [C]].map((s) => backend.makeOutput(s, "float32"));
      const args = [dy, x, mean, variance, gamma, ...outs];
      return runBn(dnnl, backend, OP.bnBackward, x.shape, Number(attrs.epsilon), args, outs);
    }),
  };
}

/** Batch norm over every axis but the last: a rank-4 tensor as NHWC, any other as [rows, 1, 1, C]. */
function runBn(
  dnnl: Dnnl,
  backend: WasmBackend,
  op: number,
  shape: number[],
  epsilon: number,
  args: tf.TensorInfo[],
  outs: tf.TensorInfo[],
): tf.TensorInfo[] {
  const C = shape.at(-1)!;
  const dims = shape.length === 4 ? shape : [sizeOf(shape) / C, 1, 1, C];
  const g = new Int32Array(5);
  g.set(dims);
  new Float32Array(g.buffer, 16, 1)[0] = epsilon;
  try {
    dnnl.bn(op, heapOf(backend), g, new Uint32Array(args.map((t) => offset(backend, t))));
  } catch (e) {
    for (const t of outs) backend.disposeData(t.dataId);
    throw e;
  }
  return outs;
}
