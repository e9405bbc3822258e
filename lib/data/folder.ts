/**
 * Loads the image-folder release of FER2013:
 * `root/train/<emotion>/*.jpg|jpeg|png` and `root/test/<emotion>/…`.
 *
 * Every image, whatever its size or colour, becomes a 48×48 grayscale face,
 * so folders of other faces in the same layout load too. Files are read in
 * sorted order, so row order (and everything seeded downstream) never depends
 * on the file system's listing order.
 *
 * @module
 */
import sharp from "sharp";
import { join } from "node:path";
import { DataError, EMOTIONS, IMAGE_SIZE, PIXELS, type Usage, USAGES } from "./fer2013.ts";
import type { LoadOptions, LoadResult, SkippedRow } from "./load_result.ts";

/** Images decoded at once: enough to keep libvips busy, few enough to bound memory. */
const DECODE_CONCURRENCY = 4;

const IMAGE_EXT = /\.(jpe?g|png)$/i;
const USAGE_PREFIX = /^(Training|PublicTest|PrivateTest)_/i;

/** One image to load, before decoding. */
interface ImageEntry {
  /** Path relative to the root with `/` separators: the sort key. */
  rel: string;
  path: string;
  label: number;
  usage: number;
  /** True when Usage came from the split folder, not the file-name prefix. */
  guessedUsage: boolean;
}

/** Maps an emotion folder name (`Happy`, `happy`, `3`) to its label, or -1. */
export function emotionFromFolder(name: string): number {
  if (/^[0-6]$/.test(name)) return Number(name);
  return (EMOTIONS as readonly string[]).indexOf(name.toLowerCase());
}

/** Usage from a `Training_`/`PublicTest_`/`PrivateTest_` file-name prefix, or -1. */
export function usageFromFileName(name: string): number {
  const m = USAGE_PREFIX.exec(name);
  if (!m) return -1;
  const lower = m[1].toLowerCase();
  return USAGES.findIndex((u) => u.toLowerCase() === lower);
}

