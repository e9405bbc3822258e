/**
 * The browser demo (`reports/demo.html`, `deno task demo`) in headless
 * Chromium, assembled into a temp folder and served by its own static
 * server: the page starts offline; a dropped photo of FER2013 faces gets
 * the faces `deno task predict` finds, each with its emotions; a fake camera
 * playing a video of FER2013 faces is analysed frame after frame with its
 * frame rate shown; no console error, and no request to anything but that
 * server. Plus the page's pure parts: its 48×48 shrink against sharp's, and
 * the server's refusal to leave its folder.
 *
 * The faces are FER2013 PublicTest rows from `../shared/data` (CI has
 * them), pasted at run time; without them those tests are skipped with a
 * message. Their screenshot goes to `.cache/e2e/demo.png`, never into the
 * repository (FER2013's terms). Needs Chromium (`apt-get install -y
 * chromium`; .ci/run installs it).
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import sharp from "sharp";
import { bestModelDir, readResults } from "../../lib/compare/results.ts";
import { EMOTIONS, IMAGE_SIZE } from "../../lib/data/fer2013.ts";
import { denoCommand } from "../../lib/cli/permissions.ts";
import { assembleDemo, readConfig } from "../../lib/demo/assemble.ts";
import type { DemoFace, DemoState } from "../../lib/demo/page.ts";
import { grayFromRgba, resizeGray } from "../../lib/demo/pixels.ts";
import { fileFor, serveStatic, type StaticServer } from "../../lib/demo/serve.ts";
import { iou } from "../../lib/predict/fer_crop.ts";
import { runScript } from "../helpers/run_script.ts";
import { openPage, type PageSession } from "./demo_browser.ts";
import { photoOf, publicTestFaces, REAL_DATA, videoOf } from "./demo_media.ts";

const REPORTS = new URL("../../reports", import.meta.url).pathname;
const SCREENSHOT = new URL("../../.cache/e2e/demo.png", import.meta.url).pathname;

const haveReal = await Deno.stat(REAL_DATA).then(() => true, () => false);
if (!haveReal) {
  console.warn(`demo with FER2013 faces skipped: ${REAL_DATA} is absent (FER2013 is not in the repository)`);
}

/** Any host but the test's server resolves to nothing, so a stray request fails loudly instead of leaving. */
const OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1";

const STATE = "window.ferlabDemo";

/** The demo assembled once for the module's tests, in a temp folder with its own copy of demo.html. */
let site: Promise<{ dir: string; model: string }> | undefined;
function assembled() {
  return site ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferlab-demo-" });
    // The model reports/demo.json names; "auto" is predict's default, as `deno task demo` resolves it.
    const configured = (await readConfig(REPORTS)).model;
    const best = (await bestModelDir(REPORTS, (await readResults(REPORTS)).results))!;
    const model = configured === "auto"
      ? { dir: best.dir, title: best.result.title, testAccuracy: best.result.testAccuracy }
      : { dir: join(REPORTS, configured) };
    await assembleDemo({ reports: REPORTS, out: dir, model, deno: denoCommand() });
    return { dir, model: basename(model.dir) };
  })();
}

/** Opens the demo page, waits until its models are loaded, runs `fn`, then checks the page stayed clean. */
async function withDemo(flags: string[], fn: (page: PageSession, server: StaticServer) => Promise<void>) {
  const { dir } = await assembled();
  const server = serveStatic(dir);
  const page = await openPage(`${server.url}demo.html`, { flags: [OFFLINE, ...flags] });
  try {
    const ready = await page.waitFor<boolean>(`${STATE}?.ready || !!${STATE}?.error`, "models loaded", 120_000);
    assert.equal(ready, true);
    await fn(page, server);
    assert.deepEqual(page.consoleErrors, [], "no console errors");
    const foreign = page.requests.filter((u) => !u.startsWith(server.url) && !u.startsWith(`blob:${server.url}`));
    assert.deepEqual(foreign, [], "every request goes to the demo's own server");
    assert.deepEqual(server.requests.filter((r) => r.status !== 200), [], "every file the page asked for exists");
    const served = server.requests.map((r) => r.path);
    for (const f of ["/demo/demo.js", "/demo/manifest.json", "/demo/face-api/tiny_face_detector_model.bin"]) {
      assert.ok(served.includes(f), `${f} was served (${served.join(", ")})`);
    }
    assert.ok(served.some((p) => /^\/demo\/wasm\/.*\.wasm$/.test(p)), "TF.js's wasm binary came from the server");
  } finally {
    await page.close();
    await server.shutdown();
  }
}

