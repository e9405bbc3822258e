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
import { at, f32, memoryOf, type WasmBackend } from "./heap.ts";
import { runRows, scratch } from "./parallel.ts";
import { COEF, K, MAX_CHANNELS } from "./row_kernels.ts";

/** Adds the per-part partial sums (two arrays of C) the stats kernels left in scratch. */
function sumParts(parts: number, C: number): [Float64Array, Float64Array] {
  const s1 = new Float64Array(C), s2 = new Float64Array(C);
  for (let p = 0; p < parts; p++) {
    const o = p * 4 * MAX_CHANNELS;
    for (let c = 0; c < C; c++) {
      s1[c] += scratch[o + c];
      s2[c] += scratch[o + MAX_CHANNELS + c];
    }
  }
  return [s1, s2];
}

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
  if (C > MAX_CHANNELS) throw new Error(`ferlab batch norm supports up to ${MAX_CHANNELS} channels, got ${C}`);
  const y = backend.makeOutput(x.shape, "float32");
  const mean = backend.makeOutput([C], "float32");
  const variance = backend.makeOutput([C], "float32");
  const mem = memoryOf(backend);
  const parts = runRows(mem, K.bnStats, [at(backend, x), N, C], N, C);
  const X = f32(backend, x), G = f32(backend, gamma), Bt = f32(backend, beta);
  const M = f32(backend, mean), V = f32(backend, variance);
  const [s1, s2] = sumParts(parts, C);
  // Shifted sums (shift = first row) keep E[x²]−E[x]² accurate when |mean| ≫ std.
  for (let c = 0; c < C; c++) {
    const m1 = s1[c] / N;
    const v = Math.max(s2[c] / N - m1 * m1, 0);
    M[c] = X[c] + m1;
    V[c] = v;
    const scale = G[c] / Math.sqrt(v + attrs.epsilon);
    scratch[COEF + c] = scale;
    scratch[COEF + MAX_CHANNELS + c] = Bt[c] - M[c] * scale;
  }
  runRows(mem, K.affine, [at(backend, x), at(backend, y), N, C], N, C);
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
  const mem = memoryOf(backend);
  const parts = runRows(mem, K.bnGradSums, [at(backend, dy), at(backend, x), at(backend, mean), N, C], N, C);
  const M = f32(backend, mean), V = f32(backend, variance);
  const G = f32(backend, gamma), DG = f32(backend, dgamma), DB = f32(backend, dbeta);
  const [sdy, sdyx] = sumParts(parts, C);
  // dx = γ·inv/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), with x̂ = (x−μ)·inv, as A·dy − K·x − B per channel
  const A = COEF, Kc = COEF + MAX_CHANNELS, B = COEF + 2 * MAX_CHANNELS;
  for (let c = 0; c < C; c++) {
    const inv = 1 / Math.sqrt(V[c] + attrs.epsilon);
    DB[c] = sdy[c];
    DG[c] = sdyx[c] * inv;
    const k = (G[c] * inv * inv * inv * sdyx[c]) / N;
    scratch[A + c] = G[c] * inv;
    scratch[Kc + c] = k;
    scratch[B + c] = (G[c] * inv * sdy[c]) / N - k * M[c];
  }
  runRows(mem, K.bnGradApply, [at(backend, dy), at(backend, x), at(backend, dx), N, C], N, C);
  return [dx, dgamma, dbeta];
}
