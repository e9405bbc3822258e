import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { writeFer2013Csv } from "../lib/data/csv.ts";
import { DataError, type Fer2013, PIXELS } from "../lib/data/fer2013.ts";
import { loadData, locateData, SYNTHETIC_NOTICE } from "../lib/data/locate.ts";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferlab_locate_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** n rows whose first pixel equals the row's label, so sources are tellable apart. */
function tiny(n: number, source: string): Fer2013 {
  const pixels = new Uint8Array(n * PIXELS);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 7);
  labels.forEach((l, i) => (pixels[i * PIXELS] = l));
  return { pixels, labels, usage: new Uint8Array(n), n, source };
}

/** A synthetic maker that counts its calls. */
function fakeSynthetic() {
  const calls = { count: 0 };
  return {
    calls,
    make: () => {
      calls.count++;
      return tiny(2, "synthetic");
    },
  };
}

Deno.test("locate: nothing found falls back to synthetic, loudly", () =>
  withTmp(async (root) => {
    const syn = fakeSynthetic();
    const logs: string[] = [];
    const got = await loadData({
      root,
      synthetic: syn.make,
      log: (m) => logs.push(m),
    });
    assert.equal(got.kind, "synthetic");
    assert.equal(got.path, undefined);
    assert.equal(got.data.source, "synthetic");
    assert.equal(syn.calls.count, 1);
    assert.deepEqual(logs, [SYNTHETIC_NOTICE]);
    assert.match(SYNTHETIC_NOTICE, /NOT FER2013 numbers/);
  }));

Deno.test("locate: --data that does not exist is a DataError", () =>
  withTmp(async (root) => {
    const path = join(root, "missing.csv");
    const syn = fakeSynthetic();
    await assert.rejects(
      loadData({ data: path, root, synthetic: syn.make, log: () => {} }),
      (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.equal(e.file, path);
        assert.match(e.message, /not found \(given by --data/);
        return true;
      },
    );
    assert.equal(syn.calls.count, 0, "no silent fallback to synthetic");
  }));

Deno.test("locate: --data picks CSV or folder by what the path is", () =>
  withTmp(async (root) => {
    const csv = join(root, "mine.csv.gz");
    await writeFer2013Csv(csv, tiny(3, "x"));
    const folder = join(root, "faces");
    await Deno.mkdir(join(folder, "train/fear"), { recursive: true });
    await sharp(new Uint8Array(PIXELS).fill(90), {
      raw: { width: 48, height: 48, channels: 1 },
    }).png().toFile(join(folder, "train/fear/Training_1.png"));

    const syn = fakeSynthetic();
    const fromCsv = await loadData({
      data: csv,
      root,
      synthetic: syn.make,
      log: () => {},
    });
    assert.equal(fromCsv.kind, "csv");
    assert.equal(fromCsv.path, csv);
    assert.equal(fromCsv.data.n, 3);
    assert.deepEqual([...fromCsv.data.labels], [0, 1, 2]);
    // the result is a plain Fer2013, not the loader's extended object
    assert.deepEqual(Object.keys(fromCsv.data).sort(), [
      "labels",
      "n",
      "pixels",
      "source",
      "usage",
    ]);

    const fromFolder = await loadData({
      data: folder,
      synthetic: syn.make,
      log: () => {},
    });
    assert.equal(fromFolder.kind, "folder");
    assert.equal(fromFolder.data.n, 1);
    assert.equal(fromFolder.data.labels[0], 2);
    assert.equal(fromFolder.data.pixels[100], 90);
    assert.equal(syn.calls.count, 0);
  }));

Deno.test("locate: default places under root, in order, with a note", () =>
  withTmp(async (root) => {
    assert.deepEqual(await locateData({ root }), {
      kind: "synthetic",
      notes: [],
    });
    await Deno.mkdir(join(root, "data/fer2013"), { recursive: true });
    assert.deepEqual(await locateData({ root }), {
      kind: "folder",
      path: join(root, "data/fer2013"),
      notes: [],
    });
    await writeFer2013Csv(join(root, "data/fer2013.csv.gz"), tiny(4, "x"));
    const both = await locateData({ root });
    assert.equal(both.kind, "csv");
    assert.equal(both.path, join(root, "data/fer2013.csv.gz"));
    assert.deepEqual(both.notes, [
      `also found ${join(root, "data/fer2013")}; using ${join(root, "data/fer2013.csv.gz")}.`,
    ]);
    await writeFer2013Csv(join(root, "data/fer2013.csv"), tiny(5, "x"));
    const logs: string[] = [];
    const got = await loadData({
      root,
      synthetic: fakeSynthetic().make,
      log: (m) => logs.push(m),
    });
    assert.equal(got.path, join(root, "data/fer2013.csv"));
    assert.equal(got.data.n, 5);
    assert.equal(got.notes.length, 2);
    assert.deepEqual(logs, got.notes.map((n) => `NOTE: ${n}`));
  }));

Deno.test("locate: skipped rows and loader notes are logged", () =>
  withTmp(async (root) => {
    const px = (v: number) => new Array(PIXELS).fill(v).join(" ");
    const lines = ["emotion,pixels"];
    for (let r = 0; r < 9; r++) lines.push(`${r < 8 ? 9 : 1},${px(r)}`);
    const path = join(root, "train.csv");
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const logs: string[] = [];
    const got = await loadData({
      data: path,
      skipBad: true,
      synthetic: fakeSynthetic().make,
      log: (m) => logs.push(m),
    });
    assert.equal(got.data.n, 1);
    assert.equal(got.skipped.length, 8);
    assert.equal(logs.length, 2);
    assert.match(logs[0], /^NOTE: .*no Usage column.*Training/);
    const report = logs[1].split("\n");
    assert.equal(report[0], `skipped 8 bad entries of ${path}:`);
    assert.equal(report.length, 1 + 5 + 1, "first five, then a count");
    assert.match(report[1], /row 1 \(line 2\): unknown emotion label "9"/);
    assert.match(report[6], /and 3 more/);
  }));
