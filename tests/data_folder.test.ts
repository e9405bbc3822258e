import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import sharp from "sharp";
import { emotionFromFolder, loadFer2013Folder, usageFromFileName } from "../lib/data/folder.ts";
import { DataError, PIXELS, USAGES } from "../lib/data/fer2013.ts";
import { makeRng } from "../lib/rng.ts";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferlab_folder_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes raw pixels (w×h×channels) as a PNG or JPEG chosen by extension. */
async function writeImage(
  path: string,
  raw: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const img = sharp(raw, { raw: { width, height, channels } });
  const buf = /\.png$/i.test(path) ? await img.png().toBuffer() : await img.jpeg({ quality: 95 }).toBuffer();
  await Deno.writeFile(path, buf);
}

function solid(w: number, h: number, ch: number, value: number): Uint8Array {
  return new Uint8Array(w * h * ch).fill(value);
}

async function rejectsWith(
  promise: Promise<unknown>,
  file: string,
  ...parts: string[]
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.equal(e.file, file);
    for (const p of [file, ...parts]) {
      assert.ok(e.message.includes(p), `"${e.message}" lacks "${p}"`);
    }
    return true;
  });
}

/** A grayscale 48×48 PNG with seeded noise: must come back byte-exact. */
function noise(seed: number): Uint8Array {
  const rng = makeRng(seed);
  return Uint8Array.from({ length: PIXELS }, () => rng.int(256));
}

Deno.test("folder: name helpers", () => {
  assert.equal(emotionFromFolder("Happy"), 3);
  assert.equal(emotionFromFolder("NEUTRAL"), 6);
  assert.equal(emotionFromFolder("0"), 0);
  assert.equal(emotionFromFolder("7"), -1);
  assert.equal(emotionFromFolder("happyy"), -1);
  assert.equal(usageFromFileName("Training_123.jpg"), 0);
  assert.equal(usageFromFileName("publictest_9.png"), 1);
  assert.equal(usageFromFileName("PrivateTest_10131363.jpg"), 2);
  assert.equal(usageFromFileName("Trainingx_1.jpg"), -1);
  assert.equal(usageFromFileName("face.jpg"), -1);
});

Deno.test("folder: the release layout, mixed sizes, colours and names", () =>
  withTmp(async (root) => {
    const exact = noise(1);
    await writeImage(
      join(root, "train/happy/Training_00001.png"),
      exact,
      48,
      48,
      1,
    );
    // RGB JPEG, 64×64, mid gray
    await writeImage(
      join(root, "train/Angry/Training_00002.jpg"),
      solid(64, 64, 3, 120),
      64,
      64,
      3,
    );
    // 96×48 RGB, left half black, right half white; digit-named folder
    const halves = new Uint8Array(96 * 48 * 3);
    for (let y = 0; y < 48; y++) {
      for (let x = 48; x < 96; x++) {
        halves.fill(255, (y * 96 + x) * 3, (y * 96 + x + 1) * 3);
      }
    }
    await writeImage(join(root, "train/3/face.png"), halves, 96, 48, 3);
    await writeImage(
      join(root, "test/sad/PrivateTest_9.png"),
      solid(48, 48, 4, 200),
      48,
      48,
      4,
    );
    await writeImage(
      join(root, "test/sad/img.jpeg"),
      solid(30, 30, 1, 60),
      30,
      30,
      1,
    );
    await writeImage(
      join(root, "test/Surprise/PublicTest_3.jpg"),
      solid(48, 48, 1, 10),
      48,
      48,
      1,
    );
    await Deno.writeTextFile(join(root, "train/happy/.DS_Store"), "x");
    await Deno.mkdir(join(root, "extras"));

    let last: [number, number] = [0, 0];
    const got = await loadFer2013Folder(root, {
      onProgress: (d, t) => (last = [d, t]),
    });
    assert.deepEqual(last, [6, 6]);
    assert.equal(got.n, 6);
    assert.equal(got.pixels.length, 6 * PIXELS);
    assert.equal(got.source, root);
    // sorted by relative path (code-unit order: "S" < "s", "3" < "A" < "h")
    assert.deepEqual([...got.labels], [5, 4, 4, 3, 0, 3]);
    assert.deepEqual([...got.usage].map((u) => USAGES[u]), [
      "PublicTest", // test/Surprise/PublicTest_3.jpg
      "PrivateTest", // test/sad/PrivateTest_9.png
      "PublicTest", // test/sad/img.jpeg (no prefix: from test/)
      "Training", // train/3/face.png (no prefix: from train/)
      "Training",
      "Training",
    ]);
    const img = (i: number) => got.pixels.subarray(i * PIXELS, (i + 1) * PIXELS);
    const near = (a: Uint8Array, v: number, tol: number) => a.every((p) => Math.abs(p - v) <= tol);
    assert.ok(near(img(0), 10, 2));
    assert.ok(near(img(1), 200, 2), "RGBA becomes one gray channel");
    assert.ok(near(img(2), 60, 2), "30×30 upscaled");
    assert.ok(
      img(3)[0] < 10 && img(3)[47] > 245,
      "96×48 squashed, halves kept",
    );
    assert.ok(img(3)[47 * 48] < 10 && img(3)[47 * 48 + 47] > 245);
    assert.ok(near(img(4), 120, 3), "RGB JPEG to gray");
    assert.deepEqual(img(5), exact, "48×48 gray PNG is byte-exact");

    assert.deepEqual(got.skipped, []);
    assert.equal(got.notes.length, 2);
    assert.match(
      got.notes[0],
      /^2 of 6 images .* no Training_\/PublicTest_\/PrivateTest_/,
    );
    assert.match(got.notes[1], /ignored "extras"/);
  }));

