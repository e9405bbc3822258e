import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { loadFer2013Csv, writeFer2013Csv } from "../lib/data/csv.ts";
import { DataError, type Fer2013, PIXELS, usageCounts, USAGES } from "../lib/data/fer2013.ts";

const HEADER = "emotion,pixels,Usage";

/** Deterministic, row-specific pixel values covering 0–255. */
function pixelsFor(seed: number): number[] {
  return Array.from({ length: PIXELS }, (_, i) => (i * 7 + seed * 31) % 256);
}

function row(
  label: number | string,
  px: (number | string)[] | string,
  usage = "Training",
) {
  return `${label},${Array.isArray(px) ? px.join(" ") : px},${usage}`;
}

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferlab_csv_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `text` to dir/name and returns the path. */
async function put(dir: string, name: string, text: string | Uint8Array) {
  const path = `${dir}/${name}`;
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  return path;
}

/** Expects a DataError whose message contains every part. */
async function rejectsWith(
  promise: Promise<unknown>,
  file: string,
  ...parts: string[]
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.equal(e.file, file);
    assert.ok(e.message.includes(file), e.message);
    for (const p of parts) {
      assert.ok(e.message.includes(p), `"${e.message}" lacks "${p}"`);
    }
    return true;
  });
}

function sample(): Fer2013 {
  const n = 5;
  const pixels = new Uint8Array(n * PIXELS);
  for (let r = 0; r < n; r++) pixels.set(pixelsFor(r), r * PIXELS);
  return {
    pixels,
    labels: Uint8Array.from([0, 3, 6, 2, 5]),
    usage: Uint8Array.from([0, 0, 1, 2, 0]),
    n,
    source: "test",
  };
}

function assertSameData(got: Fer2013, want: Fer2013) {
  assert.equal(got.n, want.n);
  assert.deepEqual(got.labels, want.labels);
  assert.deepEqual(got.usage, want.usage);
  assert.equal(got.pixels.length, want.n * PIXELS);
  assert.deepEqual(got.pixels, want.pixels);
}

Deno.test("csv: plain round trip through writeFer2013Csv", () =>
  withTmp(async (dir) => {
    const want = sample();
    const path = `${dir}/out.csv`;
    await writeFer2013Csv(path, want);
    const text = await Deno.readTextFile(path);
    assert.ok(text.startsWith(HEADER + "\n0,0 7 14 "));
    const got = await loadFer2013Csv(path);
    assertSameData(got, want);
    assert.equal(got.source, path);
    assert.deepEqual(got.skipped, []);
    assert.deepEqual(got.notes, []);
  }));

Deno.test("csv: gzip round trip, and gzip found by magic bytes not extension", () =>
  withTmp(async (dir) => {
    const want = sample();
    const gz = `${dir}/out.csv.gz`;
    await writeFer2013Csv(gz, want);
    const bytes = await Deno.readFile(gz);
    assert.deepEqual([bytes[0], bytes[1]], [0x1f, 0x8b]);
    assertSameData(await loadFer2013Csv(gz), want);
    // gzip bytes under a .csv name, and plain text under a .gz name
    const disguised = await put(dir, "gz_inside.csv", bytes);
    assertSameData(await loadFer2013Csv(disguised), want);
    const plainText = await put(
      dir,
      "plain.csv.gz",
      `${HEADER}\n${row(4, pixelsFor(1), "PublicTest")}\n`,
    );
    const plain = await loadFer2013Csv(plainText);
    assert.equal(plain.n, 1);
    assert.equal(plain.labels[0], 4);
    assert.equal(USAGES[plain.usage[0]], "PublicTest");
  }));

