/**
 * Prediction on photos: faces from the synthetic set turned into photos of
 * other sizes, in colour, as JPEG, PNG and WebP, then read back and predicted
 * by the committed baseline model, as a user runs `deno task predict` with a
 * given region (`--centre`, `--box`). With face detection: predict_faces.test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { DataError, EMOTIONS, PIXELS } from "../../lib/data/fer2013.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { bestModelDir, readResults } from "../../lib/compare/results.ts";
import { predictEnsemble } from "../../lib/eval/ensemble.ts";
import { argmaxRows } from "../../lib/eval/metrics.ts";
import { loadModel } from "../../lib/models/io.ts";
import { BoxError, centreSquare, loadFace, parseBox } from "../../lib/predict/photo.ts";
import { runScript } from "../helpers/run_script.ts";

await tf.setBackend("cpu");

const REPORTS = new URL("../../reports", import.meta.url).pathname;
/** What predict uses without --model: the committed model with the best test accuracy on FER2013. */
const BEST = (await bestModelDir(REPORTS, (await readResults(REPORTS)).results))!;
const faces = makeSyntheticFer2013({ n: 3, seed: 77 });
const face = (i: number) => faces.pixels.subarray(i * PIXELS, (i + 1) * PIXELS);
const tmp = await Deno.makeTempDir({ prefix: "ferlab-predict-" });

/**
 * Face `i` scaled ×`scale` and tinted (red up, blue down), pasted at (left, top)
 * on a coloured canvas of `width × height`, saved as `format`.
 */
async function photo(
  i: number,
  file: string,
  o: { scale: number; width: number; height: number; left: number; top: number; format: "jpeg" | "png" | "webp" },
): Promise<string> {
  const rgb = new Uint8Array(PIXELS * 3);
  face(i).forEach((v, p) => {
    rgb[3 * p] = Math.min(255, v + 20);
    rgb[3 * p + 1] = v;
    rgb[3 * p + 2] = Math.max(0, v - 20);
  });
  const side = 48 * o.scale;
  const scaled = await sharp(rgb, { raw: { width: 48, height: 48, channels: 3 } })
    .resize(side, side, { kernel: "nearest" }).png().toBuffer();
  const path = join(tmp, file);
  const canvas = sharp({ create: { width: o.width, height: o.height, channels: 3, background: "#3a6ea5" } })
    .composite([{ input: scaled, left: o.left, top: o.top }]);
  const out = o.format === "jpeg"
    ? canvas.jpeg({ quality: 95 })
    : o.format === "png"
    ? canvas.png()
    : canvas.webp({ quality: 95 });
  await out.toFile(path);
  return path;
}

