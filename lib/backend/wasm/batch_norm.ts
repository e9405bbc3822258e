/**
 * Fused batch-norm training kernels for wasm: one kernel for the forward pass
 * (batch statistics and normalized output) and one for the backward pass (all
 * three gradients). Composed from TF.js ops, batch norm's training step is
 * some twenty full passes over the activation per layer (moments, broadcast
 * tiles, the gradients of mean, square and subtract); fused it is four, each
 * a wasm SIMD loop (`kernels/conv_gemm.c`) split across the conv kernels'
 * threads.
 *
 * Layout: x is [..., C] with statistics over every axis but the last.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { f32, memoryOf, type WasmBackend } from "./heap.ts";
import { ensureGemm, gemmParts, MIN_SPLIT_WORK, runParallel } from "./gemm_pool.ts";

/** Kernel names (shared with the op in lib/models/batch_norm.ts). */
export const BN_FORWARD = "FerlabBatchNormTrain";
export const BN_BACKWARD = "FerlabBatchNormTrainGrad";

/** Byte offset of a tensor in the heap. */
function ptr(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/**
 * Runs a per-channel sums kernel (`bn_stats` or `bn_grad_sums`, wasm SIMD,
 * rows split across threads) and returns the float64 sums added over parts.
 */
function channelSums(
  backend: WasmBackend,
  kernel: "bn_stats" | "bn_grad_sums",
  args: number[],
  N: number,
  C: number,
): [Float64Array, Float64Array] {
  const parts = gemmParts(N * C < MIN_SPLIT_WORK ? 1 : N);
  const raw = backend.wasm._malloc(parts * 2 * C * 8 + 8);
  try {
    const base = (raw + 7) & ~7;
    runParallel(kernel, [...args, N, C, base], parts);
    const p = new Float64Array(memoryOf(backend).buffer, base, parts * 2 * C);
    const s1 = new Float64Array(C), s2 = new Float64Array(C);
    for (let q = 0; q < parts; q++) {
      for (let c = 0; c < C; c++) s1[c] += p[q * 2 * C + c], s2[c] += p[q * 2 * C + C + c];
    }
    return [s1, s2];
  } finally {
    backend.wasm._free(raw);
  }
}

/** out = coef[c]·a − coef[C+c]·b − coef[2C+c] on wasm SIMD; `fill` writes the 3·C coefficients. */
function applyChannels(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo | null,
  out: tf.TensorInfo,
  N: number,
  C: number,
  fill: (coef: Float32Array) => void,
): void {
  const raw = backend.wasm._malloc(3 * C * 4 + 16);
  try {
    const coef = (raw + 15) & ~15;
    fill(new Float32Array(memoryOf(backend).buffer, coef, 3 * C));
    runParallel(
      "bn_apply",
      [ptr(backend, a), b ? ptr(backend, b) : 0, ptr(backend, out), coef, N, C],
      gemmParts(
        N * C < MIN_SPLIT_WORK ? 1 : N,
      ),
    );
  } finally {
    backend.wasm._free(raw);
  }
}

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
  ensureGemm(memoryOf(backend), (n) => backend.wasm._malloc(n));
  const y = backend.makeOutput(x.shape, "float32");
  const mean = backend.makeOutput([C], "float32");
  const variance = backend.makeOutput([C], "float32");
  const [s1, s2] = channelSums(backend, "bn_stats", [ptr(backend, x)], N, C);
  applyChannels(backend, x, null, y, N, C, (coef) => {
    const X = f32(backend, x), G = f32(backend, gamma), Bt = f32(backend, beta);
    const M = f32(backend, mean), V = f32(backend, variance);
    // Shifted sums (shift = first row) keep E[x²]−E[x]² accurate when |mean| ≫ std.
    for (let c = 0; c < C; c++) {
      const m1 = s1[c] / N;
      const v = Math.max(s2[c] / N - m1 * m1, 0);
      M[c] = X[c] + m1;
      V[c] = v;
      const scale = G[c] / Math.sqrt(v + attrs.epsilon);
      coef[c] = scale;
      coef[C + c] = 0;
      coef[2 * C + c] = M[c] * scale - Bt[c];
    }
  });
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
  ensureGemm(memoryOf(backend), (n) => backend.wasm._malloc(n));
  const dx = backend.makeOutput(x.shape, "float32");
  const dgamma = backend.makeOutput([C], "float32");
  const dbeta = backend.makeOutput([C], "float32");
  const [sdy, sdyx] = channelSums(
    backend,
    "bn_grad_sums",
    [ptr(backend, dy), ptr(backend, x), ptr(backend, mean)],
    N,
    C,
  );
  // dx = γ·inv/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), with x̂ = (x−μ)·inv, as A·dy − K·x − B per channel
  applyChannels(backend, dy, x, dx, N, C, (coef) => {
    const M = f32(backend, mean), V = f32(backend, variance);
    const G = f32(backend, gamma), DG = f32(backend, dgamma), DB = f32(backend, dbeta);
    for (let c = 0; c < C; c++) {
      const inv = 1 / Math.sqrt(V[c] + attrs.epsilon);
      DB[c] = sdy[c];
      DG[c] = sdyx[c] * inv;
      const k = (G[c] * inv * inv * inv * sdyx[c]) / N;
      coef[c] = G[c] * inv;
      coef[C + c] = k;
      coef[2 * C + c] = (G[c] * inv * sdy[c]) / N - k * M[c];
    }
  });
  return [dx, dgamma, dbeta];
}
