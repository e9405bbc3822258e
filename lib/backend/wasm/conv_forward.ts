/**
 * Forward Conv2D / FusedConv2D for wasm: layers with few input channels (the
 * first conv on grayscale faces) run on ferlab's GEMM kernels, where
 * XNNPACK's conv reaches about 1 GFLOPS; every other conv stays on XNNPACK,
 * which is as fast as ours there.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { memoryOf, runStock, sizeOf, type WasmBackend } from "./heap.ts";
import { ensureGemm, runParallel } from "./gemm_pool.ts";

const { backend_util } = tf;

/** Below this many input channels our GEMM beats XNNPACK's forward conv (measured: bench/kernels.ts). */
export const OWN_FORWARD_MAX_CHANNELS = 8;

type Shape4 = [number, number, number, number];

function convInfo(x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.Conv2DAttrs): tf.backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}

function ours(info: tf.backend_util.Conv2DInfo): boolean {
  return info.dataFormat === "channelsLast" && info.inChannels < OWN_FORWARD_MAX_CHANNELS &&
    Deno.env.get("FERLAB_CONV_KERNELS") !== "xnnpack";
}

/** Runs the conv on our kernels: out = act(conv(x, w) + bias). */
function gemmConv(
  backend: WasmBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  relu: boolean,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  ensureGemm(memoryOf(backend), (n) => backend.wasm._malloc(n));
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { outChannels: O, filterHeight: KH, filterWidth: KW } = info;
  const out = backend.makeOutput([B, OH, OW, O], "float32");
  const ptr = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  const packBytes = Math.ceil(O / 8) * 8 * KH * KW * C * 4;
  const raw = backend.wasm._malloc(packBytes + 16);
  const bp = (raw + 15) & ~15;
  try {
    runParallel("pack_weights", [ptr(filter), bp, KH * KW, C, O, 0]);
    runParallel("conv_gemm", [
      ptr(x),
      bp,
      ptr(out),
      bias ? ptr(bias) : 0,
      relu ? 1 : 0,
      ...[B, H, W, C, OH, OW, O, KH, KW],
      ...[info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth],
      ...[-info.padInfo.top, -info.padInfo.left, 1, 1],
    ]);
  } finally {
    backend.wasm._free(raw);
  }
  return out;
}

/** `Conv2D` for wasm. */
export function conv2D(
  { inputs, backend, attrs }: {
    inputs: { x: tf.TensorInfo; filter: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const info = convInfo(inputs.x, inputs.filter, attrs as unknown as tf.Conv2DAttrs);
  if (!ours(info)) return runStock(backend, "Conv2D", inputs, attrs);
  return gemmConv(backend, inputs.x, inputs.filter, undefined, false, info);
}

/** `FusedConv2D` for wasm (bias and linear/relu activation on ours, anything else on stock). */
export function fusedConv2D(
  { inputs, backend, attrs }: {
    inputs: { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const { x, filter, bias, preluActivationWeights } = inputs;
  const info = convInfo(x, filter, attrs as unknown as tf.Conv2DAttrs);
  const activation = (attrs.activation ?? "linear") as string;
  const simple = (activation === "linear" || activation === "relu") && !preluActivationWeights &&
    (!bias || sizeOf(bias.shape) === info.outChannels);
  if (!simple || !ours(info)) return runStock(backend, "FusedConv2D", inputs as Record<string, tf.TensorInfo>, attrs);
  return gemmConv(backend, x, filter, bias, activation === "relu", info);
}
