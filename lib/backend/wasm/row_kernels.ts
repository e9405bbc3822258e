/**
 * The loops of ferlab's JS kernels, written over a range of rows so that the
 * main thread and a helper worker can each run half (see `parallel.ts`).
 * Everything here reads and writes the wasm heap through fresh views.
 * (Batch norm, LeakyReLU and the 2×2 pooling gradient moved to wasm SIMD:
 * `kernels/conv_gemm.c`.)
 *
 * @module
 */

/** Views of the heap a kernel range works on. */
export interface Views {
  f32: Float32Array;
  i32: Int32Array;
}

/** A kernel over rows [r0, r1) of part `p`; `a` holds its arguments (heap offsets in float32 elements). */
export type RowKernel = (v: Views, a: Float64Array, r0: number, r1: number) => void;

/**
 * Rank-4 transpose keeping the last axis: output index (i0, i1, i2, c) reads
 * input run at i0·s0 + i1·s1 + i2·s2, over i0 in [r0, r1).
 * a = [src, dst, n0, n1, n2, s0, s1, s2, run].
 */
function transposeRuns(v: Views, a: Float64Array, r0: number, r1: number): void {
  const F = v.f32, src = a[0], dst = a[1], n1 = a[3], n2 = a[4], s0 = a[5], s1 = a[6], s2 = a[7], run = a[8];
  let d = dst + r0 * n1 * n2 * run;
  for (let i0 = r0; i0 < r1; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      let s = src + i0 * s0 + i1 * s1;
      for (let i2 = 0; i2 < n2; i2++, s += s2) {
        for (let c = 0; c < run; c++) F[d++] = F[s + c];
      }
    }
  }
}

/** Kernels by id (the id crosses to the worker). */
export const ROW_KERNELS: RowKernel[] = [transposeRuns];
/** Kernel ids. */
export const K = { transposeRuns: 0 } as const;
