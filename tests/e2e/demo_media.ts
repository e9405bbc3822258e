/**
 * The demo test's photo and fake-camera video, made at run time from
 * FER2013 PublicTest faces (never written into the repository: FER2013's
 * terms do not allow redistributing images made from it).
 *
 * The video is a YUV4MPEG2 file (`.y4m`), the format Chromium's
 * `--use-file-for-fake-video-capture` plays in a loop as the camera.
 *
 * @module
 */
import { makeScene, type PlacedFace, type Scene, scenePng } from "../../lib/predict/scenes.ts";

export { publicTestFaces, REAL_DATA } from "../helpers/fer_faces.ts";

const GRADIENT = { kind: "gradient", from: "#6d8fb8", to: "#c9b38a" } as const;

/** A photo: `faces` pasted side by side at `size` pixels on a gradient, as a PNG. */
export async function photoOf(faces: Uint8Array[], size: number, width: number, height: number) {
  const gap = (width - faces.length * size) / (faces.length + 1);
  const placed: PlacedFace[] = faces.map((pixels, i) => ({
    pixels,
    x: Math.round(gap + i * (size + gap)),
    y: Math.round((height - size) / 2),
    size,
  }));
  const scene = await makeScene({ width, height, faces: placed, background: GRADIENT });
  return { scene, png: await scenePng(scene) };
}

/** BT.601 studio-swing Y′CbCr of one RGB pixel, as Chromium reads I420 video. */
function yuv(r: number, g: number, b: number): [number, number, number] {
  return [
    16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255,
    128 + (-37.797 * r - 74.203 * g + 112 * b) / 255,
    128 + (112 * r - 93.786 * g - 18.214 * b) / 255,
  ];
}

/** One scene as an I420 frame: full-size Y, then U and V at half size (each from a 2×2 block's mean). */
function i420(scene: Scene): Uint8Array {
  const { width: w, height: h, rgb } = scene;
  const out = new Uint8Array((w * h * 3) / 2);
  const u = w * h, v = u + (w * h) / 4;
  for (let y = 0; y < h; y += 2) {
    for (let x = 0; x < w; x += 2) {
      let cb = 0, cr = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const at = 3 * ((y + dy) * w + x + dx);
        const [Y, U, V] = yuv(rgb[at], rgb[at + 1], rgb[at + 2]);
        out[(y + dy) * w + x + dx] = Math.round(Y);
        cb += U;
        cr += V;
      }
      const c = (y / 2) * (w / 2) + x / 2;
      out[u + c] = Math.round(cb / 4);
      out[v + c] = Math.round(cr / 4);
    }
  }
  return out;
}

/**
 * A `.y4m` video of `frames` frames at `fps`: `faces` at `size` pixels on a
 * gradient, drifting a few pixels from frame to frame (so that consecutive
 * frames differ, as a camera's do).
 */
export async function videoOf(
  faces: Uint8Array[],
  opts: { size: number; width: number; height: number; frames: number; fps: number },
): Promise<Uint8Array> {
  const { size, width, height } = opts;
  const header = new TextEncoder().encode(`YUV4MPEG2 W${width} H${height} F${opts.fps}:1 Ip A1:1 C420jpeg\n`);
  const marker = new TextEncoder().encode("FRAME\n");
  const frameBytes = (width * height * 3) / 2;
  const out = new Uint8Array(header.length + opts.frames * (marker.length + frameBytes));
  out.set(header);
  let at = header.length;
  const gap = (width - faces.length * size) / (faces.length + 1);
  for (let f = 0; f < opts.frames; f++) {
    const drift = Math.round(8 * Math.sin((2 * Math.PI * f) / opts.frames));
    const placed = faces.map((pixels, i) => ({
      pixels,
      x: Math.round(gap + i * (size + gap)) + drift,
      y: Math.round((height - size) / 2) - drift,
      size,
    }));
    const scene = await makeScene({ width, height, faces: placed, background: GRADIENT });
    out.set(marker, at);
    out.set(i420(scene), at + marker.length);
    at += marker.length + frameBytes;
  }
  return out;
}
