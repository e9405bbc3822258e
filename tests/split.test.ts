import assert from "node:assert/strict";
import { join } from "node:path";
import { type Fer2013, NUM_CLASSES, PIXELS, type Usage, USAGES } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import {
  allocate,
  makeSplit,
  type Split,
  SplitError,
  splitSeedOf,
  type SplitSettings,
  splitSettings,
} from "../lib/data/split.ts";
import { resolveConfig } from "../lib/cli/args.ts";
import { decodeSplit, encodeSplit, loadOrMakeSplit, splitKey } from "../lib/data/split_cache.ts";

/**
 * A tiny data set: `perClass[c]` rows of emotion c for each Usage listed in
 * `usages`, interleaved so that rows of one class are not contiguous. Each
 * image is filled with its row number so rows are distinguishable.
 */
function tinyData(perClass: number[], usages: Usage[] = ["Training"]): Fer2013 {
  const labels: number[] = [];
  const usage: number[] = [];
  for (const u of usages) {
    const left = [...perClass];
    while (left.some((k) => k > 0)) {
      for (let c = 0; c < left.length; c++) {
        if (left[c] > 0) {
          labels.push(c);
          usage.push(USAGES.indexOf(u));
          left[c]--;
        }
      }
    }
  }
  const n = labels.length;
  const pixels = new Uint8Array(n * PIXELS);
  for (let i = 0; i < n; i++) {
    pixels.fill(i % 256, i * PIXELS, (i + 1) * PIXELS);
  }
  return {
    pixels,
    labels: Uint8Array.from(labels),
    usage: Uint8Array.from(usage),
    n,
    source: "tiny",
  };
}

const COUNTS = [50, 7, 43, 100, 61, 35, 80];

function classCountsOf(rows: Int32Array, data: Fer2013): number[] {
  const counts = new Array(NUM_CLASSES).fill(0);
  for (const r of rows) counts[data.labels[r]]++;
  return counts;
}

/** Asserts every row index appears in exactly one part and all `expected` rows are covered. */
function assertPartition(split: Split, expected: number) {
  const seen = new Uint8Array(expected);
  for (const part of [split.train, split.val, split.test]) {
    for (const r of part) {
      assert.ok(r >= 0 && r < expected, `row ${r} out of range`);
      assert.equal(seen[r], 0, `row ${r} appears twice`);
      seen[r] = 1;
    }
  }
  assert.equal(
    seen.reduce((a, b) => a + b, 0),
    expected,
    "every row is covered",
  );
}

Deno.test("allocate: counts add up and stay within one of exact", () => {
  for (const n of [1, 2, 3, 7, 10, 11, 99, 547]) {
    const shares = [0.8, 0.1, 0.1];
    const counts = allocate(n, shares);
    assert.equal(counts.reduce((a, b) => a + b, 0), n);
    if (n >= 10) {
      counts.forEach((k, p) => assert.ok(Math.abs(k - n * shares[p]) < 1, `n=${n} part ${p}: ${k}`));
    }
    if (n >= 3) assert.ok(counts.every((k) => k >= 1), `n=${n}: ${counts}`);
  }
  assert.deepEqual(allocate(5, [1, 0]), [5, 0]);
});

Deno.test("study split: stratified per class within ±1 row, disjoint and complete", () => {
  const data = tinyData(COUNTS, ["Training", "PublicTest"]);
  const settings = splitSettings({ protocol: "study", seed: 3 });
  const split = makeSplit(data, settings);
  assertPartition(split, data.n);
  const total = classCountsOf(
    Int32Array.from({ length: data.n }, (_, i) => i),
    data,
  );
  const parts = { train: split.train, val: split.val, test: split.test };
  for (const [name, rows] of Object.entries(parts)) {
    const share = settings.fractions[name as keyof typeof parts];
    classCountsOf(rows, data).forEach((k, c) => {
      assert.ok(
        Math.abs(k - total[c] * share) <= 1,
        `${name} has ${k} rows of class ${c}, expected ≈ ${total[c] * share}`,
      );
    });
  }
  // Both Usages feed every part in the study protocol.
  const usagesInTest = new Set(Array.from(split.test, (r) => data.usage[r]));
  assert.equal(usagesInTest.size, 2);
});