Deno.test("csv: quoted pixels, CRLF, no final newline, reordered spaced header", () =>
  withTmp(async (dir) => {
    const a = pixelsFor(2), b = pixelsFor(3);
    const text = `emotion, Usage, "pixels"\r\n` +
      `1,PrivateTest,"${a.join(" ")}"\r\n` +
      `5, Training , ${b.join(" ")}`;
    const got = await loadFer2013Csv(await put(dir, "q.csv", text));
    assert.equal(got.n, 2);
    assert.deepEqual([...got.labels], [1, 5]);
    assert.deepEqual([...got.usage].map((u) => USAGES[u]), [
      "PrivateTest",
      "Training",
    ]);
    assert.deepEqual([...got.pixels.subarray(0, PIXELS)], a);
    assert.deepEqual([...got.pixels.subarray(PIXELS)], b);
  }));

Deno.test("csv: tabs and doubled spaces in pixels, trailing blank lines", () =>
  withTmp(async (dir) => {
    const a = pixelsFor(4);
    const messy = a.map((v, i) => (i % 3 === 0 ? `\t${v} ` : `${v}`)).join(
      " ",
    );
    const text = `${HEADER}\n${row(2, messy)}\n${row(3, pixelsFor(5))}\n\n\n`;
    const got = await loadFer2013Csv(await put(dir, "t.csv", text));
    assert.equal(got.n, 2);
    assert.deepEqual([...got.pixels.subarray(0, PIXELS)], a);
  }));

Deno.test("csv: 2-column emotion,pixels file is all Training, with a note", () =>
  withTmp(async (dir) => {
    const text = `emotion,pixels\n0,${pixelsFor(1).join(" ")}\n6,${pixelsFor(2).join(" ")}\n`;
    const path = await put(dir, "train.csv", text);
    const got = await loadFer2013Csv(path);
    assert.equal(got.n, 2);
    assert.deepEqual([...got.labels], [0, 6]);
    assert.deepEqual(usageCounts(got), {
      Training: 2,
      PublicTest: 0,
      PrivateTest: 0,
    });
    assert.equal(got.notes.length, 1);
    assert.match(got.notes[0], /no Usage column/);
    assert.match(got.notes[0], /Training/);
  }));

Deno.test("csv: onProgress ends at the file size", () =>
  withTmp(async (dir) => {
    const path = `${dir}/p.csv.gz`;
    await writeFer2013Csv(path, sample());
    const size = (await Deno.stat(path)).size;
    const calls: [number, number][] = [];
    await loadFer2013Csv(path, { onProgress: (d, t) => calls.push([d, t]) });
    assert.ok(calls.length > 0);
    assert.deepEqual(calls[calls.length - 1], [size, size]);
  }));

Deno.test("csv: file-level errors name the file and the problem", () =>
  withTmp(async (dir) => {
    await rejectsWith(
      loadFer2013Csv(`${dir}/nope.csv`),
      `${dir}/nope.csv`,
      "file not found",
    );
    await rejectsWith(loadFer2013Csv(dir), dir, "is a folder");
    const empty = await put(dir, "empty.csv", "");
    await rejectsWith(loadFer2013Csv(empty), empty, "empty file");
    const emptyGz = await put(dir, "empty.csv.gz", gzipSync(new Uint8Array()));
    await rejectsWith(loadFer2013Csv(emptyGz), emptyGz, "empty file");
    const headerOnly = await put(dir, "h.csv", HEADER + "\n\n");
    await rejectsWith(loadFer2013Csv(headerOnly), headerOnly, "no data rows");
    const noHeader = await put(dir, "nh.csv", row(0, pixelsFor(0)) + "\n");
    await rejectsWith(
      loadFer2013Csv(noHeader),
      noHeader,
      "line 1",
      "missing header",
    );
    const unknownCol = await put(dir, "u.csv", "emotion,pixels,Usage,foo\n");
    await rejectsWith(
      loadFer2013Csv(unknownCol),
      unknownCol,
      "line 1",
      'unknown column "foo"',
    );
    const noPixels = await put(dir, "np.csv", "emotion,Usage\n0,Training\n");
    await rejectsWith(
      loadFer2013Csv(noPixels),
      noPixels,
      "no pixels column",
    );
    const zip = await put(
      dir,
      "fer2013.zip",
      new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]),
    );
    await rejectsWith(loadFer2013Csv(zip), zip, "zip archive");
  }));

