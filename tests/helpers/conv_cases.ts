/**
 * Convolution cases for comparing kernel sets with TF.js's reference cpu
 * backend: odd sizes, strides, paddings, few channels, 1×1 maps.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { Rng } from "../../lib/rng.ts";

export type Shape4 = [number, number, number, number];

export function randArray(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Error relative to the output's scale: sums of thousands of terms round differently in another order. */
export function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0, at = -1, scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / scale;
    if (e > worst) [worst, at] = [e, i];
  }
  assert.ok(worst <= tol, `${what}: max rel error ${worst} at ${at} (wasm ${a[at]} vs cpu ${b[at]})`);
}

/** Forward output and the gradients of Σ conv·dy w.r.t. x and w (and bias), on one backend. */
export async function convOn(
  backend: string,
  x: Float32Array,
  xs: Shape4,
  w: Float32Array,
  ws: Shape4,
  dy: Float32Array,
  stride: number,
  pad: "same" | "valid",
  fused?: { bias: Float32Array; activation: "linear" | "relu" | "leakyrelu" | "relu6" },
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const xt = tf.tensor4d(x, xs), wt = tf.tensor4d(w, ws);
  const bt = fused ? tf.tensor1d(fused.bias) : undefined;
  const conv = (a: tf.Tensor4D, b: tf.Tensor4D, c?: tf.Tensor) =>
    fused
      ? tf.fused.conv2d({
        x: a,
        filter: b,
        strides: stride,
        pad,
        bias: c,
        activation: fused.activation,
        leakyreluAlpha: 0.1,
      })
      : tf.conv2d(a, b, stride, pad);
  const y = conv(xt, wt, bt);
  const dyt = tf.tensor(dy, y.shape);
  const ins = bt ? [xt, wt, bt] : [xt, wt];
  const grads = tf.grads((...v: tf.Tensor[]) =>
    tf.sum(tf.mul(conv(v[0] as tf.Tensor4D, v[1] as tf.Tensor4D, v[2]), dyt))
  )(
    ins,
  );
  const out = await Promise.all([y, ...grads].map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([xt, wt, y, dyt, ...grads, ...(bt ? [bt] : [])]);
  return out;
}

/** [x shape, filter shape, stride, padding]: odd sizes, channels that are not multiples of 4, batch 1, 1×1 maps. */
export const CASES: [Shape4, Shape4, number, "same" | "valid"][] = [
  [[1, 1, 1, 5], [1, 1, 5, 7], 1, "same"], // 1×1 map, 1×1 kernel, batch 1
  [[1, 1, 1, 6], [3, 3, 6, 5], 1, "same"], // 1×1 map, every tap but the centre in the padding
  [[1, 9, 7, 5], [3, 3, 5, 7], 2, "same"],
  [[2, 9, 7, 13], [3, 3, 13, 9], 2, "valid"],
  [[2, 8, 8, 3], [2, 2, 3, 5], 2, "valid"], // even kernel
  [[2, 7, 7, 2], [3, 3, 2, 6], 1, "same"], // few input channels: our forward and the narrow input gradient
  [[3, 10, 9, 1], [5, 5, 1, 4], 2, "same"], // a first layer, stride 2
  [[1, 6, 6, 9], [3, 3, 9, 70], 1, "same"], // input gradient's K = 630: two K blocks
  [[8, 24, 24, 16], [3, 3, 16, 16], 1, "same"], // filter gradient over several M chunks
];