/** Centre of an element of the page, in viewport pixels. */
function centreOf(page: PageSession, id: string) {
  return page.evaluate<{ x: number; y: number }>(`(() => {
    const r = document.getElementById(${JSON.stringify(id)}).getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
  })()`);
}

const state = (page: PageSession) => page.evaluate<DemoState>(`JSON.parse(JSON.stringify(${STATE}))`);

function assertDistribution(f: DemoFace) {
  assert.deepEqual(Object.keys(f.probabilities), [...EMOTIONS]);
  const sum = Object.values(f.probabilities).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
  assert.equal(f.probability, Math.max(...Object.values(f.probabilities)));
  assert.equal(f.probabilities[f.emotion], f.probability);
}

Deno.test("the server keeps every path inside its folder", () => {
  assert.equal(fileFor("/srv", "/demo.html"), "/srv/demo.html");
  assert.equal(fileFor("/srv", "/demo/wasm/a.wasm"), "/srv/demo/wasm/a.wasm");
  assert.equal(fileFor("/srv", "/"), "/srv/index.html");
  assert.equal(fileFor("/srv", "/a/../b.js"), "/srv/b.js");
  // A rooted path cannot climb above the root: its ".." stop there.
  assert.equal(fileFor("/srv", "/../etc/passwd"), "/srv/etc/passwd");
  assert.equal(fileFor("/srv", "/%2e%2e/%2e%2e/etc/passwd"), "/srv/etc/passwd");
  assert.equal(fileFor("/srv", "..%2fetc/passwd"), null);
  assert.equal(fileFor("/srv", "/a%00b"), null);
  assert.equal(fileFor("/srv", "/%zz"), null);
});

Deno.test("the page's 48×48 shrink is sharp's within a few gray levels; its gray keeps a gray pixel", async () => {
  // A smooth face-like pattern with edges, at a detected face's size: both resamplers filter, so they agree closely.
  const w = 173, h = 173;
  const src = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const r = Math.hypot(x - w / 2, y - h / 2);
      src[y * w + x] = Math.round(128 + 90 * Math.cos(r / 9) * Math.exp(-r / 120) + (x > 120 ? 30 : 0));
    }
  }
  const ours = resizeGray(src, w, h, IMAGE_SIZE);
  const theirs = await sharp(src, { raw: { width: w, height: h, channels: 1 } })
    .resize(IMAGE_SIZE, IMAGE_SIZE, { fit: "fill" }).grayscale().raw().toBuffer();
  let diff = 0;
  for (let i = 0; i < ours.length; i++) diff += Math.abs(ours[i] - theirs[i]);
  assert.ok(diff / ours.length < 3, `mean difference ${(diff / ours.length).toFixed(2)} gray levels`);
  // Enlarging a small face (under 48 pixels) interpolates between its pixels.
  assert.deepEqual([...resizeGray(Uint8Array.of(0, 255), 2, 1, 4)].slice(0, 4), [0, 64, 191, 255]);
  assert.deepEqual([...grayFromRgba(Uint8Array.of(77, 77, 77, 255, 255, 0, 0, 255), 2, 1)], [77, 76]);
});

Deno.test({
  name: "demo page: starts offline from its static server; a photo without a face says so",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { model } = await assembled();
    const dir = await Deno.makeTempDir({ prefix: "ferlab-demo-photo-" });
    const empty = join(dir, "plain.png");
    await sharp({ create: { width: 320, height: 240, channels: 3, background: "#88aacc" } }).png().toFile(empty);
    await withDemo([], async (page) => {
      const s = await state(page);
      assert.equal(s.error, undefined);
      assert.match(s.backend!, /^wasm /);
      assert.equal(s.model, model, "the page runs the model reports/demo.json names");
      const at = await centreOf(page, "drop");
      await page.dropFile(empty, at.x, at.y);
      await page.waitFor(`${STATE}.source === "photo" && ${STATE}.frames === 1`, "the photo analysed", 120_000);
      assert.deepEqual((await state(page)).faces, []);
      assert.match(await page.evaluate<string>(`document.getElementById("fps").textContent`), /^0 faces · /);
    });
  },
});