Deno.test("csv: corrupt and truncated gzip", () =>
  withTmp(async (dir) => {
    const good = gzipSync(
      new TextEncoder().encode(
        `${HEADER}\n${row(0, pixelsFor(0))}\n${row(1, pixelsFor(1))}\n`,
      ),
    );
    const truncated = await put(dir, "trunc.csv.gz", good.subarray(0, 200));
    await rejectsWith(
      loadFer2013Csv(truncated),
      truncated,
      "corrupt or truncated gzip",
    );
    const garbled = good.slice();
    for (let i = 20; i < garbled.length - 8; i++) garbled[i] ^= 0x5a;
    const corrupt = await put(dir, "bad.csv.gz", garbled);
    await rejectsWith(
      loadFer2013Csv(corrupt),
      corrupt,
      "corrupt or truncated gzip",
    );
  }));

Deno.test("csv: an error early in a big gzip stops the stream cleanly", () =>
  withTmp(async (dir) => {
    // ~14 MB of text: many 1 MB chunks are still unread when row 2 fails.
    const good = row(1, pixelsFor(1));
    const lines = [HEADER, good, row(0, pixelsFor(0), "Validation")];
    for (let r = 0; r < 1500; r++) lines.push(good);
    const gz = gzipSync(new TextEncoder().encode(lines.join("\n")));
    const path = await put(dir, "big.csv.gz", gz);
    await rejectsWith(
      loadFer2013Csv(path),
      path,
      "row 2 (line 3)",
      'unknown Usage "Validation"',
    );
    const skipping = await loadFer2013Csv(path, { skipBad: true });
    assert.equal(skipping.n, 1501);
    assert.deepEqual(skipping.skipped.map((s) => s.row), [2]);
  }));

/** Each bad row sits at data row 2 (line 3), after one good row. */
const BAD_ROWS: [string, string, string[]][] = [
  ["extra column", row(0, pixelsFor(0)) + ",x", [
    "has 4 columns, expected 3",
  ]],
  ["missing column", `0,${pixelsFor(0).join(" ")}`, [
    "has 2 columns, expected 3",
  ]],
  ["too few pixels", row(0, pixelsFor(0).slice(1)), [
    "has 2303 pixel values, expected 2304",
  ]],
  ["too many pixels", row(0, [...pixelsFor(0), 9]), [
    "has 2305 pixel values, expected 2304",
  ]],
  [
    "pixel above 255",
    row(0, pixelsFor(0).map((v, i) => (i === 9 ? 256 : v))),
    ['pixel #10 is "256", outside 0–255'],
  ],
  [
    "negative pixel",
    row(0, pixelsFor(0).map((v, i) => (i === 0 ? -1 : v))),
    ['pixel #1 is "-1", outside 0–255'],
  ],
  [
    "non-numeric pixel",
    row(0, pixelsFor(0).map((v, i) => (i === 2303 ? "abc" : String(v)))),
    ['pixel #2304 is "abc", not a whole number'],
  ],
  [
    "decimal pixel",
    row(0, pixelsFor(0).map((v, i) => (i === 99 ? "1.5" : String(v)))),
    ['pixel #100 is "1.5", not a whole number'],
  ],
  ["unknown emotion", row(7, pixelsFor(0)), [
    'unknown emotion label "7" (expected 0–6)',
  ]],
  ["emotion word", row("happy", pixelsFor(0)), [
    'unknown emotion label "happy"',
  ]],
  ["unknown usage", row(0, pixelsFor(0), "Validation"), [
    'unknown Usage "Validation"',
    "Training, PublicTest, PrivateTest",
  ]],
  ["unclosed quote", `0,"${pixelsFor(0).join(" ")},Training`, [
    "unclosed quote",
  ]],
];