async function listDir(path: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(path)) {
      // Dot files are OS litter (.DS_Store) or hidden on purpose.
      if (!e.name.startsWith(".")) entries.push(e);
    }
  } catch (e) {
    throw new DataError(
      path,
      null,
      `cannot list folder: ${(e as Error).message}`,
    );
  }
  return entries.sort((
    a,
    b,
  ) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Finds every image under the split folders; structural problems throw. */
async function collectImages(
  root: string,
  splits: { name: string; usage: Usage }[],
): Promise<ImageEntry[]> {
  const images: ImageEntry[] = [];
  for (const split of splits) {
    const splitPath = join(root, split.name);
    for (const emo of await listDir(splitPath)) {
      const emoPath = join(splitPath, emo.name);
      if (!emo.isDirectory) {
        throw new DataError(
          emoPath,
          null,
          `file outside an emotion folder (expected ${split.name}/<emotion>/<image>)`,
        );
      }
      const label = emotionFromFolder(emo.name);
      if (label < 0) {
        throw new DataError(
          emoPath,
          null,
          `unknown emotion folder ${JSON.stringify(emo.name)} (expected one of ${
            EMOTIONS.join(", ")
          }, any case, or 0–6)`,
        );
      }
      for (const img of await listDir(emoPath)) {
        const path = join(emoPath, img.name);
        if (img.isDirectory) {
          throw new DataError(
            path,
            null,
            "unexpected folder inside an emotion folder (expected only images)",
          );
        }
        const prefixed = usageFromFileName(img.name);
        images.push({
          rel: `${split.name}/${emo.name}/${img.name}`,
          path,
          label,
          usage: prefixed >= 0 ? prefixed : USAGES.indexOf(split.usage),
          guessedUsage: prefixed < 0,
        });
      }
    }
  }
  // Code-unit order, not localeCompare: identical on every machine.
  return images.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/**
 * Decodes one image file to 48×48 grayscale bytes. Returns the pixels or a
 * problem text (the caller decides whether that throws or is skipped).
 */
export async function decodeFace(path: string): Promise<Uint8Array | string> {
  if (!IMAGE_EXT.test(path)) return "not a .jpg, .jpeg or .png image";
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    return `cannot read file: ${(e as Error).message}`;
  }
  if (bytes.length === 0) return "empty image file";
  try {
    // Alpha is dropped before graying so the output is exactly one channel;
    // 16-bit inputs are brought down to 8 bits by `depth: "uchar"`.
    const { data, info } = await sharp(bytes)
      .autoOrient()
      .removeAlpha()
      .grayscale()
      .resize(IMAGE_SIZE, IMAGE_SIZE, { fit: "fill" })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 || data.length !== PIXELS) {
      return `decoded to ${info.width}×${info.height}×${info.channels}, expected 48×48×1`;
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (e) {
    return `unreadable or corrupt image (${(e as Error).message})`;
  }
}

/**
 * Loads a FER2013 image-folder release into the column-wise {@link Fer2013}
 * form, rows sorted by relative path.
 *
 * Emotion folders may be named by emotion (any case) or label digit. Usage
 * comes from the file-name prefix (`Training_`, `PublicTest_`,
 * `PrivateTest_`) when there is one, else train/ → Training and
 * test/ → PublicTest, with a note. Bad images throw a {@link DataError}
 * naming the file, or with `skipBad` are listed in `skipped`; a broken layout
 * (no train/ or test/, unknown emotion folder, no images) always throws.
 */
export async function loadFer2013Folder(
  root: string,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(root, null, "folder not found");
    }
    throw new DataError(root, null, `cannot read: ${(e as Error).message}`);
  }
  if (!info.isDirectory) throw new DataError(root, null, "is not a folder");

  const top = await listDir(root);
  const splits: { name: string; usage: Usage }[] = [];
  const ignored: string[] = [];
  for (const e of top) {
    const lower = e.name.toLowerCase();
    if (e.isDirectory && lower === "train") {
      splits.push({ name: e.name, usage: "Training" });
    } else if (e.isDirectory && lower === "test") {
      splits.push({ name: e.name, usage: "PublicTest" });
    } else ignored.push(e.name);
  }
  if (splits.length === 0) {
    throw new DataError(
      root,
      null,
      `has neither a train/ nor a test/ folder (found: ${top.map((e) => e.name).join(", ") || "nothing"})`,
    );
  }

  const images = await collectImages(root, splits);
  if (images.length === 0) {
    throw new DataError(
      root,
      null,
      "no images found (expected train/<emotion>/*.jpg|jpeg|png or test/<emotion>/…)",
    );
  }

  const total = images.length;
  const pixels = new Uint8Array(total * PIXELS);
  const problems: (string | null)[] = new Array(total).fill(null);
  let next = 0, done = 0, failed = false;
  const worker = async () => {
    while (next < total && !(failed && !opts.skipBad)) {
      const i = next++;
      const result = await decodeFace(images[i].path);
      if (typeof result === "string") {
        problems[i] = result;
        failed = true;
      } else pixels.set(result, i * PIXELS);
      opts.onProgress?.(++done, total);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(DECODE_CONCURRENCY, total) }, worker),
  );

  const skipped: SkippedRow[] = [];
  problems.forEach((problem, i) => {
    if (problem !== null) {
      skipped.push({ row: i + 1, where: images[i].path, problem });
    }
  });
  if (skipped.length > 0 && !opts.skipBad) {
    // The lowest-numbered failure, so the message does not depend on timing.
    throw new DataError(skipped[0].where, null, skipped[0].problem);
  }
  if (skipped.length === total) {
    throw new DataError(
      root,
      null,
      `no usable images: all ${total} failed (first: ${skipped[0].where}: ${skipped[0].problem})`,
    );
  }

  const keep = images.map((_, i) => i).filter((i) => problems[i] === null);
  const n = keep.length;
  const out = {
    pixels: n === total ? pixels : new Uint8Array(n * PIXELS),
    labels: new Uint8Array(n),
    usage: new Uint8Array(n),
  };
  keep.forEach((src, dst) => {
    if (n !== total) {
      out.pixels.set(
        pixels.subarray(src * PIXELS, (src + 1) * PIXELS),
        dst * PIXELS,
      );
    }
    out.labels[dst] = images[src].label;
    out.usage[dst] = images[src].usage;
  });

  const notes: string[] = [];
  const guessed = keep.filter((i) => images[i].guessedUsage).length;
  if (guessed > 0) {
    notes.push(
      `${guessed} of ${n} images in ${root} have no Training_/PublicTest_/PrivateTest_ file-name prefix: ` +
        "those in train/ count as Training, those in test/ as PublicTest.",
    );
  }
  if (ignored.length > 0) {
    notes.push(
      `ignored ${ignored.map((s) => JSON.stringify(s)).join(", ")} in ${root} (only train/ and test/ are read).`,
    );
  }
  return { ...out, n, source: root, skipped, notes };
}
