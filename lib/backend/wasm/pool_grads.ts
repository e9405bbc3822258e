/**
 * `MaxPoolGrad` for wasm: route each output gradient to the first maximal
 * input of its window (the rule TF.js's cpu backend uses). The stock kernel
 * runs several times slower than this on pool 2×2 layers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, type WasmBackend } from "./heap.ts";
import { ensureGemmFor, gemmParts, MIN_SPLIT_WORK, runParallel } from "./gemm_pool.ts";

/** `MaxPoolGrad` for wasm (NHWC, float32). */
export function maxPoolGrad(
  { inputs, backend, attrs }: {
    inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo };
    backend: WasmBackend;
    attrs: Record<string, unknown>;
  },
): tf.TensorInfo {
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top, pl = info.padInfo.left;
  ensureGemmFor(backend); // before taking heap views: loading the kernels may grow the heap
  const dx = backend.makeOutput(input.shape, "float32");
  const X = f32(backend, input), DY = f32(backend, dy), DX = f32(backend, dx);
  if (KH === 2 && KW === 2 && sh === 2 && sw === 2 && pt === 0 && pl === 0) {
    // rows/columns past the last full window (odd H or W) get no gradient
    if (H !== 2 * OH || W !== 2 * OW) DX.fill(0);
    const ptr = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
    const args = [ptr(input), ptr(dy), ptr(dx), B, H, W, C, OH, OW];
    runParallel("pool2x2_grad", args, gemmParts(B * OH * OW * C * 4 < MIN_SPLIT_WORK ? 1 : Infinity));
    return dx;
  }
  DX.fill(0);
  const best = new Float32Array(C), where = new Int32Array(C);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        best.fill(-Infinity);
        where.fill(-1);
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw - pl;
            if (iw < 0 || iw >= W) continue;
            const base = ((b * H + ih) * W + iw) * C;
            for (let c = 0; c < C; c++) {
              const v = X[base + c];
              if (v > best[c]) {
                best[c] = v;
                where[c] = base + c;
              }
            }
          }
        }
        const o = ((b * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) if (where[c] >= 0) DX[where[c]] += DY[o + c];
      }
    }
  }
  return dx;
}