for (const [name, bad, parts] of BAD_ROWS) {
  Deno.test(`csv: bad row — ${name}`, () =>
    withTmp(async (dir) => {
      const text = `${HEADER}\n${row(1, pixelsFor(1))}\n${bad}\n${row(2, pixelsFor(2))}\n`;
      const path = await put(dir, "bad.csv", text);
      await rejectsWith(loadFer2013Csv(path), path, "row 2 (line 3)", ...parts);
    }));
}

Deno.test("csv: a blank line between rows is an error", () =>
  withTmp(async (dir) => {
    const text = `${HEADER}\n${row(1, pixelsFor(1))}\n\n${row(2, pixelsFor(2))}\n`;
    const path = await put(dir, "blank.csv", text);
    await rejectsWith(
      loadFer2013Csv(path),
      path,
      "row 2 (line 3)",
      "blank line",
    );
  }));

Deno.test("csv: skipBad keeps good rows in order and lists the bad ones", () =>
  withTmp(async (dir) => {
    const lines = [HEADER];
    for (let r = 0; r < 6; r++) lines.push(row(r % 7, pixelsFor(r)));
    lines[2] = row(9, pixelsFor(1)); // row 2: bad label
    lines[5] = row(0, pixelsFor(4).slice(0, 10)); // row 5: 10 pixels
    const path = await put(dir, "skip.csv", lines.join("\r\n") + "\r\n");
    const got = await loadFer2013Csv(path, { skipBad: true });
    assert.equal(got.n, 4);
    assert.deepEqual([...got.labels], [0, 2, 3, 5]);
    for (const [i, seed] of [0, 2, 3, 5].entries()) {
      assert.deepEqual(
        [...got.pixels.subarray(i * PIXELS, (i + 1) * PIXELS)],
        pixelsFor(seed),
      );
    }
    assert.deepEqual(got.skipped.map((s) => [s.row, s.where]), [
      [2, "row 2 (line 3)"],
      [5, "row 5 (line 6)"],
    ]);
    assert.match(got.skipped[0].problem, /unknown emotion label "9"/);
    assert.match(got.skipped[1].problem, /has 10 pixel values/);
    // Without skipBad the same file fails at the first bad row.
    await rejectsWith(loadFer2013Csv(path), path, "row 2 (line 3)");
  }));

Deno.test("csv: skipBad with every row bad still fails", () =>
  withTmp(async (dir) => {
    const path = await put(
      dir,
      "allbad.csv",
      `${HEADER}\n${row(8, pixelsFor(0))}\n${row(9, pixelsFor(1))}\n`,
    );
    await rejectsWith(
      loadFer2013Csv(path, { skipBad: true }),
      path,
      "no usable rows: all 2 rows were bad",
      "row 1 (line 2)",
    );
  }));

Deno.test("csv: writeFer2013Csv refuses inconsistent data", () =>
  withTmp(async (dir) => {
    const d = sample();
    await assert.rejects(
      writeFer2013Csv(`${dir}/x.csv`, { ...d, n: 6 }),
      RangeError,
    );
    await assert.rejects(
      writeFer2013Csv(`${dir}/x.csv`, {
        ...d,
        labels: Uint8Array.from([0, 1, 2, 3, 7]),
      }),
      /row 5/,
    );
  }));

const REAL = "../shared/data/fer2013-dev.csv.gz";
const haveReal = await Deno.stat(REAL).then(() => true, () => false);

Deno.test({
  name: "csv: real FER2013 dev file (28,709 Training + 3,589 PublicTest)",
  ignore: !haveReal,
  fn: async () => {
    const t0 = performance.now();
    const data = await loadFer2013Csv(REAL);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `loaded ${data.n} rows from ${REAL} in ${seconds.toFixed(2)} s`,
    );
    assert.equal(data.n, 32298);
    assert.deepEqual(usageCounts(data), {
      Training: 28709,
      PublicTest: 3589,
      PrivateTest: 0,
    });
    assert.equal(data.pixels.length, 32298 * PIXELS);
    assert.ok(data.labels.every((l) => l <= 6));
    assert.deepEqual(data.skipped, []);
  },
});
