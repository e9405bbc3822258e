/**
 * The browser demo's stand-ins for what sharp does in `deno task predict`:
 * graying a decoded frame and shrinking a face's square to 48×48. Plain
 * typed-array code, so that it runs in the page and can be compared with
 * sharp in Deno's tests (`tests/e2e/demo.test.ts`).
 *
 * @example
 * ```ts
 * const gray = grayFromRgba(ctx.getImageData(0, 0, w, h).data, w, h);
 * const face = resizeGray(cropRegion(gray, w, h, crop), crop.w, crop.h, 48);
 * ```
 *
 * @module
 */

/**
 * Luma of each RGBA pixel with Rec. 601's weights on the sRGB values, as
 * most grayscale conversions do (FER2013's own is not documented); a gray
 * pixel keeps its value exactly.
 */
export function grayFromRgba(rgba: ArrayLike<number>, width: number, height: number): Uint8Array {
  const n = width * height;
  if (rgba.length < 4 * n) throw new RangeError(`${rgba.length} bytes are fewer than ${width}×${height} RGBA pixels`);
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    out[i] = Math.round(0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2]);
  }
  return out;
}

/** For each output index along one axis, the first source index and its weights. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array[];
}

/**
 * Resampling weights from `from` source pixels to `to` output pixels: the
 * average over each output pixel's footprint when shrinking (bilinear
 * shrinking of a 200-pixel face to 48 would skip most pixels and alias), and
 * bilinear interpolation between pixel centres when enlarging.
 */
function taps(from: number, to: number): Taps {
  const start = new Int32Array(to), count = new Int32Array(to);
  const weights: Float32Array[] = [];
  const scale = from / to;
  for (let i = 0; i < to; i++) {
    if (scale >= 1) {
      const a = i * scale, b = (i + 1) * scale;
      const first = Math.floor(a), last = Math.min(from - 1, Math.ceil(b) - 1);
      const w = new Float32Array(last - first + 1);
      for (let s = first; s <= last; s++) w[s - first] = (Math.min(b, s + 1) - Math.max(a, s)) / scale;
      start[i] = first;
      count[i] = w.length;
      weights.push(w);
    } else {
      const x = Math.min(from - 1, Math.max(0, (i + 0.5) * scale - 0.5));
      const x0 = Math.min(from - 2, Math.floor(x));
      if (from === 1) {
        start[i] = 0;
        count[i] = 1;
        weights.push(Float32Array.of(1));
        continue;
      }
      const f = x - x0;
      start[i] = x0;
      count[i] = 2;
      weights.push(Float32Array.of(1 - f, f));
    }
  }
  return { start, count, weights };
}

/** A `width × height` gray image resized to `size × size` (rows, then columns; see {@link taps}). */
export function resizeGray(src: Uint8Array, width: number, height: number, size: number): Uint8Array {
  if (src.length !== width * height) throw new RangeError(`${src.length} bytes are not a ${width}×${height} image`);
  const tx = taps(width, size), ty = taps(height, size);
  const rows = new Float32Array(height * size);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < size; i++) {
      let v = 0;
      const w = tx.weights[i], o = y * width + tx.start[i];
      for (let k = 0; k < tx.count[i]; k++) v += w[k] * src[o + k];
      rows[y * size + i] = v;
    }
  }
  const out = new Uint8Array(size * size);
  for (let j = 0; j < size; j++) {
    const w = ty.weights[j];
    for (let i = 0; i < size; i++) {
      let v = 0;
      for (let k = 0; k < ty.count[j]; k++) v += w[k] * rows[(ty.start[j] + k) * size + i];
      out[j * size + i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return out;
}
