/**
 * The photo with each face's box and top emotion drawn on it, as a PNG of
 * the upright photo's size: an SVG overlay composited by sharp, so boxes and
 * labels are drawn by librsvg (text in the system's sans-serif font).
 *
 * @example
 * ```ts
 * const png = await annotatedPng(photo, [{ box: { x: 40, y: 30, w: 96, h: 96 }, label: "1 happy 71%" }]);
 * await writeFileAtomic("out.png", png);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import sharp from "sharp";
import type { Box, Photo } from "./photo.ts";

/** One face to draw. */
export interface Mark {
  box: Box;
  label: string;
}

const escapeXml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);

/** The SVG overlay for a `width × height` photo. */
export function overlaySvg(width: number, height: number, marks: readonly Mark[]): string {
  // Lines and text scale with the photo so that they stay visible on a large one and do not swamp a small one.
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 250));
  const most = Math.max(11, Math.round(Math.min(width, height) / 32));
  const parts = marks.map(({ box, label }) => {
    // No wider than its box where it can, so that the labels of faces side by side do not cover each other.
    const font = Math.max(10, Math.min(most, Math.round(box.w / (0.6 * label.length))));
    const x = Math.max(0, box.x), y = Math.max(0, box.y);
    const w = Math.min(width, box.x + box.w) - x, h = Math.min(height, box.y + box.h) - y;
    const textW = Math.ceil(label.length * font * 0.6) + 2 * stroke;
    const textH = font + 2 * stroke;
    // The label sits on the box's top edge, or inside the box when that edge is at the top of the photo.
    const ty = y >= textH ? y - textH : y;
    const tx = Math.min(x, Math.max(0, width - textW));
    return `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="#00e676" ` +
      `stroke-width="${stroke}"/>` +
      `<rect x="${tx}" y="${ty}" width="${textW}" height="${textH}" fill="#00e676"/>` +
      `<text x="${tx + stroke}" y="${ty + stroke + font * 0.8}" font-family="sans-serif" ` +
      `font-size="${font}" fill="#000">${escapeXml(label)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join("")}</svg>`;
}

/** The upright photo with `marks` drawn on it, as PNG bytes. */
export async function annotatedPng(photo: Pick<Photo, "rgb" | "width" | "height">, marks: readonly Mark[]) {
  const { width, height } = photo;
  const svg = Buffer.from(overlaySvg(width, height, marks));
  const drawn = await sharp(photo.rgb, { raw: { width, height, channels: 3 } })
    .composite([{ input: svg, left: 0, top: 0 }])
    .raw()
    .toBuffer({ resolveWithObject: true });
  // Compositing adds an alpha channel (opaque everywhere); a second pass drops it so the PNG is plain RGB.
  const png = await sharp(drawn.data, { raw: { width, height, channels: drawn.info.channels } })
    .removeAlpha()
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}
