/**
 * `Tile` for wasm by block copies. The stock kernel computes an index per
 * element; batch-norm's gradient tiles a [1,1,1,C] vector to the full
 * activation shape, which cost more than the convolutions.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, runStock, sizeOf, type WasmBackend } from "./heap.ts";

/** `Tile` for wasm (float32; other dtypes use the stock kernel). */
export function tile(
  { inputs, backend, attrs }: { inputs: { x: tf.TensorInfo }; backend: WasmBackend; attrs: Record<string, unknown> },
): tf.TensorInfo {
  const { x } = inputs;
  const { reps } = attrs as unknown as tf.TileAttrs;
  if (x.dtype !== "float32") return runStock(backend, "Tile", { x }, attrs);
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, "float32");
  const src = f32(backend, x), dst = f32(backend, out);
  // Build from the innermost axis outwards: after axis d is done, each
  // [shape[d]*reps[d] * innerOut] slab is final, so an outer axis only copies slabs.
  // `buf` holds the current partially tiled array, [outerIn..., tiled inner...].
  let buf: Float32Array = src.slice();
  let inner = 1; // size of the already-tiled inner block
  for (let d = rank - 1; d >= 0; d--) {
    const n = x.shape[d], r = reps[d];
    const outer = sizeOf(x.shape.slice(0, d));
    const block = n * inner; // one source slab along axis d
    if (r !== 1) {
      const next = new Float32Array(outer * block * r);
      for (let o = 0; o < outer; o++) {
        const s = buf.subarray(o * block, (o + 1) * block);
        const base = o * block * r;
        next.set(s, base);
        // doubling copy: few large memmoves instead of r small ones
        let filled = block;
        while (filled < block * r) {
          const len = Math.min(filled, block * r - filled);
          next.copyWithin(base + filled, base, base + len);
          filled += len;
        }
      }
      buf = next;
    }
    inner = block * r;
  }
  dst.set(buf);
  return out;
}
