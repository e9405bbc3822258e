/**
 * Transposes that keep the innermost axis in place, done as contiguous run
 * copies. The conv gradients move the batch axis next to the channels every
 * step; the stock kernel's element-wise index walk made that as slow as a conv.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { at, memoryOf, runStock, type WasmBackend } from "./heap.ts";
import { runRows } from "./parallel.ts";
import { K } from "./row_kernels.ts";

/** Transposes a float32 tensor; uses run copies when `perm` keeps the last axis last. */
export function transposeF32(backend: WasmBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  const rank = x.shape.length;
  if (x.dtype !== "float32" || rank > 4 || perm[rank - 1] !== rank - 1) {
    return runStock(backend, "Transpose", { x }, { perm });
  }
  // Pad to rank 4 with leading unit axes so one triple loop covers every case.
  const lead = 4 - rank;
  const shape = [...new Array(lead).fill(1), ...x.shape];
  const p = [...Array.from({ length: lead }, (_, i) => i), ...perm.map((a) => a + lead)];
  const run = shape[3];
  const stride = [shape[1] * shape[2] * run, shape[2] * run, run];
  const [n0, n1, n2] = [shape[p[0]], shape[p[1]], shape[p[2]]];
  const [s0, s1, s2] = [stride[p[0]], stride[p[1]], stride[p[2]]];
  const out = backend.makeOutput(perm.map((a) => x.shape[a]), "float32");
  runRows(
    memoryOf(backend),
    K.transposeRuns,
    [at(backend, x), at(backend, out), n0, n1, n2, s0, s1, s2, run],
    n0,
    n1 * n2 * run,
  );
  return out;
}
