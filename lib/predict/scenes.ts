/**
 * Photos with faces at known places, for testing and measuring face
 * detection: FER2013 faces (48×48 gray) upscaled and pasted onto a larger
 * colour background. Each pasted square is exactly what FER2013's crop of
 * that face was, so it is also the box a detector's crop should match.
 *
 * They are built at run time from the data set and never written into the
 * repository (FER2013 may not be redistributed, nor images made from it).
 *
 * @example
 * ```ts
 * const scene = await makeScene({
 *   width: 640, height: 480,
 *   faces: [{ pixels: face48, x: 40, y: 60, size: 144 }],
 * });
 * // scene.rgb: 640 × 480 × 3 bytes; scene.png for a file
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import sharp from "sharp";
import { IMAGE_SIZE } from "../data/fer2013.ts";
import type { Rng } from "../rng.ts";
import type { Box } from "./photo.ts";

/** A face to paste: its 48×48 gray pixels and the square it fills. */
export interface PlacedFace {
  pixels: Uint8Array;
  x: number;
  y: number;
  size: number;
}

/** What a scene is drawn on. */
export type Background =
  /** One colour, e.g. "#7a9cc6". */
  | { kind: "plain"; colour: string }
  /** A left-to-right gradient between two colours: smooth and featureless. */
  | { kind: "gradient"; from: string; to: string }
  /** Smooth colour blobs with random shapes over them (rectangles, ellipses, lines), seeded. */
  | { kind: "clutter"; rng: Rng };

/** A scene's description. */
export interface SceneSpec {
  width: number;
  height: number;
  faces: PlacedFace[];
  background?: Background;
}

/** A rendered scene. */
export interface Scene {
  width: number;
  height: number;
  /** `width × height × 3` RGB bytes. */
  rgb: Uint8Array;
  /** Each face's square, in the order given. */
  boxes: Box[];
}

const hex = (rng: Rng) => `#${rng.int(0x1000000).toString(16).padStart(6, "0")}`;

/** A clutter background's SVG shapes: things with edges and curves for a detector to be tempted by. */
function clutterSvg(width: number, height: number, rng: Rng): string {
  const shapes: string[] = [];
  const n = 6 + rng.int(10);
  for (let i = 0; i < n; i++) {
    const x = rng.int(width), y = rng.int(height);
    const w = 10 + rng.int(Math.round(width / 3)), h = 10 + rng.int(Math.round(height / 3));
    const style = `fill="${hex(rng)}" fill-opacity="${rng.uniform(0.3, 1).toFixed(2)}"`;
    const kind = rng.int(3);
    if (kind === 0) shapes.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" ${style}/>`);
    else if (kind === 1) shapes.push(`<ellipse cx="${x}" cy="${y}" rx="${w / 2}" ry="${h / 2}" ${style}/>`);
    else {
      shapes.push(
        `<line x1="${x}" y1="${y}" x2="${x + w - width / 6}" y2="${y + h - height / 6}" ` +
          `stroke="${hex(rng)}" stroke-width="${1 + rng.int(8)}"/>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join("")}</svg>`;
}

/** The background as a sharp pipeline. */
async function background(width: number, height: number, bg: Background): Promise<ReturnType<typeof sharp>> {
  if (bg.kind === "plain") return sharp({ create: { width, height, channels: 3, background: bg.colour } });
  if (bg.kind === "gradient") {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<defs><linearGradient id="g"><stop offset="0" stop-color="${bg.from}"/>` +
      `<stop offset="1" stop-color="${bg.to}"/></linearGradient></defs>` +
      `<rect width="${width}" height="${height}" fill="url(#g)"/></svg>`;
    return sharp(Buffer.from(svg)).removeAlpha();
  }
  // 8×6 random colours upscaled with a cubic filter: large soft blobs, like an out-of-focus room.
  const seed = Uint8Array.from({ length: 8 * 6 * 3 }, () => bg.rng.int(256));
  const blobs = await sharp(seed, { raw: { width: 8, height: 6, channels: 3 } })
    .resize(width, height, { kernel: "cubic" }).png().toBuffer();
  const shapes = await sharp(Buffer.from(clutterSvg(width, height, bg.rng))).png().toBuffer();
  return sharp(await sharp(blobs).composite([{ input: shapes }]).png().toBuffer());
}

/** Renders a scene: the background, then each face upscaled (Lanczos) into its square. */
export async function makeScene(spec: SceneSpec): Promise<Scene> {
  const { width, height } = spec;
  const layers = [];
  for (const f of spec.faces) {
    if (f.x < 0 || f.y < 0 || f.x + f.size > width || f.y + f.size > height) {
      throw new RangeError(`a ${f.size}-px face at ${f.x},${f.y} does not fit a ${width}×${height} scene`);
    }
    const input = await sharp(f.pixels, { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } })
      .resize(f.size, f.size, { kernel: "lanczos3" }).toColourspace("srgb").png().toBuffer();
    layers.push({ input, left: f.x, top: f.y });
  }
  const bg = await background(width, height, spec.background ?? { kind: "plain", colour: "#7a9cc6" });
  const data = await bg.composite(layers).removeAlpha().toColourspace("srgb").raw().toBuffer();
  if (data.length !== width * height * 3) throw new Error(`scene rendered to ${data.length} bytes`);
  return {
    width,
    height,
    rgb: new Uint8Array(data.buffer, data.byteOffset, data.length),
    boxes: spec.faces.map((f) => ({ x: f.x, y: f.y, w: f.size, h: f.size })),
  };
}

/** The scene as an encoded image file. */
export async function scenePng(scene: Scene): Promise<Uint8Array> {
  const png = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } }).png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}

/** Options of {@link randomLayout}. */
export interface LayoutOptions {
  width: number;
  height: number;
  /** How many faces to try to place. */
  count: number;
  /** Face side range in pixels, [min, max]. */
  sizes: [number, number];
  /** Free pixels kept between faces. */
  gap?: number;
}

/**
 * Up to `count` non-overlapping face squares placed at random (fewer when
 * the scene fills up: 100 tries per face).
 */
export function randomLayout(rng: Rng, o: LayoutOptions): Box[] {
  const gap = o.gap ?? 8;
  const boxes: Box[] = [];
  for (let tries = 0; boxes.length < o.count && tries < 100 * o.count; tries++) {
    const side = Math.min(o.width, o.height, Math.round(rng.uniform(o.sizes[0], o.sizes[1])));
    const x = rng.int(o.width - side + 1), y = rng.int(o.height - side + 1);
    const clash = boxes.some((b) =>
      x < b.x + b.w + gap && b.x < x + side + gap && y < b.y + b.h + gap && b.y < y + side + gap
    );
    if (!clash) boxes.push({ x, y, w: side, h: side });
  }
  return boxes;
}