Deno.test({
  name: "demo page: a dropped photo of FER2013 faces gets predict's faces with their emotions",
  ignore: !haveReal,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferlab-demo-photo-" });
    const { scene, png } = await photoOf(await publicTestFaces(0, 3), 160, 800, 450);
    const photo = join(dir, "faces.png");
    await Deno.writeFile(photo, png);
    // What `deno task predict` makes of the same photo, with the same detectors and the same crop geometry.
    const r = await runScript("tools/predict.ts", ["--backend", "wasm", "--json", photo], { extra: { read: [dir] } });
    assert.equal(r.code, 0, r.stderr);
    const predicted = JSON.parse(r.stdout).results[0].faces as { box: DemoFace["box"] }[];
    assert.equal(predicted.length, 3, `predict finds the 3 faces: ${r.stdout}`);

    await withDemo([], async (page) => {
      const at = await centreOf(page, "drop");
      await page.dropFile(photo, at.x, at.y);
      await page.waitFor(`${STATE}.source === "photo" && ${STATE}.frames === 1`, "the photo analysed", 120_000);
      const s = await state(page);
      assert.equal(s.faces.length, 3, JSON.stringify(s.faces.map((f) => f.box)));
      s.faces.forEach((f, i) => {
        assert.ok(iou(f.box, scene.boxes[i]) >= 0.5, `face ${i + 1} is on its pasted square`);
        assert.ok(iou(f.box, predicted[i].box) >= 0.8, `face ${i + 1}'s square is predict's`);
        assertDistribution(f);
      });
      // Each face is labelled on the picture's list: its top emotion, and a bar for every emotion.
      const listed = await page.evaluate<{ top: string; bars: number }[]>(`[...document.querySelectorAll("#faces li")]
        .map((li) => ({ top: li.querySelector(".bar.top .name").textContent, bars: li.querySelectorAll(".bar").length }))`);
      assert.deepEqual(listed, s.faces.map((f) => ({ top: f.emotion, bars: EMOTIONS.length })));
      console.log(
        `photo: ${s.faces.map((f) => `${f.emotion} ${(100 * f.probability).toFixed(0)}%`).join(", ")}; ` +
          (await page.evaluate<string>(`document.getElementById("fps").textContent`)),
      );
    });
  },
});

Deno.test({
  name: "demo page: a fake camera of FER2013 faces is analysed frame after frame, with its frame rate shown",
  ignore: !haveReal,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferlab-demo-camera-" });
    const video = join(dir, "camera.y4m");
    const faces = await publicTestFaces(0, 2);
    await Deno.writeFile(video, await videoOf(faces, { size: 170, width: 640, height: 480, frames: 20, fps: 10 }));
    await withDemo([
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`,
    ], async (page) => {
      await page.evaluate(`document.getElementById("camera").click()`);
      // Frames keep coming: 9 analysed, watched as they come (faces per frame, as the page saw them).
      const seen = new Map<number, number>();
      const deadline = Date.now() + 240_000;
      let s = await state(page);
      while (!(s.source === "camera" && s.frames >= 9) && Date.now() < deadline && !s.error) {
        await new Promise((res) => setTimeout(res, 150));
        s = await state(page);
        if (s.source === "camera" && s.frames > 0) seen.set(s.frames, s.faces.length);
      }
      assert.equal(s.error, undefined);
      assert.ok(s.frames >= 9, `9 camera frames analysed within 4 minutes, got ${s.frames}`);
      assert.ok(s.fps > 0, `frame rate ${s.fps}`);
      const line = await page.evaluate<string>(`document.getElementById("fps").textContent`);
      assert.match(line, /^\d+\.\d frames\/s · \d faces? · detection \d+ ms, emotions \d+ ms$/);
      const counts = [...seen.values()];
      assert.equal(
        Math.max(...counts),
        2,
        `both faces found in some frame (faces per frame seen: ${counts.join(" ")})`,
      );
      for (const f of s.faces) assertDistribution(f);
      assert.equal(await page.evaluate<string>(`document.getElementById("camera").textContent`), "Stop camera");
      await Deno.mkdir(join(SCREENSHOT, ".."), { recursive: true });
      await Deno.writeFile(SCREENSHOT, await page.screenshot());
      console.log(
        `camera: ${line}; ${s.frames} frames analysed, faces per frame seen ${counts.join(" ")}; ` +
          `screenshot ${SCREENSHOT}`,
      );

      await page.evaluate(`document.getElementById("camera").click()`);
      await page.waitFor(`document.getElementById("camera").textContent === "Start camera"`, "camera stopped", 30_000);
    });
  },
});
