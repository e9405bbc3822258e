/**
 * Conv2D gradients for the wasm backend.
 *
 * Both run as ferlab's own GEMM kernels in wasm SIMD (`kernels/conv_gemm.c`,
 * threaded by `gemm_pool.ts`), in place on the heap:
 * - filter gradient: dW(K×O) = im2col(x)ᵀ · dy, K = KH·KW·C;
 * - input gradient: a convolution of dy with the filter's in/out channels
 *   swapped, gathering dy at (h + pad − kh) / stride (zero where that is not
 *   a whole in-range row), so no zero-inserted copy of dy is made.
 *
 * Without the kernels (`FERLAB_CONV_KERNELS=xnnpack`, for A/B timing) both
 * are expressed as forward convolutions on XNNPACK:
 *
 * - filter gradient: dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh−pt, ow·s+kw−pl, ci] · dy[b,oh,ow,co]
 *   is a conv of x transposed to [ci,H,W,B] (batch ↔ channels) with dy
 *   transposed to a [OH,OW,B,co] filter, at dilation s (the forward stride).
 * - input gradient: dx is a conv of dy (zero-inserted by the stride) with the
 *   spatially flipped filter whose in/out channels are swapped.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, free, memoryOf, runStock, type WasmBackend } from "./heap.ts";
import { ensureGemm, runParallel } from "./gemm_pool.ts";
import { transposeF32 as transpose } from "./transpose.ts";

const { backend_util } = tf;

type Pad = [[number, number], [number, number], [number, number], [number, number]];

/** A stride-1 forward conv with explicit (non-negative) padding and dilation. */
function conv(
  backend: WasmBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pad: Pad,
  dilations: [number, number] = [1, 1],
): tf.TensorInfo {
  return runStock(backend, "Conv2D", { x, filter }, {
    strides: [1, 1],
    pad,
    dilations,
    dataFormat: "NHWC",
    dimRoundingMode: undefined,
  });
}

/** Crops a NHWC tensor to `[.., h, w, ..]` from the top-left corner (no-op when it already fits). */
function cropHW(backend: WasmBackend, t: tf.TensorInfo, h: number, w: number): tf.TensorInfo {
  if (t.shape[1] === h && t.shape[2] === w) return t;
  const out = runStock(backend, "Slice", { x: t }, {
    begin: [0, 0, 0, 0],
    size: [t.shape[0], h, w, t.shape[3]],
  });
  free(backend, t);
  return out;
}

/** The forward conv's geometry from a gradient kernel's shapes and attributes (NHWC only). */
function nhwcInfo(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
): tf.backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  type Shape4 = [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== "channelsLast") throw new Error(`ferlab wasm ${kernel} supports NHWC only`);
  return info;
}

/** Whether to use our GEMM kernels (default) rather than XNNPACK convs. */
function useGemm(backend: WasmBackend): boolean {
  if (Deno.env.get("FERLAB_CONV_KERNELS") === "xnnpack") return false;
  ensureGemm(memoryOf(backend), (n) => backend.wasm._malloc(n));
  return true;
}