Deno.test("study split: deterministic per seed, different across seeds, parts shuffled", () => {
  const data = tinyData(COUNTS);
  const a = makeSplit(data, splitSettings({ seed: 11 }));
  const b = makeSplit(data, splitSettings({ seed: 11 }));
  const c = makeSplit(data, splitSettings({ seed: 12 }));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.test, c.test);
  // Shuffled, not grouped by class or sorted.
  const sorted = a.train.slice().sort();
  assert.notDeepEqual(a.train, sorted);
  const labelsInOrder = Array.from(a.train, (r) => data.labels[r]);
  assert.notDeepEqual(labelsInOrder, labelsInOrder.slice().sort());
});

Deno.test("study split: a class with ≥3 rows is in every part; rarer classes get a note", () => {
  const data = tinyData([20, 3, 20, 2, 20, 20, 20]);
  const split = makeSplit(data, splitSettings({ seed: 1 }));
  for (const part of [split.train, split.val, split.test]) {
    assert.ok(
      classCountsOf(part, data)[1] >= 1,
      "class 1 (3 rows) present in every part",
    );
  }
  assert.ok(
    split.notes.some((n) => /happy has only 2 rows/.test(n)),
    split.notes.join("\n"),
  );
});

Deno.test("split settings: fractions must add up to 1", () => {
  assert.throws(
    () => splitSettings({ fractions: { train: 0.8, val: 0.1, test: 0.2 } }),
    (e: Error) => e instanceof SplitError && /add up to 1/.test(e.message),
  );
  assert.throws(
    () => splitSettings({ fractions: { train: -0.1, val: 0.6, test: 0.5 } }),
    SplitError,
  );
  // Floating-point sums such as 0.7 + 0.2 + 0.1 are accepted.
  assert.doesNotThrow(() => splitSettings({ fractions: { train: 0.7, val: 0.2, test: 0.1 } }));
  const data = tinyData(COUNTS);
  assert.throws(
    () =>
      makeSplit(data, {
        protocol: "study",
        fractions: { train: 0.5, val: 0.1, test: 0.1 },
        seed: 0,
      }),
    /add up to 1/,
  );
});

Deno.test("official split: Training/PublicTest/PrivateTest map to train/val/test", () => {
  const data = tinyData(COUNTS.map((k) => Math.ceil(k / 5)), [
    "PrivateTest",
    "Training",
    "PublicTest",
  ]);
  const split = makeSplit(data, splitSettings({ protocol: "official" }));
  assertPartition(split, data.n);
  for (
    const [part, usage] of [[split.train, 0], [split.val, 1], [
      split.test,
      2,
    ]] as const
  ) {
    assert.ok(part.length > 0);
    assert.ok(part.every((r) => data.usage[r] === usage));
  }
  assert.deepEqual(split.notes, []);
});

Deno.test("official split without PrivateTest: PublicTest is test, 10% of Training is val", () => {
  const data = tinyData(COUNTS, ["Training", "PublicTest"]);
  const training = data.n / 2;
  const split = makeSplit(
    data,
    splitSettings({ protocol: "official", seed: 5 }),
  );
  assertPartition(split, data.n);
  assert.ok(split.test.every((r) => data.usage[r] === 1));
  assert.equal(split.test.length, training);
  assert.ok([...split.train, ...split.val].every((r) => data.usage[r] === 0));
  // The held-out validation slice is stratified: each class within one row of 10 %.
  classCountsOf(split.val, data).forEach((k, c) => {
    assert.ok(Math.abs(k - COUNTS[c] * 0.1) <= 1, `class ${c}: ${k}`);
  });
  assert.ok(
    split.notes.some((n) =>
      /^PrivateTest rows absent: PublicTest \(376 rows\) used as test; 10% of Training \(\d+ rows, stratified\) held out as validation$/
        .test(n)
    ),
    split.notes.join("\n"),
  );
  const again = makeSplit(
    data,
    splitSettings({ protocol: "official", seed: 5 }),
  );
  assert.deepEqual(again, split);
});

Deno.test("official split without PublicTest: the mirror case", () => {
  const data = tinyData(COUNTS, ["Training", "PrivateTest"]);
  const split = makeSplit(data, splitSettings({ protocol: "official" }));
  assertPartition(split, data.n);
  assert.ok(split.test.every((r) => data.usage[r] === 2));
  assert.ok(
    split.val.length > 0 && split.val.every((r) => data.usage[r] === 0),
  );
  assert.ok(
    split.notes.some((n) =>
      n.startsWith(
        "PublicTest rows absent: PrivateTest (376 rows) used as test",
      )
    ),
  );
});

