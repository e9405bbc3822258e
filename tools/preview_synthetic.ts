/**
 * Writes a PNG contact sheet of the synthetic faces: one row per emotion
 * (angry … neutral, top to bottom), the first `cols` faces of that class.
 *
 * Usage:
 *   deno run -A tools/preview_synthetic.ts [out.png] [--cols 10] [--zoom 3] [--seed 2013] [--n 2000]
 *   deno run -A tools/preview_synthetic.ts --help
 *
 * @module
 */
import sharp from "sharp";
import { parseFlags, UsageError } from "../lib/cli/args.ts";
import { runCli } from "../lib/cli/shell.ts";
import { EMOTIONS, IMAGE_SIZE, NUM_CLASSES, PIXELS } from "../lib/data/fer2013.ts";
import { DEFAULT_SYNTHETIC, makeSyntheticFer2013 } from "../lib/data/synthetic.ts";

/** Options of {@link previewGrid}. */
export interface PreviewOptions {
  /** Faces per emotion row. */
  cols: number;
  /** Integer upscaling factor (nearest neighbour), so pixels stay visible. */
  zoom: number;
  /** Seed of the synthetic data set. */
  seed: number;
  /** How many faces to generate to find `cols` of each class. */
  n: number;
}

/**
 * Builds the grid as raw grayscale bytes: NUM_CLASSES rows × `cols` faces,
 * with a 2-pixel mid-gray gutter between faces (before zooming).
 */
export function previewGrid(
  opts: PreviewOptions,
): { data: Uint8Array; width: number; height: number } {
  const data = makeSyntheticFer2013({ n: opts.n, seed: opts.seed });
  const gap = 2;
  const cell = IMAGE_SIZE + gap;
  const w0 = opts.cols * cell + gap;
  const h0 = NUM_CLASSES * cell + gap;
  const grid = new Uint8Array(w0 * h0).fill(128);
  const placed = new Array<number>(NUM_CLASSES).fill(0);
  for (let r = 0; r < data.n; r++) {
    const c = data.labels[r];
    const k = placed[c];
    if (k >= opts.cols) continue;
    placed[c]++;
    for (let y = 0; y < IMAGE_SIZE; y++) {
      const src = data.pixels.subarray(r * PIXELS + y * IMAGE_SIZE, r * PIXELS + (y + 1) * IMAGE_SIZE);
      grid.set(src, (gap + c * cell + y) * w0 + gap + k * cell);
    }
  }
  const missing = placed.flatMap((k, c) => (k < opts.cols ? [EMOTIONS[c]] : []));
  if (missing.length > 0) {
    throw new Error(`preview: fewer than --cols faces of ${missing.join(", ")}; raise --n`);
  }
  // Nearest-neighbour zoom so that individual pixels stay visible.
  const z = opts.zoom;
  const width = w0 * z, height = h0 * z;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out[y * width + x] = grid[Math.floor(y / z) * w0 + Math.floor(x / z)];
  }
  return { data: out, width, height };
}

if (import.meta.main) {
  await runCli(async () => {
    const opts = parseFlags(
      Deno.args,
      "deno run -A tools/preview_synthetic.ts",
      {
        cols: { type: "number", help: "faces per emotion row", positiveInt: true },
        zoom: { type: "number", help: "integer upscaling factor", positiveInt: true },
        seed: { type: "number", help: "seed of the synthetic set" },
        n: { type: "number", help: "faces generated to find --cols of each class", positiveInt: true },
        out: { type: "string", help: "PNG file to write (also the first positional argument)" },
      },
      { cols: 10, zoom: 3, seed: DEFAULT_SYNTHETIC.seed, n: 2000, out: "reports/synthetic_preview.png" },
      {
        positional: "out",
      },
    );
    if (!opts) return;
    if (!Number.isInteger(opts.seed)) throw new UsageError(`--seed must be an integer, got ${opts.seed}`);
    const { data, width, height } = previewGrid(opts);
    await sharp(data, { raw: { width, height, channels: 1 } }).png().toFile(opts.out);
    console.log(`wrote ${opts.out} (${width}×${height}; rows: ${EMOTIONS.join(", ")})`);
  });
}
