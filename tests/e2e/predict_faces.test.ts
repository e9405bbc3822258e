/**
 * `deno task predict` on photos with face detection, run as a user runs it
 * (a subprocess under the predict permission set): every face of a scene of
 * FER2013 PublicTest faces (pasted at run time: no image derived from FER2013
 * is committed) with its box and probabilities, `--annotate`, `--align`, a
 * photo without a face, and the flags checked before any work. The
 * detectors and crops themselves: tests/face_detect.test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { bestModelDir, readResults } from "../../lib/compare/results.ts";
import { EMOTIONS, IMAGE_SIZE, PIXELS } from "../../lib/data/fer2013.ts";
import { predictEnsemble } from "../../lib/eval/ensemble.ts";
import { loadModel } from "../../lib/models/io.ts";
import { iou } from "../../lib/predict/detect.ts";
import { type Box, cropGray, readPhoto } from "../../lib/predict/photo.ts";
import { makeScene, scenePng } from "../../lib/predict/scenes.ts";
import { denoCommand } from "../../lib/cli/permissions.ts";
import { publicTestFaces, REAL_DATA } from "../helpers/fer_faces.ts";
import { runScript } from "../helpers/run_script.ts";

await tf.setBackend("cpu");

const haveReal = await Deno.stat(REAL_DATA).then(() => true, () => false);
if (!haveReal) console.warn(`predict on real faces skipped: ${REAL_DATA} is absent (FER2013 is not in the repo)`);

const tmp = await Deno.makeTempDir({ prefix: "ferlab-detect-" });
const REPORTS = new URL("../../reports", import.meta.url).pathname;
const BEST = (await bestModelDir(REPORTS, (await readResults(REPORTS)).results))!;

/** A photo with no face: a plain two-colour gradient. */
const gradient = join(tmp, "gradient.png");
{
  const w = 400, h = 300, rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) rgb.set([40 + (180 * x) / w, 90, 200 - (150 * y) / h], 3 * (y * w + x));
  }
  await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png().toFile(gradient);
}

/** predict on wasm: the cpu backend takes several seconds per photo for SSD, wasm a fraction of one. */
function predictTool(args: string[], write: string[] = [tmp]) {
  return runScript("tools/predict.ts", ["--backend", "wasm", ...args], { extra: { read: [tmp], write } });
}