Deno.test("official split: only Training rows are split three ways with a note; none is an error", () => {
  const data = tinyData(COUNTS);
  const split = makeSplit(data, splitSettings({ protocol: "official" }));
  assertPartition(split, data.n);
  assert.ok(split.val.length > 0 && split.test.length > 0);
  assert.ok(
    split.notes.some((n) => n.startsWith("PublicTest and PrivateTest rows absent")),
  );
  const noTraining = tinyData(COUNTS, ["PublicTest", "PrivateTest"]);
  assert.throws(
    () => makeSplit(noTraining, splitSettings({ protocol: "official" })),
    (e: Error) => e instanceof SplitError && /Usage "Training", found none/.test(e.message),
  );
});

Deno.test("fingerprint: stable, content-sensitive, independent of source", () => {
  const data = tinyData(COUNTS);
  const fp = fingerprint(data);
  assert.match(fp, /^[0-9a-f]{16}$/);
  assert.equal(fingerprint({ ...data, source: "elsewhere.csv" }), fp);
  const pixels = data.pixels.slice();
  pixels[123] ^= 1;
  assert.notEqual(fingerprint({ ...data, pixels }), fp);
  const labels = data.labels.slice();
  labels[0] = (labels[0] + 1) % NUM_CLASSES;
  assert.notEqual(fingerprint({ ...data, labels }), fp);
  const usage = data.usage.slice();
  usage[0] = 1;
  assert.notEqual(fingerprint({ ...data, usage }), fp);
});

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-split-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("split cache: miss then hit, keyed by data and settings", async () => {
  await withTempDir(async (cacheDir) => {
    const data = tinyData(COUNTS, ["Training", "PublicTest"]);
    const settings: SplitSettings = splitSettings({ seed: 9 });
    const first = await loadOrMakeSplit(data, settings, { cacheDir });
    assert.equal(first.cached, false);
    assert.equal(first.path, join(cacheDir, `${first.key}.split`));
    assert.equal(first.key, splitKey(fingerprint(data), settings));
    const second = await loadOrMakeSplit(data, settings, { cacheDir });
    assert.equal(second.cached, true);
    assert.deepEqual(second.split, first.split);
    assert.deepEqual(second.split, makeSplit(data, settings));

    const otherSeed = await loadOrMakeSplit(data, splitSettings({ seed: 10 }), {
      cacheDir,
    });
    assert.equal(otherSeed.cached, false);
    assert.notEqual(otherSeed.key, first.key);
    const otherData = tinyData(COUNTS.map((k) => k + 1), [
      "Training",
      "PublicTest",
    ]);
    const third = await loadOrMakeSplit(otherData, settings, { cacheDir });
    assert.equal(third.cached, false);
    assert.notEqual(third.key, first.key);
    // Only finished files remain: no temporary files left behind.
    const names = [...Deno.readDirSync(cacheDir)].map((e) => e.name).sort();
    assert.deepEqual(
      names,
      [first.key, otherSeed.key, third.key].map((k) => `${k}.split`).sort(),
    );
  });
});

Deno.test("split cache: corrupt or mismatching files are rebuilt with a note", async () => {
  await withTempDir(async (cacheDir) => {
    const data = tinyData(COUNTS, ["Training", "PublicTest"]);
    const settings = splitSettings({ seed: 4 });
    const { path, split } = await loadOrMakeSplit(data, settings, { cacheDir });
    const good = await Deno.readFile(path);
    const expectRebuild = async (bytes: Uint8Array, why: RegExp) => {
      await Deno.writeFile(path, bytes);
      const r = await loadOrMakeSplit(data, settings, { cacheDir });
      assert.equal(r.cached, false);
      assert.deepEqual([r.split.train, r.split.val, r.split.test], [
        split.train,
        split.val,
        split.test,
      ]);
      const note = r.split.notes.find((n) => n.startsWith("split cache "));
      assert.ok(
        note && why.test(note) && note.endsWith("rebuilt it"),
        String(note),
      );
      // The rebuilt file is valid again.
      assert.equal(
        (await loadOrMakeSplit(data, settings, { cacheDir })).cached,
        true,
      );
    };
    await expectRebuild(good.subarray(0, good.length - 6), /corrupt/);
    await expectRebuild(new TextEncoder().encode("garbage"), /truncated|magic/);
    const decoded = decodeSplit(good);
    assert.ok(typeof decoded !== "string");
    const outOfRange = { ...decoded.split, train: decoded.split.train.slice() };
    outOfRange.train[0] = data.n + 5;
    await expectRebuild(
      encodeSplit(decoded.header, outOfRange),
      /outside|holds row/,
    );
    const duplicated = { ...decoded.split, val: decoded.split.val.slice() };
    duplicated.val[0] = decoded.split.train[0];
    await expectRebuild(encodeSplit(decoded.header, duplicated), /twice/);
    const wrongCounts = {
      ...decoded.header,
      counts: { ...decoded.header.counts, test: 3 },
    };
    await expectRebuild(
      encodeSplit(wrongCounts, decoded.split).subarray(0),
      /corrupt|bytes/,
    );
    const otherRows = { ...decoded.header, n: data.n - 1 };
    await expectRebuild(encodeSplit(otherRows, decoded.split), /rows/);
  });
});

