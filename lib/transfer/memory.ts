/**
 * Memory as a run sees it: the process's resident set (what the OS kills
 * for), the wasm heap (TF.js wasm tensors live there; it only grows), and
 * the bytes TF.js itself holds in tensors.
 *
 * @module
 */
import { dirname } from "node:path";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import * as tf from "@tensorflow/tfjs";

/** One reading. */
export interface MemorySample {
  rssBytes: number;
  wasmHeapBytes: number;
  tensorBytes: number;
}

/** Size of the wasm backend's heap, or 0 on other backends. */
export function wasmHeapBytes(): number {
  if (tf.getBackend() !== "wasm") return 0;
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array; wasmMemory?: WebAssembly.Memory } };
  return b.wasm?.wasmMemory?.buffer.byteLength ?? b.wasm?.HEAPU8?.buffer.byteLength ?? 0;
}

/** Reads the three numbers now. */
export function sampleMemory(): MemorySample {
  return { rssBytes: Deno.memoryUsage().rss, wasmHeapBytes: wasmHeapBytes(), tensorBytes: tf.memory().numBytes };
}

/**
 * Tracks the peak of each number: on a timer (so peaks inside long kernels
 * are seen) and whenever {@link MemoryMonitor.sample} is called.
 *
 * @example
 * ```ts
 * const mon = new MemoryMonitor().start();
 * await work();
 * const peak = mon.stop(); // { rssBytes, wasmHeapBytes, tensorBytes }
 * ```
 */
export class MemoryMonitor {
  #peak: MemorySample = { rssBytes: 0, wasmHeapBytes: 0, tensorBytes: 0 };
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts sampling every `ms` milliseconds. */
  start(ms = 200): this {
    this.sample();
    this.#timer = setInterval(() => this.sample(), ms);
    return this;
  }

  /** Takes a reading now and returns it. */
  sample(): MemorySample {
    const s = sampleMemory();
    this.#peak = {
      rssBytes: Math.max(this.#peak.rssBytes, s.rssBytes),
      wasmHeapBytes: Math.max(this.#peak.wasmHeapBytes, s.wasmHeapBytes),
      tensorBytes: Math.max(this.#peak.tensorBytes, s.tensorBytes),
    };
    return s;
  }

  /** Peaks so far. */
  get peak(): MemorySample {
    return { ...this.#peak };
  }

  /** Stops the timer and returns the peaks. */
  stop(): MemorySample {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.sample();
    return this.peak;
  }
}

/** What the study's way costs: the whole set upsampled at once. */
export interface MaterialisedCost {
  images: number;
  size: number;
  /** Measured growth of the tensor bytes and of the process's resident set for `images`. */
  tensorBytes: number;
  rssBytes: number;
  /** `tensorBytes / images`, exact for float32 `size² × 3`. */
  bytesPerImage: number;
  /** Extrapolated to `target` images. */
  target: number;
  targetBytes: number;
}

/**
 * Materialises `x` (n grey 48×48 images in [0,1]) the study's way, as one
 * `[n, size, size, 3]` float32 tensor, measures what that costs and frees it;
 * extrapolates linearly to `target` images (28,709 = FER2013's Training set).
 */
export async function materialisedCost(x: tf.Tensor4D, size: number, target = 28709): Promise<MaterialisedCost> {
  const before = sampleMemory();
  const big = tf.tidy(() => tf.tile(tf.image.resizeBilinear(x, [size, size]), [1, 1, 1, 3]));
  await big.data(); // forces the bytes to exist (and, on wasm, to be copied out too)
  const after = sampleMemory();
  big.dispose();
  const n = x.shape[0];
  const tensorBytes = after.tensorBytes - before.tensorBytes;
  return {
    images: n,
    size,
    tensorBytes,
    rssBytes: after.rssBytes - before.rssBytes,
    bytesPerImage: tensorBytes / n,
    target,
    targetBytes: (tensorBytes / n) * target,
  };
}

/**
 * The memory peak over every session of a resumed run: this session's
 * beside the one kept in `path`, which is then updated when its folder
 * exists (a session that only resumes a finished run trains nothing, and
 * must not report its own, lower peak). Without `resume` the kept one is
 * ignored.
 */
export async function peakOverSessions(path: string, session: MemorySample, resume: boolean): Promise<MemorySample> {
  const before: MemorySample | null = resume && (await exists(path)) ? JSON.parse(await Deno.readTextFile(path)) : null;
  const peak = before
    ? {
      rssBytes: Math.max(before.rssBytes, session.rssBytes),
      wasmHeapBytes: Math.max(before.wasmHeapBytes, session.wasmHeapBytes),
      tensorBytes: Math.max(before.tensorBytes, session.tensorBytes),
    }
    : session;
  if (await exists(dirname(path))) await writeFileAtomic(path, JSON.stringify(peak));
  return peak;
}