/** Mean absolute difference of two byte images. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

// Face 0 in a landscape PNG (centre crop finds it), face 1 in a portrait JPEG,
// face 2 in a WebP off-centre (needs --box).
const png = await photo(0, "wide.png", { scale: 4, width: 320, height: 192, left: 64, top: 0, format: "png" });
const jpg = await photo(1, "tall.jpg", { scale: 3, width: 144, height: 260, left: 0, top: 58, format: "jpeg" });
const webp = await photo(2, "group.webp", { scale: 2, width: 400, height: 300, left: 250, top: 30, format: "webp" });
const WEBP_BOX = "250,30,96,96";

Deno.test("parseBox and centreSquare", () => {
  assert.deepEqual(parseBox("10, 20,30,40"), { x: 10, y: 20, w: 30, h: 40 });
  for (const bad of ["1,2,3", "1,2,3,x", "-1,0,5,5", "0,0,0,5", "1.5,0,4,4", ""]) {
    assert.throws(() => parseBox(bad), BoxError, bad);
  }
  assert.deepEqual(centreSquare(320, 192), { x: 64, y: 0, w: 192, h: 192 });
  assert.deepEqual(centreSquare(145, 260), { x: 0, y: 57, w: 145, h: 145 });
});

Deno.test("loadFace recovers the 48×48 face from colour photos of other sizes, in each format", async () => {
  const centre = await loadFace(png);
  assert.equal(centre.crop, "centre");
  assert.deepEqual([centre.width, centre.height], [320, 192]);
  assert.ok(meanAbsDiff(centre.pixels, face(0)) < 4, `png: ${meanAbsDiff(centre.pixels, face(0))}`);
  const tall = await loadFace(jpg);
  assert.deepEqual(tall.box, { x: 0, y: 58, w: 144, h: 144 });
  assert.ok(meanAbsDiff(tall.pixels, face(1)) < 6, `jpeg: ${meanAbsDiff(tall.pixels, face(1))}`);
  const boxed = await loadFace(webp, { box: parseBox(WEBP_BOX) });
  assert.equal(boxed.crop, "box");
  assert.ok(meanAbsDiff(boxed.pixels, face(2)) < 6, `webp: ${meanAbsDiff(boxed.pixels, face(2))}`);
  // Without the box the centre square is mostly background: far from the face.
  assert.ok(meanAbsDiff((await loadFace(webp)).pixels, face(2)) > 15);
});

Deno.test("loadFace names the file for missing, corrupt and out-of-bounds input", async () => {
  await assert.rejects(() => loadFace(join(tmp, "nope.jpg")), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /nope\.jpg: file not found/);
    return true;
  });
  const corrupt = join(tmp, "corrupt.png");
  await Deno.writeFile(corrupt, new TextEncoder().encode("\x89PNG but not really"));
  await assert.rejects(() => loadFace(corrupt), /corrupt\.png: not a readable JPEG, PNG or WebP image/);
  await assert.rejects(
    () => loadFace(png, { box: parseBox("300,0,48,48") }),
    /wide\.png, --box: 300,0,48,48 reaches outside the 320×192 image/,
  );
});

function predictTool(args: string[]) {
  return runScript("tools/predict.ts", ["--backend", "cpu", ...args]);
}

Deno.test({
  name: "predict: each format gives the model's prediction for the face; a bad file is named and the rest go on",
  sanitizeResources: false,
  fn: async () => {
    // As predict scores them: the faces it cuts from the photos, with the model's own test-time views (a crop
    // model's ten-crop). Synthetic faces sit near the model's decision boundaries, so the photos' own pixels count.
    const seen = new Uint8Array(3 * PIXELS);
    seen.set((await loadFace(png)).pixels, 0);
    seen.set((await loadFace(jpg)).pixels, PIXELS);
    seen.set((await loadFace(webp, { box: parseBox(WEBP_BOX) })).pixels, 2 * PIXELS);
    const model = await loadModel(BEST.dir);
    const expected = argmaxRows(await predictEnsemble([model], seen, [0, 1, 2], { tta: "auto" }), EMOTIONS.length);
    model.dispose();

    const missing = join(tmp, "missing.webp");
    const r = await predictTool([png, missing, jpg, "--centre", "--json", "--top", "2"]);
    assert.equal(r.code, 1, "a failed image makes the exit status 1");
    assert.match(r.stderr, /missing\.webp: file not found/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const j = JSON.parse(r.stdout);
    assert.equal(j.models[0], BEST.dir, "default: the best committed model");
    assert.notEqual(BEST.result.data.kind, "synthetic");
    assert.equal(j.crop, "centre");
    assert.equal(j.results.length, 3);
    assert.deepEqual(j.results[1], { file: missing, error: `${missing}: file not found` });
    for (const [{ faces: [res], file }, row] of [[j.results[0], 0], [j.results[2], 1]] as const) {
      const probs = Object.values(res.probabilities) as number[];
      assert.equal(probs.length, 7);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      assert.equal(res.top.length, 2);
      assert.equal(res.top[0].emotion, EMOTIONS[expected[row]], file);
      assert.ok(res.top[0].probability >= res.top[1].probability);
    }

    const text = await predictTool([webp, "--box", WEBP_BOX]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /group\.webp \(400×300, box 96×96 at 250,30\): \w+ \d+\.\d%, \w+ \d+\.\d%, \w+ \d+\.\d%/);
    const first = /: (\w+) /.exec(text.stdout)![1];
    assert.equal(first, EMOTIONS[expected[2]]);

    const badBox = await predictTool([webp, "--box", "1,2,3"]);
    assert.equal(badBox.code, 1);
    assert.match(badBox.stderr, /--box expects four non-negative integers/);
  },
});