/** Byte offset of a tensor in the heap. */
function ptr(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** dW = im2col(x)ᵀ · dy on our kernels. */
function filterGradGemm(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { outChannels: O, filterHeight: KH, filterWidth: KW } = info;
  const dw = backend.makeOutput([KH, KW, C, O], "float32");
  runParallel("conv_filter_grad", [
    ptr(backend, x),
    ptr(backend, dy),
    ptr(backend, dw),
    ...[B, H, W, C, OH, OW, O, KH, KW, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left],
  ]);
  return dw;
}

/** Below this many input channels the GEMM's 8-wide column panels waste lanes: dot products along O instead. */
const NARROW_CHANNELS = 4;

/** dx as a conv of dy with the channel-swapped filter, on our kernels. */
function inputGradGemm(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { outChannels: O, filterHeight: KH, filterWidth: KW } = info;
  const K = KH * KW * O, packFloats = Math.ceil(C / 8) * 8 * K;
  const dx = backend.makeOutput([B, H, W, C], "float32");
  if (C < NARROW_CHANNELS) {
    runParallel("conv_input_grad_narrow", [
      ptr(backend, dy),
      ptr(backend, filter),
      ptr(backend, dx),
      ...[B, H, W, C, OH, OW, O, KH, KW, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left],
    ]);
    return dx;
  }
  const bpack = backend.wasm._malloc(packFloats * 4 + 16);
  const bp = (bpack + 15) & ~15;
  try {
    runParallel("pack_weights", [ptr(backend, filter), bp, KH * KW, O, C, 1]);
    runParallel("conv_gemm", [
      ptr(backend, dy),
      bp,
      ptr(backend, dx),
      0,
      0,
      ...[B, OH, OW, O, H, W, C, KH, KW],
      ...[1, 1, -1, -1, info.padInfo.top, info.padInfo.left, info.strideHeight, info.strideWidth],
    ]);
  } finally {
    backend.wasm._free(bpack);
  }
  return dx;
}

/** `Conv2DBackpropFilter` for wasm. */
export function conv2DBackpropFilter(
  { inputs, backend, attrs }: {
    inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const { x, dy } = inputs;
  const info = nhwcInfo(
    "Conv2DBackpropFilter",
    x.shape,
    (attrs as unknown as tf.Conv2DBackpropFilterAttrs).filterShape,
    attrs,
  );
  if (useGemm(backend)) return filterGradGemm(backend, x, dy, info);
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  const sh = info.strideHeight, sw = info.strideWidth;
  const pt = info.padInfo.top, pl = info.padInfo.left;
  // Padding at the far edge chosen so the "output" is exactly KH×KW; when the
  // forward conv ignored trailing rows (valid, stride > 1) it is negative: crop instead.
  const pb = KH + (OH - 1) * sh - H - pt, pr = KW + (OW - 1) * sw - W - pl;
  const xT = transpose(backend, x, [3, 1, 2, 0]); // [ci, H, W, B]
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [OH, OW, B, co]
  let g = conv(backend, xT, dyT, [[0, 0], [pt, Math.max(pb, 0)], [pl, Math.max(pr, 0)], [0, 0]], [sh, sw]);
  free(backend, xT, dyT);
  g = cropHW(backend, g, KH, KW); // [ci, KH, KW, co]
  const out = transpose(backend, g, [1, 2, 0, 3]);
  free(backend, g);
  return out;
}

/** Spatially flipped filter with in/out channels swapped: [KH,KW,ci,co] → [KH,KW,co,ci]. */
function flipFilter(backend: WasmBackend, w: tf.TensorInfo): tf.TensorInfo {
  const [KH, KW, C, O] = w.shape;
  const out = backend.makeOutput([KH, KW, O, C], "float32");
  const src = f32(backend, w), dst = f32(backend, out);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const s0 = (kh * KW + kw) * C * O;
      const d0 = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * O * C;
      for (let c = 0; c < C; c++) {
        for (let o = 0; o < O; o++) dst[d0 + o * C + c] = src[s0 + c * O + o];
      }
    }
  }
  return out;
}

/** Inserts (s−1) zeros between dy's rows and columns so a stride-s gradient becomes a stride-1 conv. */
function zeroInsert(backend: WasmBackend, dy: tf.TensorInfo, sh: number, sw: number): tf.TensorInfo {
  const [B, OH, OW, C] = dy.shape;
  const UH = (OH - 1) * sh + 1, UW = (OW - 1) * sw + 1;
  const out = backend.makeOutput([B, UH, UW, C], "float32");
  const src = f32(backend, dy), dst = f32(backend, out);
  dst.fill(0);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const s0 = ((b * OH + oh) * OW + ow) * C;
        dst.set(src.subarray(s0, s0 + C), ((b * UH + oh * sh) * UW + ow * sw) * C);
      }
    }
  }
  return out;
}

/** `Conv2DBackpropInput` for wasm. */
export function conv2DBackpropInput(
  { inputs, backend, attrs }: {
    inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const { dy, filter } = inputs;
  const info = nhwcInfo(
    "Conv2DBackpropInput",
    (attrs as unknown as tf.Conv2DBackpropInputAttrs).inputShape,
    filter.shape,
    attrs,
  );
  if (useGemm(backend)) return inputGradGemm(backend, dy, filter, info);
  const { inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW } = info;
  const sh = info.strideHeight, sw = info.strideWidth;
  const up = sh > 1 || sw > 1 ? zeroInsert(backend, dy, sh, sw) : dy;
  const wf = flipFilter(backend, filter);
  const pt = KH - 1 - info.padInfo.top, pl = KW - 1 - info.padInfo.left;
  const pb = H + KH - 1 - up.shape[1] - pt, pr = W + KW - 1 - up.shape[2] - pl;
  let dx = conv(backend, up, wf, [[0, 0], [pt, Math.max(pb, 0)], [pl, Math.max(pr, 0)], [0, 0]]);
  free(backend, wf);
  if (up !== dy) free(backend, up);
  dx = cropHW(backend, dx, H, W);
  return dx;
}