Deno.test("folder: only a test/ folder, all prefixed, gives no notes", () =>
  withTmp(async (root) => {
    await writeImage(
      join(root, "test/neutral/PrivateTest_1.png"),
      noise(2),
      48,
      48,
      1,
    );
    const got = await loadFer2013Folder(root);
    assert.equal(got.n, 1);
    assert.equal(got.labels[0], 6);
    assert.equal(USAGES[got.usage[0]], "PrivateTest");
    assert.deepEqual(got.notes, []);
  }));

Deno.test("folder: layout errors name the path and the problem", () =>
  withTmp(async (dir) => {
    const missing = join(dir, "nothing_here");
    await rejectsWith(loadFer2013Folder(missing), missing, "folder not found");

    const noSplits = join(dir, "nosplits");
    await Deno.mkdir(join(noSplits, "val"), { recursive: true });
    await rejectsWith(
      loadFer2013Folder(noSplits),
      noSplits,
      "neither a train/ nor a test/ folder",
      "found: val",
    );

    const badEmotion = join(dir, "bademo");
    await writeImage(
      join(badEmotion, "train/happyy/a.png"),
      noise(3),
      48,
      48,
      1,
    );
    await rejectsWith(
      loadFer2013Folder(badEmotion),
      join(badEmotion, "train/happyy"),
      'unknown emotion folder "happyy"',
      "angry, disgust, fear, happy, sad, surprise, neutral",
    );

    const stray = join(dir, "stray");
    await Deno.mkdir(join(stray, "train"), { recursive: true });
    await Deno.writeTextFile(join(stray, "train/readme.txt"), "hi");
    await rejectsWith(
      loadFer2013Folder(stray),
      join(stray, "train/readme.txt"),
      "file outside an emotion folder",
    );

    const empty = join(dir, "noimages");
    await Deno.mkdir(join(empty, "train/happy"), { recursive: true });
    await Deno.mkdir(join(empty, "test"), { recursive: true });
    await rejectsWith(loadFer2013Folder(empty), empty, "no images found");
  }));

Deno.test("folder: bad image files name the file and the problem", () =>
  withTmp(async (root) => {
    await writeImage(
      join(root, "train/fear/Training_1.png"),
      noise(4),
      48,
      48,
      1,
    );
    const corrupt = join(root, "train/fear/Training_2.jpg");
    await Deno.writeFile(corrupt, new Uint8Array([0xff, 0xd8, 1, 2, 3, 4]));
    await rejectsWith(
      loadFer2013Folder(root),
      corrupt,
      "unreadable or corrupt image",
    );
    await Deno.remove(corrupt);

    const empty = join(root, "train/fear/Training_3.png");
    await Deno.writeFile(empty, new Uint8Array());
    await rejectsWith(loadFer2013Folder(root), empty, "empty image file");
    await Deno.remove(empty);

    const text = join(root, "train/fear/notes.txt");
    await Deno.writeTextFile(text, "not an image");
    await rejectsWith(
      loadFer2013Folder(root),
      text,
      "not a .jpg, .jpeg or .png",
    );
  }));

Deno.test("folder: skipBad keeps good images in order and lists the bad", () =>
  withTmp(async (root) => {
    const a = noise(5), b = noise(6);
    await writeImage(join(root, "train/disgust/Training_1.png"), a, 48, 48, 1);
    const bad1 = join(root, "train/disgust/Training_2.png");
    await Deno.writeFile(bad1, new Uint8Array([1, 2, 3]));
    await writeImage(join(root, "train/disgust/Training_3.png"), b, 48, 48, 1);
    const bad2 = join(root, "train/disgust/Training_4.png");
    await Deno.writeFile(bad2, new Uint8Array());

    const got = await loadFer2013Folder(root, { skipBad: true });
    assert.equal(got.n, 2);
    assert.deepEqual(got.pixels.subarray(0, PIXELS), a);
    assert.deepEqual(got.pixels.subarray(PIXELS), b);
    assert.deepEqual([...got.labels], [1, 1]);
    assert.deepEqual(got.skipped.map((s) => [s.row, s.where]), [[2, bad1], [
      4,
      bad2,
    ]]);
    assert.match(got.skipped[0].problem, /corrupt/);
    assert.equal(got.skipped[1].problem, "empty image file");

    await Deno.remove(join(root, "train/disgust/Training_1.png"));
    await Deno.remove(join(root, "train/disgust/Training_3.png"));
    await rejectsWith(
      loadFer2013Folder(root, { skipBad: true }),
      root,
      "no usable images: all 2 failed",
    );
  }));