const REAL = "../shared/data/fer2013-dev.csv.gz";
const haveReal = (() => {
  try {
    return Deno.statSync(REAL).isFile;
  } catch {
    return false;
  }
})();

/** Reads only the label and Usage columns of the real CSV (pixels stay zero). */
async function realLabelsAndUsage(): Promise<Fer2013> {
  const stream = (await Deno.open(REAL)).readable.pipeThrough(
    new DecompressionStream("gzip"),
  )
    .pipeThrough(new TextDecoderStream());
  let text = "";
  for await (const chunk of stream) text += chunk;
  const lines = text.split("\n").slice(1).filter((l) => l.length > 0);
  const labels = new Uint8Array(lines.length);
  const usage = new Uint8Array(lines.length);
  lines.forEach((l, i) => {
    labels[i] = Number(l.slice(0, l.indexOf(",")));
    usage[i] = USAGES.indexOf(l.slice(l.lastIndexOf(",") + 1).trim() as Usage);
  });
  return {
    pixels: new Uint8Array(lines.length * PIXELS),
    labels,
    usage,
    n: lines.length,
    source: REAL,
  };
}

Deno.test({
  name: "real dev CSV: official protocol falls back to PublicTest as test; study split is stratified",
  ignore: !haveReal,
  fn: async () => {
    const data = await realLabelsAndUsage();
    const official = makeSplit(
      data,
      splitSettings({ protocol: "official", seed: 1 }),
    );
    assertPartition(official, data.n);
    assert.equal(official.test.length, 3589);
    assert.ok(
      official.notes[0].startsWith(
        "PrivateTest rows absent: PublicTest (3,589 rows) used as test; 10% of Training",
      ),
      official.notes[0],
    );
    const study = makeSplit(data, splitSettings({ seed: 1 }));
    assertPartition(study, data.n);
    const total = classCountsOf(
      Int32Array.from({ length: data.n }, (_, i) => i),
      data,
    );
    classCountsOf(study.val, data).forEach((k, c) => assert.ok(Math.abs(k - total[c] * 0.1) <= 1));
    const t0 = performance.now();
    fingerprint(data);
    assert.ok(
      performance.now() - t0 < 5000,
      "fingerprint of 32k faces is fast",
    );
  },
});

Deno.test("--split-seed gives runs of different seeds one split; without it the run seed splits, as before", () => {
  const config = (argv: string[]) => resolveConfig(argv, "exp:test", {})!;
  assert.equal(splitSeedOf(config(["--seed", "7"])), 7);
  assert.equal(splitSeedOf(config(["--seed", "7", "--split-seed", "42"])), 42);
  assert.equal(splitSeedOf(config(["--seed", "7", "--split-seed", "0"])), 0);
  const data = tinyData(COUNTS);
  const a = makeSplit(data, splitSettings({ seed: splitSeedOf(config(["--seed", "1", "--split-seed", "42"])) }));
  const b = makeSplit(data, splitSettings({ seed: splitSeedOf(config(["--seed", "2", "--split-seed", "42"])) }));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.test, makeSplit(data, splitSettings({ seed: splitSeedOf(config(["--seed", "2"])) })).test);
  assert.throws(() => config(["--split-seed", "-2"]), /split-seed/);
});
