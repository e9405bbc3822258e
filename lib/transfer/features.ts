/**
 * Backbone features computed once per image and cached, so that training a
 * new head on a frozen backbone costs a pass over the data, not one per
 * epoch. The cache is a flat `Float32Array` (rows × dim) kept in memory and,
 * when a path is given, on disk under a key that names the backbone, input
 * size, data and rows, so a resumed or repeated run skips the extraction.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname } from "node:path";
import { batchBounds, toImageTensor, type TrainData } from "../data/batches.ts";
import { fitToInput } from "../data/crops.ts";
import { inputSide } from "../models/input_spec.ts";
import { hashRows } from "../train/checkpoint.ts";
import { UserError } from "../errors.ts";

/** One error class for this module. */
export class FeatureCacheError extends UserError {}

/** Features of a set of data rows. */
export interface FeatureCache {
  dim: number;
  /** Data-set rows, in cache order. */
  rows: Int32Array;
  /** `rows.length × dim` features. */
  values: Float32Array;
  /** Data-set row → position in `rows`. */
  index: Map<number, number>;
}

/** Options of {@link computeFeatures}. */
export interface FeatureOptions {
  batchSize: number;
  /** Side of the stored images (48 for FER2013). */
  imageSize: number;
  /** Called after each batch with images done and total. */
  onProgress?: (done: number, total: number) => void;
}

function indexOf(rows: Int32Array): Map<number, number> {
  return new Map(Array.from(rows, (r, i) => [r, i]));
}

/**
 * Runs `features` (inference mode) over `rows`, one batch at a time; only
 * the batch in flight exists as an upsampled tensor. A crop model's features
 * are those of the centre crop, as it is scored without TTA.
 */
export async function computeFeatures(
  features: tf.LayersModel,
  data: TrainData,
  rows: ArrayLike<number>,
  opts: FeatureOptions,
): Promise<FeatureCache> {
  const dim = features.outputs[0].shape[1] as number;
  const side = inputSide(features);
  const list = Int32Array.from(rows);
  const values = new Float32Array(list.length * dim);
  for (const [s, e] of batchBounds(list.length, opts.batchSize)) {
    const f = tf.tidy(() =>
      features.predict(fitToInput(toImageTensor(data.pixels, list, s, e, opts.imageSize), side)) as tf.Tensor
    );
    values.set(await f.data() as Float32Array, s * dim);
    f.dispose();
    opts.onProgress?.(e, list.length);
  }
  return { dim, rows: list, values, index: indexOf(list) };
}

/** Features of `rows[start..end)` as a `[b, dim]` tensor. */
export function featureBatch(cache: FeatureCache, rows: ArrayLike<number>, start: number, end: number): tf.Tensor2D {
  const out = new Float32Array((end - start) * cache.dim);
  for (let i = start; i < end; i++) {
    const at = cache.index.get(rows[i]);
    if (at === undefined) throw new FeatureCacheError(`row ${rows[i]} is not in the feature cache`);
    out.set(cache.values.subarray(at * cache.dim, (at + 1) * cache.dim), (i - start) * cache.dim);
  }
  return tf.tensor2d(out, [end - start, cache.dim]);
}

/** A cache key from what determines the features (`crop`: a crop model's input side; whole faces keep the old key). */
export function featureKey(
  parts: { backbone: string; size: number; data: string; rows: ArrayLike<number>; crop?: number },
): string {
  const safe = parts.backbone.replace(/[^A-Za-z0-9._-]+/g, "_");
  const crop = parts.crop === undefined ? "" : `-crop${parts.crop}`;
  return `${safe}-${parts.size}${crop}-${parts.data}-${hashRows(parts.rows)}`;
}

const MAGIC = "ferlab-features-v1";

/** Writes a cache as a JSON header line followed by rows (int32) and values (float32); atomic via rename. */
export async function saveFeatureCache(path: string, cache: FeatureCache): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const header = new TextEncoder().encode(
    JSON.stringify({ magic: MAGIC, dim: cache.dim, n: cache.rows.length }) + "\n",
  );
  const pad = (4 - (header.length % 4)) % 4;
  const buf = new Uint8Array(header.length + pad + cache.rows.byteLength + cache.values.byteLength);
  buf.set(header);
  buf.fill(0x20, header.length, header.length + pad);
  buf.set(new Uint8Array(cache.rows.buffer, cache.rows.byteOffset, cache.rows.byteLength), header.length + pad);
  buf.set(
    new Uint8Array(cache.values.buffer, cache.values.byteOffset, cache.values.byteLength),
    header.length + pad + cache.rows.byteLength,
  );
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, buf);
  await Deno.rename(tmp, path);
}

/** Reads a cache written by {@link saveFeatureCache}; null if the file does not exist. */
export async function loadFeatureCache(path: string): Promise<FeatureCache | null> {
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const nl = buf.indexOf(10);
  let header: { magic: string; dim: number; n: number };
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(0, nl)));
  } catch {
    throw new FeatureCacheError(`${path}: not a ferlab feature cache (bad header); delete it to recompute`);
  }
  const start = Math.ceil((nl + 1) / 4) * 4;
  const want = start + header.n * 4 * (1 + header.dim);
  if (header.magic !== MAGIC || buf.length !== want) {
    throw new FeatureCacheError(
      `${path}: truncated or foreign feature cache (${buf.length} bytes, expected ${want}); delete it`,
    );
  }
  const copy = buf.slice(start).buffer;
  const rows = new Int32Array(copy, 0, header.n);
  const values = new Float32Array(copy, header.n * 4, header.n * header.dim);
  return { dim: header.dim, rows, values, index: indexOf(rows) };
}

/**
 * The features of `rows`: read from `path` when it holds them, else computed
 * once and saved there (no path: computed, not saved).
 */
export async function cachedFeatures(
  path: string | null,
  features: tf.LayersModel,
  data: TrainData,
  rows: ArrayLike<number>,
  opts: FeatureOptions,
): Promise<{ cache: FeatureCache; computed: boolean; seconds: number }> {
  const t0 = performance.now();
  const found = path ? await loadFeatureCache(path) : null;
  if (found && found.rows.length === rows.length && found.rows.every((r, i) => r === rows[i])) {
    return { cache: found, computed: false, seconds: (performance.now() - t0) / 1000 };
  }
  const cache = await computeFeatures(features, data, rows, opts);
  if (path) await saveFeatureCache(path, cache);
  return { cache, computed: true, seconds: (performance.now() - t0) / 1000 };
}
