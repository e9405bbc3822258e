/**
 * The browser demo (`reports/demo.html`): a dropped photo or the webcam's
 * frames go through what `deno task predict` does — face-api's detectors,
 * each detection's FER2013-style square (the same `fer_crop.ts`), gray
 * 48×48, the emotion model with its TTA views (the same `tta.ts` and
 * `input_spec.ts`) — and the page draws each face's box and emotion bars.
 *
 * `deno task demo` bundles this module with face-api's browser build, which
 * carries its own copy of TF.js (4.22.0, the project's version) with the
 * wasm backend; the emotion model is loaded with that same copy so that one
 * engine and one backend run everything. Every file comes from the server
 * that served the page: nothing is fetched from anywhere else.
 *
 * `window.ferlabDemo` holds what the page is doing, for the tests.
 *
 * @module
 */
import * as faceapi from "@vladmandic/face-api/dist/face-api.esm.js";
import type * as tfjs from "@tensorflow/tfjs";
import type { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { EMOTIONS } from "../data/fer2013.ts";
import { transformImages, type TtaMode, ttaViews, type View } from "../eval/tta.ts";
import { modelInput } from "../models/input_spec.ts";
import {
  cropRegion,
  DETECT_MAX_SIDE,
  type Detection,
  type DetectorChoice,
  detectorNames,
  DETECTORS,
  ferCrop,
  mergeDetections,
  TINY_INPUT,
} from "../predict/fer_crop.ts";
import {
  browser,
  type Button,
  type Canvas,
  type DomFile,
  type Elem,
  type FileInput,
  type MediaStreamLike,
  type Select,
  type Video,
} from "./dom.ts";
import type { DemoManifest } from "./manifest.ts";
import { grayFromRgba, resizeGray } from "./pixels.ts";

// face-api's declarations list only the part of TF.js it uses; at run time `tf` is the whole of its bundled copy.
const tf = faceapi.tf as unknown as typeof tfjs & { setWasmPaths: typeof setWasmPaths };

/** One face as the page shows it. */
export interface DemoFace {
  /** The FER2013-style square, in the frame's pixels. */
  box: { x: number; y: number; w: number; h: number };
  detector: string;
  score: number;
  emotion: string;
  probability: number;
  probabilities: Record<string, number>;
}

/** What the page is doing (`window.ferlabDemo`). */
export interface DemoState {
  /** Models loaded, waiting for a photo or the camera. */
  ready: boolean;
  /** The last error, also shown on the page. */
  error?: string;
  backend?: string;
  model?: string;
  tta?: TtaMode;
  detector?: DetectorChoice;
  /** What the last frame came from. */
  source: "photo" | "camera" | null;
  /** Frames analysed since the source was chosen. */
  frames: number;
  /** Frames analysed per second over the last few (camera). */
  fps: number;
  /** Milliseconds the last frame spent in detection and in the emotion model. */
  detectMs: number;
  classifyMs: number;
  size?: { width: number; height: number };
  faces: DemoFace[];
}

const state: DemoState = {
  ready: false,
  source: null,
  frames: 0,
  fps: 0,
  detectMs: 0,
  classifyMs: 0,
  faces: [],
};
(globalThis as unknown as { ferlabDemo: DemoState }).ferlabDemo = state;

const { document } = browser;
const $ = <T extends Elem>(id: string) => document.getElementById(id) as T;
const status = $("status");
const view = $<Canvas>("view");
const list = $("faces");
const fpsLine = $("fps");
const cameraButton = $<Button>("camera");
const detectorSelect = $<Select>("detector");
const fileInput = $<FileInput>("file");
const video = $<Video>("video");

// The frame at full size, read back for the crops; a second canvas holds the detectors' shrunk copy of a large photo.
const work = document.createElement("canvas") as Canvas;
const workCtx = work.getContext("2d", { willReadFrequently: true })!;
const small = document.createElement("canvas") as Canvas;
const smallCtx = small.getContext("2d")!;

interface Emotions {
  model: tfjs.LayersModel;
  imageSize: number;
  inputSize: number;
  views: View[];
}

let emotions: Emotions;
let manifest: DemoManifest;
let camera: MediaStreamLike | null = null;
/** Bumped whenever the source changes, so that a running camera loop knows to stop. */
let generation = 0;

function fail(e: unknown) {
  const message = e instanceof Error ? e.message : String(e);
  state.error = message;
  status.textContent = `error: ${message}`;
  status.className = "error";
  console.error(e);
}

async function load(): Promise<void> {
  const res = await fetch("demo/manifest.json");
  if (!res.ok) throw new Error(`demo/manifest.json: ${res.status} (run \`deno task demo\`)`);
  manifest = await res.json();
  const abs = (p: string) => new URL(p, browser.location.href).href;
  // Absolute, because the threaded build's workers resolve paths against their own blob: URL.
  tf.setWasmPaths(Object.fromEntries(Object.entries(manifest.wasm).map(([k, v]) => [k, abs(v)])));
  if (!(await tf.setBackend("wasm"))) throw new Error("TF.js's wasm backend did not start");
  await tf.ready();
  status.textContent = "loading the detectors and the emotion model…";
  await faceapi.nets.ssdMobilenetv1.loadFromUri(abs(manifest.detectorWeights));
  await faceapi.nets.tinyFaceDetector.loadFromUri(abs(manifest.detectorWeights));
  const model = await tf.loadLayersModel(abs(manifest.modelUrl));
  // input_spec.ts reads the record through the LayersModel API, which face-api's copy of TF.js has as well.
  const input = modelInput(model as unknown as Parameters<typeof modelInput>[0]);
  const tta = manifest.tta === "auto" ? input.tta : manifest.tta;
  emotions = { model, imageSize: input.imageSize, inputSize: input.inputSize, views: ttaViews(tta, input) };
  tf.tidy(() => model.predict(tf.zeros([1, input.inputSize, input.inputSize, 1])));
  // The detectors' first run sets up their kernels and buffers (seconds); doing it now keeps the first photo quick.
  small.width = small.height = 64;
  await faceapi.detectAllFaces(small as unknown as faceapi.TNetInput, new faceapi.SsdMobilenetv1Options());
  await faceapi.detectAllFaces(
    small as unknown as faceapi.TNetInput,
    new faceapi.TinyFaceDetectorOptions({ inputSize: TINY_INPUT }),
  );

  for (const d of DETECTORS) {
    const label = d === "both" ? "both (SSD + tiny)" : d === "ssd" ? "SSD MobileNetV1" : "Tiny Face Detector";
    detectorSelect.add(new browser.Option(label, d, d === manifest.detector, d === manifest.detector));
  }
  const threads = browser.crossOriginIsolated ? "threads" : "one thread";
  state.backend = `${tf.getBackend()} (TF.js ${tf.version_core}, ${threads})`;
  state.model = manifest.name;
  state.tta = tta;
  state.detector = manifest.detector;
  const accuracy = manifest.testAccuracy === undefined
    ? ""
    : `, ${(100 * manifest.testAccuracy).toFixed(2)}% on FER2013's test faces`;
  status.textContent = `model ${manifest.name}${manifest.title ? ` (${manifest.title}${accuracy})` : ""}, ` +
    `TTA ${tta} · ${state.backend} · drop a photo or start the camera`;
  state.ready = true;
}

/** Every face in the frame held by `work`: detection on a copy of at most DETECT_MAX_SIDE pixels, as predict does. */
async function detect(width: number, height: number): Promise<Detection[]> {
  const f = Math.min(1, DETECT_MAX_SIDE / Math.max(width, height));
  let input: Canvas = work;
  if (f < 1) {
    small.width = Math.round(width * f);
    small.height = Math.round(height * f);
    smallCtx.imageSmoothingQuality = "high";
    smallCtx.drawImage(work, 0, 0, small.width, small.height);
    input = small;
  }
  const sx = width / input.width, sy = height / input.height;
  const choice = detectorSelect.value as DetectorChoice;
  const found: Detection[] = [];
  for (const name of detectorNames(choice)) {
    const options = name === "ssd"
      ? new faceapi.SsdMobilenetv1Options({ minConfidence: manifest.minScore, maxResults: 100 })
      : new faceapi.TinyFaceDetectorOptions({ inputSize: TINY_INPUT, scoreThreshold: manifest.minScore });
    // face-api's input type names the DOM's canvas, which these declarations stand in for.
    for (const d of await faceapi.detectAllFaces(input as unknown as faceapi.TNetInput, options)) {
      const box = { x: d.box.x * sx, y: d.box.y * sy, w: d.box.width * sx, h: d.box.height * sy };
      found.push({ detector: name, score: d.score, box, crop: ferCrop(name, box) });
    }
  }
  return mergeDetections(found);
}

/** Class probabilities of each `imageSize²` face, averaged over the model's TTA views. */
async function classify(pixels: Uint8Array, n: number): Promise<Float32Array> {
  const { model, imageSize, inputSize, views } = emotions;
  const k = EMOTIONS.length;
  const sum = new Float32Array(n * k);
  for (const v of views) {
    const shown = transformImages(pixels, imageSize, v);
    const side = v.size ?? imageSize;
    const probs = tf.tidy(() => {
      let x: tfjs.Tensor4D = tf.tensor4d(Float32Array.from(shown, (p) => p / 255), [n, side, side, 1]);
      if (side !== inputSize) {
        const o = (side - inputSize) / 2;
        x = tf.slice(x, [0, o, o, 0], [-1, inputSize, inputSize, -1]);
      }
      return model.predict(x) as tfjs.Tensor2D;
    });
    const data = await probs.data();
    probs.dispose();
    for (let i = 0; i < sum.length; i++) sum[i] += data[i];
  }
  return sum.map((p) => p / views.length);
}

/** Detects and classifies the frame now in `work`, then draws it. */
async function analyse(width: number, height: number): Promise<void> {
  const t0 = performance.now();
  const found = await detect(width, height);
  const t1 = performance.now();
  const { imageSize } = emotions;
  const gray = grayFromRgba(workCtx.getImageData(0, 0, width, height).data, width, height);
  const px = imageSize * imageSize;
  const pixels = new Uint8Array(found.length * px);
  found.forEach((d, i) => {
    pixels.set(resizeGray(cropRegion(gray, width, height, d.crop), d.crop.w, d.crop.h, imageSize), i * px);
  });
  const probs = found.length ? await classify(pixels, found.length) : new Float32Array();
  const t2 = performance.now();
  const k = EMOTIONS.length;
  state.faces = found.map((d, i) => {
    const p = Array.from(probs.subarray(i * k, (i + 1) * k));
    const best = p.indexOf(Math.max(...p));
    return {
      box: d.crop,
      detector: d.detector,
      score: d.score,
      emotion: EMOTIONS[best],
      probability: p[best],
      probabilities: Object.fromEntries(p.map((v, c) => [EMOTIONS[c], v])),
    };
  });
  state.detectMs = t1 - t0;
  state.classifyMs = t2 - t1;
  state.size = { width, height };
  state.frames++;
  draw(width, height);
  drawFaces(pixels, imageSize);
}

/** The analysed frame with each face's square and top emotion on it (the look of predict --annotate). */
function draw(width: number, height: number) {
  view.width = width;
  view.height = height;
  const ctx = view.getContext("2d")!;
  ctx.drawImage(work, 0, 0);
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 250));
  const font = Math.max(12, Math.round(Math.min(width, height) / 32));
  ctx.lineWidth = stroke;
  ctx.font = `${font}px sans-serif`;
  ctx.textBaseline = "top";
  state.faces.forEach((f, i) => {
    const label = `${state.faces.length > 1 ? `${i + 1} ` : ""}${f.emotion} ${(100 * f.probability).toFixed(0)}%`;
    ctx.strokeStyle = "#00e676";
    ctx.strokeRect(f.box.x, f.box.y, f.box.w, f.box.h);
    const tw = ctx.measureText(label).width + 2 * stroke, th = font + 2 * stroke;
    const ty = f.box.y >= th ? f.box.y - th : Math.max(0, f.box.y);
    const tx = Math.min(Math.max(0, f.box.x), Math.max(0, width - tw));
    ctx.fillStyle = "#00e676";
    ctx.fillRect(tx, ty, tw, th);
    ctx.fillStyle = "#000";
    ctx.fillText(label, tx + stroke, ty + stroke);
  });
}