Deno.test({
  name: "predict: every face of a scene with its box and 7 probabilities in --json; --annotate draws them",
  ignore: !haveReal,
  sanitizeResources: false,
  fn: async () => {
    const pixels = await publicTestFaces(20, 23);
    const scene = await makeScene({
      width: 720,
      height: 400,
      background: { kind: "gradient", from: "#c8d8e8", to: "#506070" },
      faces: [[30, 60, 150], [270, 120, 180], [520, 40, 140]].map(([x, y, size], i) => ({
        pixels: pixels[i],
        x,
        y,
        size,
      })),
    });
    const file = join(tmp, "scene.png");
    await Deno.writeFile(file, await scenePng(scene));

    const r = await predictTool([file, gradient, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.crop, "detect");
    const [sceneResult, empty] = j.results;
    assert.deepEqual(sceneResult.size, { width: 720, height: 400 });
    assert.deepEqual(empty.faces, [], "the gradient has no face");
    const faces = sceneResult.faces as { box: Box; detection: { score: number }; probabilities: object }[];
    assert.ok(faces.length >= 2 && faces.length <= 3, `${faces.length} faces`);
    for (const f of faces) {
      assert.ok(scene.boxes.some((t) => iou(f.box, t) >= 0.5), `no true face under ${JSON.stringify(f.box)}`);
      assert.ok(f.detection.score >= 0.3);
      const probs = Object.values(f.probabilities) as number[];
      assert.equal(probs.length, EMOTIONS.length);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    }
    // The probabilities are the model's, with its own test-time views, on exactly the crop the JSON names.
    const photo = await readPhoto(file);
    const crops = new Uint8Array(faces.length * PIXELS);
    for (const [i, f] of faces.entries()) crops.set(await cropGray(photo, f.box, IMAGE_SIZE), i * PIXELS);
    const model = await loadModel(BEST.dir);
    const expected = await predictEnsemble([model], crops, faces.map((_, i) => i), { tta: "auto" });
    model.dispose();
    for (const [i, f] of faces.entries()) {
      const got = Object.values(f.probabilities) as number[];
      got.forEach((p, c) => assert.ok(Math.abs(p - expected[i * EMOTIONS.length + c]) < 1e-3, `face ${i}`));
    }

    const out = join(tmp, "scene.annotated.png");
    const text = await predictTool([file, "--annotate", out]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split("\n");
    assert.equal(lines.length, faces.length);
    assert.match(
      lines[0],
      /scene\.png \(720×400, face 1 of \d: \d+×\d+ at \d+,\d+, (ssd|tiny) 0\.\d\d\): \w+ \d+\.\d%/,
    );
    const drawn = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([drawn.info.width, drawn.info.height, drawn.info.format], [720, 400, "raw"]);
    // The box's left edge is drawn in the overlay's green where the photo was not green.
    const b = faces[0].box;
    const at = 3 * ((b.y + Math.round(b.h / 2)) * 720 + Math.max(0, b.x));
    assert.deepEqual(Array.from(drawn.data.subarray(at, at + 3)), [0x00, 0xe6, 0x76]);
    assert.notDeepEqual(Array.from(photo.rgb.subarray(at, at + 3)), [0x00, 0xe6, 0x76]);
  },
});

Deno.test({
  name: "predict --align: a face turned 20° comes back with its eyes' angle 20° more than upright",
  ignore: !haveReal,
  sanitizeResources: false,
  fn: async () => {
    const files: string[] = [];
    const pixels = await publicTestFaces(40, 46);
    for (const [i, face] of pixels.entries()) {
      const big = await sharp(face, { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } })
        .resize(192, 192, { kernel: "lanczos3" }).toColourspace("srgb").png().toBuffer();
      for (const degrees of [0, 20]) {
        const turned = await sharp(big).rotate(degrees, { background: "#7a9cc6" }).png().toBuffer();
        const file = join(tmp, `tilt${i}_${degrees}.png`);
        await sharp({ create: { width: 480, height: 360, channels: 3, background: "#7a9cc6" } })
          .composite([{ input: turned, left: 100, top: 40 }]).png().toFile(file);
        files.push(file);
      }
    }
    const r = await predictTool([...files, "--align", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.align, true);
    // The largest face of each photo (the pasted one) where both versions of a face were found.
    type Found = { box: Box; eyes: { angle: number; left: { x: number }; right: { x: number } } };
    const largest = (res: { faces: Found[] }) =>
      res.faces.reduce<Found | undefined>((a, f) => (a && a.box.w >= f.box.w ? a : f), undefined);
    let pairs = 0;
    for (let i = 0; i < pixels.length; i++) {
      const [upright, turned] = [largest(j.results[2 * i]), largest(j.results[2 * i + 1])];
      if (!upright || !turned) continue;
      pairs++;
      assert.ok(upright.eyes.left.x < upright.eyes.right.x);
      const delta = turned.eyes.angle - upright.eyes.angle;
      assert.ok(Math.abs(delta - 20) < 6, `face ${i}: ${upright.eyes.angle}° upright, ${turned.eyes.angle}° turned`);
    }
    console.log(`${pairs} of ${pixels.length} faces found upright and turned`);
    assert.ok(pairs >= 2, `only ${pairs} faces found in both versions`);
  },
});

Deno.test({
  name: "predict: a photo without a face says so (exit 0) and --annotate still writes it; --box bypasses detection",
  sanitizeResources: false,
  fn: async () => {
    const out = join(tmp, "gradient.annotated.png");
    const none = await predictTool([gradient, "--annotate", out]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /gradient\.png \(400×300\): no face found \(--box x,y,w,h or --centre/);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [400, 300, "png"]);

    // The same photo with a box: no detection, that box is classified.
    const boxed = await predictTool([gradient, "--box", "10,20,96,96", "--json"]);
    assert.equal(boxed.code, 0, boxed.stderr);
    const j = JSON.parse(boxed.stdout);
    assert.equal(j.crop, "box");
    assert.equal(j.detector, undefined);
    assert.equal(j.results[0].faces.length, 1);
    assert.deepEqual(j.results[0].faces[0].box, { x: 10, y: 20, w: 96, h: 96 });
    assert.equal(j.results[0].faces[0].detection, undefined);
  },
});

Deno.test({
  name: "predict: --annotate and crop flags are checked before any work, each with one line",
  sanitizeResources: false,
  fn: async () => {
    const cases: [string[], RegExp][] = [
      [[gradient, "--box", "1,1,8,8", "--centre"], /--box and --centre both say where the face is/],
      [[gradient, "--centre", "--align"], /--align turns detected faces, and --centre skips detection/],
      [[gradient, "--annotate", join(tmp, "x.jpg")], /--annotate writes a PNG: name a \.png file/],
      [[gradient, gradient, "--annotate", join(tmp, "x.png")], /--annotate draws on one photo, got 2/],
    ];
    for (const [args, message] of cases) {
      const r = await predictTool(args);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    // Outside the predict set's writable folders: the one command that grants it, before the model loads.
    const target = join(tmp, "denied.png");
    const denied = await predictTool([gradient, "--annotate", target], []);
    assert.equal(denied.code, 1);
    assert.doesNotMatch(denied.stderr, /backend:/);
    // …and that command works: the predict set reads everything, so the hint must not narrow reads to a list.
    const suggested = /so run: deno run (.*)$/m.exec(denied.stderr)?.[1].split(" ");
    assert.ok(suggested, denied.stderr);
    assert.ok(!suggested.some((a) => a.startsWith("--allow-read")), suggested.join(" "));
    const again = await new Deno.Command(denoCommand(), {
      args: ["run", ...suggested],
      cwd: new URL("../..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(again.code, 0, new TextDecoder().decode(again.stderr));
    assert.equal((await sharp(target).metadata()).width, 400);
  },
});
