/**
 * Fused batch-norm training kernels for wasm: one kernel for the forward pass
 * (batch statistics and normalized output) and one for the backward pass (all
 * three gradients). Composed from TF.js ops, batch norm's training step is
 * some twenty full passes over the activation per layer (moments, broadcast
 * tiles, the gradients of mean, square and subtract); fused it is four.
 *
 * Layout: x is [..., C] with statistics over every axis but the last.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { f32, type WasmBackend } from "./heap.ts";

/** Kernel names (shared with the op in lib/models/batch_norm.ts). */
export const BN_FORWARD = "FerlabBatchNormTrain";
export const BN_BACKWARD = "FerlabBatchNormTrainGrad";

/** Forward: outputs [y, mean, variance] (biased variance, as tf.moments). */
export function batchNormTrain(
  { inputs, backend, attrs }: {
    inputs: { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
    backend: WasmBackend;
    attrs: { epsilon: number };
  },
): tf.TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const C = x.shape[x.shape.length - 1];
  const N = x.shape.reduce((a, b) => a * b, 1) / C;
  const y = backend.makeOutput(x.shape, "float32");
  const mean = backend.makeOutput([C], "float32");
  const variance = backend.makeOutput([C], "float32");
  const X = f32(backend, x), Y = f32(backend, y), G = f32(backend, gamma), Bt = f32(backend, beta);
  const M = f32(backend, mean), V = f32(backend, variance);
  const s1 = new Float64Array(C), s2 = new Float64Array(C);
  // Shifted sums (shift = first row) keep E[x²]−E[x]² accurate when |mean| ≫ std.
  const shift = X.slice(0, C);
  for (let r = 0; r < N; r++) {
    const o = r * C;
    for (let c = 0; c < C; c++) {
      const d = X[o + c] - shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
  const scale = new Float32Array(C), offset = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const m1 = s1[c] / N;
    const v = Math.max(s2[c] / N - m1 * m1, 0);
    M[c] = shift[c] + m1;
    V[c] = v;
    scale[c] = G[c] / Math.sqrt(v + attrs.epsilon);
    offset[c] = Bt[c] - M[c] * scale[c];
  }
  for (let r = 0; r < N; r++) {
    const o = r * C;
    for (let c = 0; c < C; c++) Y[o + c] = X[o + c] * scale[c] + offset[c];
  }
  return [y, mean, variance];
}

/** Backward: outputs [dx, dgamma, dbeta] given dy, x, the batch mean/variance and gamma. */
export function batchNormTrainGrad(
  { inputs, backend, attrs }: {
    inputs: { dy: tf.TensorInfo; x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; gamma: tf.TensorInfo };
    backend: WasmBackend;
    attrs: { epsilon: number };
  },
): tf.TensorInfo[] {
  const { dy, x, mean, variance, gamma } = inputs;
  const C = x.shape[x.shape.length - 1];
  const N = x.shape.reduce((a, b) => a * b, 1) / C;
  const dx = backend.makeOutput(x.shape, "float32");
  const dgamma = backend.makeOutput([C], "float32");
  const dbeta = backend.makeOutput([C], "float32");
  const DY = f32(backend, dy), X = f32(backend, x), M = f32(backend, mean), V = f32(backend, variance);
  const G = f32(backend, gamma), DX = f32(backend, dx), DG = f32(backend, dgamma), DB = f32(backend, dbeta);
  const inv = new Float32Array(C);
  for (let c = 0; c < C; c++) inv[c] = 1 / Math.sqrt(V[c] + attrs.epsilon);
  const sdy = new Float64Array(C), sdyx = new Float64Array(C);
  for (let r = 0; r < N; r++) {
    const o = r * C;
    for (let c = 0; c < C; c++) {
      const g = DY[o + c];
      sdy[c] += g;
      sdyx[c] += g * (X[o + c] - M[c]);
    }
  }
  // dx = γ·inv/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), with x̂ = (x−μ)·inv
  const a = new Float32Array(C), b = new Float32Array(C), k = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    DB[c] = sdy[c];
    DG[c] = sdyx[c] * inv[c];
    a[c] = G[c] * inv[c]; // coefficient of dy
    k[c] = (G[c] * inv[c] * inv[c] * inv[c] * sdyx[c]) / N; // coefficient of (x−μ)
    b[c] = (G[c] * inv[c] * sdy[c]) / N - k[c] * M[c]; // constant, with −k·(−μ) folded in
  }
  for (let r = 0; r < N; r++) {
    const o = r * C;
    for (let c = 0; c < C; c++) DX[o + c] = a[c] * DY[o + c] - k[c] * X[o + c] - b[c];
  }
  return [dx, dgamma, dbeta];
}