/** One entry per face: what the model saw (the gray square) and a bar per emotion. */
function drawFaces(pixels: Uint8Array, size: number) {
  list.replaceChildren(...state.faces.map((f, i) => {
    const li = document.createElement("li");
    const thumb = document.createElement("canvas") as Canvas;
    thumb.width = thumb.height = size;
    const img = new browser.ImageData(size, size);
    for (let j = 0; j < size * size; j++) {
      const g = pixels[i * size * size + j];
      img.data.set([g, g, g, 255], 4 * j);
    }
    thumb.getContext("2d")!.putImageData(img, 0, 0);
    const bars = document.createElement("div");
    bars.className = "bars";
    for (const e of EMOTIONS) {
      const p = f.probabilities[e];
      const row = document.createElement("div");
      row.className = e === f.emotion ? "bar top" : "bar";
      row.innerHTML = `<span class="name">${e}</span><span class="track"><span class="fill" ` +
        `style="width:${(100 * p).toFixed(1)}%"></span></span><span class="pct">${(100 * p).toFixed(0)}%</span>`;
      bars.append(row);
    }
    li.append(thumb, bars);
    return li;
  }));
}

function showStats() {
  const timing = `detection ${state.detectMs.toFixed(0)} ms, emotions ${state.classifyMs.toFixed(0)} ms`;
  const faces = `${state.faces.length} face${state.faces.length === 1 ? "" : "s"}`;
  fpsLine.textContent = state.source === "camera"
    ? `${state.fps.toFixed(1)} frames/s · ${faces} · ${timing}`
    : `${faces} · ${timing}`;
}

