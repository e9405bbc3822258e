/**
 * The loops of ferlab's JS kernels, written over a range of rows so that the
 * main thread and a helper worker can each run half (see `parallel.ts`).
 * Everything here reads and writes the wasm heap through fresh views.
 * (Batch norm's loops moved to wasm SIMD: `kernels/conv_gemm.c`.)
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
 * 1 when the float32 with these bits is ≤ 0 (±0 included), else 0 — without
 * a branch: activations' signs are random, and a mispredicted branch per
 * element made the plain `x > 0 ? … : …` loop five times slower.
 */
function notPositive(bits: number): number {
  return ((bits - 1) >>> 31) | (bits >>> 31);
}

/** y = x > 0 ? x : αx over elements [r0, r1). a = [x, y, n, α]. */
function leaky(v: Views, a: Float64Array, r0: number, r1: number): void {
  const F = v.f32, I = v.i32, x = a[0], y = a[1];
  const coef = new Float32Array([1, a[3]]);
  for (let i = r0; i < r1; i++) F[y + i] = F[x + i] * coef[notPositive(I[x + i])];
}

/** dx = x > 0 ? dy : α·dy over elements [r0, r1). a = [dy, x, dx, n, α]. */
function leakyGrad(v: Views, a: Float64Array, r0: number, r1: number): void {
  const F = v.f32, I = v.i32, dy = a[0], x = a[1], dx = a[2];
  const coef = new Float32Array([1, a[4]]);
  for (let i = r0; i < r1; i++) F[dx + i] = F[dy + i] * coef[notPositive(I[x + i])];
}

/**
 * 2×2 stride-2 max-pool gradient over output rows [r0, r1) (row = b·OH + oh):
 * each output gradient goes to the first maximum of its window in scan order,
 * the cpu backend's rule. Rows or columns past the last full window (odd H
 * or W) are not written: the caller zeroes dx first in that case.
 * a = [x, dy, dx, H, W, C, OH, OW].
 */
function pool2x2Grad(v: Views, a: Float64Array, r0: number, r1: number): void {
  const F = v.f32, x = a[0], dy = a[1], dx = a[2], H = a[3], W = a[4], C = a[5], OH = a[6], OW = a[7];
  const row = W * C;
  for (let r = r0; r < r1; r++) {
    const b = Math.floor(r / OH), oh = r - b * OH;
    for (let ow = 0; ow < OW; ow++) {
      const p00 = ((b * H + 2 * oh) * W + 2 * ow) * C, p01 = p00 + C, p10 = p00 + row, p11 = p10 + C;
      const o = dy + ((b * OH + oh) * OW + ow) * C;
      for (let c = 0; c < C; c++) {
        const v00 = F[x + p00 + c], v01 = F[x + p01 + c], v10 = F[x + p10 + c], v11 = F[x + p11 + c];
        const g = F[o + c];
        let m = v00, k = 0;
        if (v01 > m) (m = v01), (k = 1);
        if (v10 > m) (m = v10), (k = 2);
        if (v11 > m) k = 3;
        F[dx + p00 + c] = k === 0 ? g : 0;
        F[dx + p01 + c] = k === 1 ? g : 0;
        F[dx + p10 + c] = k === 2 ? g : 0;
        F[dx + p11 + c] = k === 3 ? g : 0;
      }
    }
  }
}

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
export const ROW_KERNELS: RowKernel[] = [
  leaky,
  leakyGrad,
  pool2x2Grad,
  transposeRuns,
];
/** Kernel ids. */
export const K = {
  leaky: 0,
  leakyGrad: 1,
  pool2x2Grad: 2,
  transposeRuns: 3,
} as const;
