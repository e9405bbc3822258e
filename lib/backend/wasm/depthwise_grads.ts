/**
 * Depthwise-conv gradients for wasm, which ships none (so MobileNet-style
 * models could not train on it at all). Plain JS loops over the NHWC layout
 * with the channel loop innermost: correct for any stride, padding, dilation
 * and channel multiplier; not yet split across threads.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, type WasmBackend } from "./heap.ts";

type Shape4 = [number, number, number, number];

/** The forward depthwise conv's geometry, flattened for the loops below. */
function geometry(xShape: Shape4, filterShape: Shape4, attrs: Record<string, unknown>) {
  const { strides, dilations, pad, dimRoundingMode } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const c = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad, dimRoundingMode, true);
  return {
    inShape: c.inShape as number[],
    B: c.batchSize,
    H: c.inHeight,
    W: c.inWidth,
    C: c.inChannels,
    OH: c.outHeight,
    OW: c.outWidth,
    KH: c.filterHeight,
    KW: c.filterWidth,
    sh: c.strideHeight,
    sw: c.strideWidth,
    dh: c.dilationHeight,
    dw: c.dilationWidth,
    M: c.outChannels / c.inChannels,
    pt: c.padInfo.top,
    pl: c.padInfo.left,
  };
}

/**
 * Calls `visit(dyOffset, xOffset, filterOffset)` for every output pixel and
 * every filter tap that lands inside the input; the per-tap work is a loop
 * over C channels × M multipliers, so the call costs nothing noticeable.
 */
function forEachTap(g: ReturnType<typeof geometry>, visit: (g0: number, x0: number, f0: number) => void): void {
  const { B, H, W, C, OH, OW, KH, KW, sh, sw, dh, dw, M, pt, pl } = g;
  const CM = C * M;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const g0 = ((b * OH + oh) * OW + ow) * CM;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw * dw - pl;
            if (iw < 0 || iw >= W) continue;
            visit(g0, ((b * H + ih) * W + iw) * C, (kh * KW + kw) * CM);
          }
        }
      }
    }
  }
}

/** `DepthwiseConv2dNativeBackpropInput` for wasm. */
export function depthwiseBackpropInput(
  { inputs, backend, attrs }: {
    inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const { dy, filter } = inputs;
  const g = geometry(attrs.inputShape as Shape4, filter.shape as Shape4, attrs);
  const { C, M } = g;
  const dx = backend.makeOutput(g.inShape, "float32");
  const DY = f32(backend, dy), F = f32(backend, filter), DX = f32(backend, dx);
  DX.fill(0);
  forEachTap(g, (g0, x0, f0) => {
    for (let ch = 0; ch < C; ch++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += DY[g0 + ch * M + m] * F[f0 + ch * M + m];
      DX[x0 + ch] += s;
    }
  });
  return dx;
}

/** `DepthwiseConv2dNativeBackpropFilter` for wasm. */
export function depthwiseBackpropFilter(
  { inputs, backend, attrs }: {
    inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const { x, dy } = inputs;
  const g = geometry(x.shape as Shape4, attrs.filterShape as Shape4, attrs);
  const { C, M } = g;
  const acc = new Float64Array(g.KH * g.KW * C * M);
  const X = f32(backend, x), DY = f32(backend, dy);
  forEachTap(g, (g0, x0, f0) => {
    for (let ch = 0; ch < C; ch++) {
      const v = X[x0 + ch];
      for (let m = 0; m < M; m++) acc[f0 + ch * M + m] += v * DY[g0 + ch * M + m];
    }
  });
  const out = backend.makeOutput(attrs.filterShape as number[], "float32");
  f32(backend, out).set(acc);
  return out;
}