function stopCamera() {
  generation++;
  camera?.getTracks().forEach((t) => t.stop());
  camera = null;
  video.srcObject = null;
  cameraButton.textContent = "Start camera";
}

/** The frame being analysed: a photo dropped while a camera frame is analysed waits for it (they share `work`). */
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn);
  queue = run.catch(() => {});
  return run;
}

async function showPhoto(file: DomFile) {
  stopCamera();
  const bitmap = await browser.createImageBitmap(file, { imageOrientation: "from-image" });
  await exclusive(async () => {
    work.width = bitmap.width;
    work.height = bitmap.height;
    workCtx.drawImage(bitmap, 0, 0);
    bitmap.close();
    Object.assign(state, { source: "photo", frames: 0, fps: 0 });
    await analyse(work.width, work.height);
    showStats();
  });
}

async function startCamera() {
  stopCamera();
  const mine = generation;
  const stream = await browser.navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480 },
    audio: false,
  });
  if (mine !== generation) {
    // Stopped, or a photo dropped, while the browser was asking for the camera.
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  camera = stream;
  video.srcObject = camera;
  await video.play();
  cameraButton.textContent = "Stop camera";
  Object.assign(state, { source: "camera", frames: 0, fps: 0 });
  const done: number[] = [];
  while (mine === generation) {
    const analysed = await exclusive(async () => {
      const width = video.videoWidth, height = video.videoHeight;
      if (mine !== generation || !width || !height) return false;
      work.width = width;
      work.height = height;
      workCtx.drawImage(video, 0, 0);
      await analyse(width, height);
      return true;
    });
    if (analysed) {
      done.push(performance.now());
      if (done.length > 10) done.shift();
      if (done.length > 1) state.fps = (1000 * (done.length - 1)) / (done.at(-1)! - done[0]);
      showStats();
    }
    // A turn of the event loop (a short wait before the video has a frame), so that clicks get through.
    await new Promise((r) => setTimeout(r, analysed ? 0 : 30));
  }
}

function wire() {
  fileInput.addEventListener("change", () => {
    const f = fileInput.files?.[0];
    if (f) showPhoto(f).catch(fail);
  });
  const drop = $("drop");
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  document.addEventListener("dragleave", () => drop.classList.remove("over"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = Array.from(e.dataTransfer?.files ?? []).find((f) => f.type.startsWith("image/"));
    if (f) showPhoto(f).catch(fail);
  });
  cameraButton.addEventListener("click", () => {
    if (camera) stopCamera();
    else startCamera().catch(fail);
  });
  detectorSelect.addEventListener("change", () => state.detector = detectorSelect.value as DetectorChoice);
}

try {
  status.textContent = "starting TF.js…";
  await load();
  wire();
  cameraButton.disabled = false;
  fileInput.disabled = false;
} catch (e) {
  fail(e);
}
