/**
 * `deno task report` end to end on a results folder made for the test:
 * the comparison table, the ensemble row (checked against the model's own
 * score), byte-identical rebuilds, and broken or missing inputs.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fingerprint } from "../../lib/data/fingerprint.ts";
import { makeSplit, splitSettings } from "../../lib/data/split.ts";
import { splitKey } from "../../lib/data/split_cache.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { evaluate } from "../../lib/eval/metrics.ts";
import { loadModel } from "../../lib/models/io.ts";
import { fmtSeconds } from "../../lib/report/markdown.ts";
import { distinctTitles } from "../../lib/compare/comparison.ts";
import { runScript } from "../helpers/run_script.ts";

await tf.setBackend("cpu");

const REPO = new URL("../..", import.meta.url).pathname;
const COMMITTED = JSON.parse(await Deno.readTextFile(join(REPO, "reports/01_baseline.json")));

function report(args: string[], cwd: string) {
  return runScript("tools/report.ts", ["--backend", "cpu", ...args], { cwd, extra: { write: [cwd] } });
}

async function copyDir(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) await Deno.copyFile(join(from, e.name), join(to, e.name));
}

/** Every file under `dir` with its bytes, by relative path. */
async function snapshot(dir: string, prefix = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = join(prefix, e.name);
    if (e.isDirectory) { for (const [k, v] of await snapshot(dir, rel)) out.set(k, v); }
    else out.set(rel, await Deno.readTextFile(join(dir, rel)));
  }
  return out;
}

// A results folder as two synthetic runs would leave it: the same committed
// model saved under two names (so the ensemble's score must equal the model's).
const ROWS = 90;
const data = makeSyntheticFer2013({ n: ROWS, seed: 2013 });
const fp = fingerprint(data);
const settings = splitSettings({ protocol: "study", seed: 42 });
const dir = await Deno.makeTempDir({ prefix: "ferlab-report-" });
const synthetic = (name: string, title: string, extra: object = {}) => ({
  ...COMMITTED,
  name,
  title,
  config: { ...COMMITTED.config, data: "", syntheticRows: ROWS, seed: 42, protocol: "study" },
  data: { ...COMMITTED.data, kind: "synthetic", source: `synthetic (${ROWS})`, fingerprint: fp, rows: ROWS },
  split: { ...COMMITTED.split, cacheKey: splitKey(fp, settings), test: 9 },
  model: { ...COMMITTED.model, dir: `models/${name}` },
  ...extra,
});
const bins = Array.from(
  { length: 15 },
  (_, b) => ({ lo: b / 15, hi: (b + 1) / 15, count: b, confidence: b / 15, accuracy: b / 16 }),
);
// 01 as a run cut short after 19 of 30 epochs, in a session that resumed it after epoch 12
const history19 = COMMITTED.training.history.slice(0, 19);
await Deno.writeTextFile(
  join(dir, "01_baseline.json"),
  JSON.stringify(synthetic("01_baseline", "Experiment 01", {
    testAccuracy: 0.6044,
    training: { ...COMMITTED.training, history: history19, plannedEpochs: 30, cutShort: true, resumedFrom: 12 },
    wallSeconds: 1234,
  })),
);
await Deno.writeTextFile(
  join(dir, "03_deep.json"),
  JSON.stringify(synthetic("03_deep", "Experiment 03", {
    studyAccuracy: 0.62,
    testAccuracy: 0.5,
    test: { ...COMMITTED.test, calibration: { nll: 1.234, ece: 0.056, bins } },
  })),
);
// An ablation of 03, with its model: beside 03 in a section of its own, in neither the chart nor the ensemble.
await Deno.writeTextFile(
  join(dir, "03_deep_ls0.json"),
  JSON.stringify(synthetic("03_deep_ls0", "Experiment 03", { studyAccuracy: 0.62, testAccuracy: 0.4 })),
);
await Deno.writeTextFile(join(dir, "02_broken.json"), "{ not json");
await Deno.writeTextFile(join(dir, "04_empty.json"), JSON.stringify({ name: "04_empty" }));
await Deno.writeTextFile(
  join(dir, "bench.json"),
  JSON.stringify({
    date: "2026-01-02T03:04:05Z",
    results: [
      {
        label: "wasm ferlab, 2 threads",
        model: "baseline",
        batch: 64,
        trainImagesPerSec: 123.45,
        inferImagesPerSec: 600,
      },
      { label: "profile: wasm", model: "baseline", batch: 64, trainImagesPerSec: 1, profile: { kernels: [] } },
      { label: "a future kind of row", somethingNew: true },
      { label: "wasm stock", model: "deep", batch: 64, canTrain: false, inferImagesPerSec: 42.7 },
    ],
  }),
);
for (const name of ["01_baseline", "03_deep", "03_deep_ls0", "05_transfer"]) {
  await copyDir(join(REPO, "reports/models/01_baseline"), join(dir, "models", name));
}
// A model for other inputs (say 96×96 colour) cannot join an ensemble over the 48×48 faces.
await Deno.writeTextFile(join(dir, "05_transfer.json"), JSON.stringify(synthetic("05_transfer", "Experiment 05")));
const transferJson = join(dir, "models/05_transfer/model.json");
await Deno.writeTextFile(
  transferJson,
  (await Deno.readTextFile(transferJson)).replace(
    '"batch_input_shape":[null,48,48,1]',
    '"batch_input_shape":[null,96,96,3]',
  ),
);

Deno.test({
  name: "report: table, ensemble row equal to the model's own score, chart, page; broken files named",
  sanitizeResources: false,
  fn: async () => {
    const r = await report(["--dir", dir], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /02_broken\.json: not valid JSON/);
    assert.match(r.stderr, /04_empty\.json: no finite testAccuracy/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);

    const md = await Deno.readTextFile(join(dir, "README.md"));
    assert.match(
      md,
      /\| Experiment 01 \| 53\.43% \| 60\.44% \| study \| synthetic [0-9a-f]{16} \| wasm \(2 threads\) \| 19 of 30, cut short \|/,
    );
    // A resumed run's wall time is its last session's; its training time over all sessions is the epochs' sum.
    const summed = fmtSeconds(history19.reduce((a: number, h: { seconds: number }) => a + h.seconds, 0));
    assert.ok(md.includes(`| 20m 34s (resumed; training ${summed} in all) |`), summed);
    assert.match(md, /\| Experiment 03 \| 62\.00% \| 50\.00% \|.*\| 1\.234 \| 5\.6% \|/);
    assert.match(md, /Left out:\n\n- .*02_broken\.json: not valid JSON.*\n- .*04_empty\.json/);
    assert.match(md, /\| baseline \| wasm ferlab, 2 threads \| 64 \| 123\.5 \| 600\.0 \|/);
    assert.match(md, /\| deep \| wasm stock \| 64 \| cannot train \| 42\.7 \|/);
    assert.doesNotMatch(md, /profile: wasm|future kind/);
    assert.match(md, /not comparable/);

    assert.match(md, /\| Experiment 05 \|/);
    const [lead, ablations] = md.split("## Ablations");
    assert.doesNotMatch(lead, /40\.00%|03_deep_ls0/, "the ablation is not among the results");
    assert.match(ablations, /\| \[03_deep\]\(03_deep\.md\) \| ls0 \| 50\.00% \| 40\.00% \| −10\.00 pts \|/);
    // Both members are the same model, so the ensemble scores exactly as that model on the rebuilt test split.
    const ens = JSON.parse(await Deno.readTextFile(join(dir, "ensemble.json")));
    assert.deepEqual(ens.members, ["01_baseline", "03_deep"]);
    assert.deepEqual(ens.scores.map((s: { tta: string }) => s.tta), ["none", "flip"]);
    const model = await loadModel(join(dir, "models/01_baseline"));
    const test = makeSplit(data, settings).test;
    const own = await evaluate(model, data, test);
    model.dispose();
    assert.equal(ens.split.test, test.length);
    assert.ok(Math.abs(ens.scores[0].accuracy - own.accuracy) < 1e-12);
    assert.ok(Math.abs(ens.scores[0].nll - own.calibration.nll) < 1e-5);
    const accs = ens.scores.map((s: { accuracy: number }) => (100 * s.accuracy).toFixed(2).replace(".", "\\."));
    assert.match(md, new RegExp(`\\| ensemble 01\\+03 \\(1 view × 2 models\\) \\| – \\| ${accs[0]}%`));
    assert.match(md, new RegExp(`\\| ensemble 01\\+03, flip TTA \\(2 views × 2 models\\) \\| – \\| ${accs[1]}%`));

    const svg = await Deno.readTextFile(join(dir, "comparison.svg"));
    assert.match(svg, /^<svg/);
    assert.ok(svg.includes("01 baseline") && svg.includes("ensemble 01+03, flip TTA"));
    assert.ok(!svg.includes("03 deep ls0"), "no ablation in the chart");
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.ok(html.includes("Experiment 03 — ablation ls0"));
    for (
      const id of [
        "comparison",
        "x01_baseline-curves",
        "x03_deep-recall",
        "x03_deep-reliability",
        "x03_deep_ls0-curves",
      ]
    ) {
      assert.ok(html.includes(`id="${id}"`), id);
    }
    assert.ok((await Deno.stat(join(dir, "vendor/vega-embed.min.js"))).size > 10_000);
  },
});

Deno.test({
  name: "report: rebuilt without new results, every file is byte-identical; a recomputed ensemble scores the same",
  sanitizeResources: false,
  fn: async () => {
    if (!(await Deno.stat(join(dir, "README.md")).catch(() => null))) {
      assert.equal((await report(["--dir", dir], dir)).code, 0);
    }
    const first = await snapshot(dir);
    const again = await report(["--dir", dir], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /\(cached\)/);
    assert.deepEqual(await snapshot(dir), first);
    // Without the cache the ensemble is computed again, to the same scores; only its recorded wall time may differ.
    await Deno.remove(join(dir, "ensemble.json"));
    const fresh = await report(["--dir", dir], dir);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.doesNotMatch(fresh.stderr, /\(cached\)/);
    const noTime = (text: string) => text.replace(/(eval |in |"seconds": )(\d+h )?(\d+m )?[\d.]+s?/g, "$1T");
    const after = await snapshot(dir);
    assert.deepEqual([...after.keys()].sort(), [...first.keys()].sort());
    for (const [file, text] of first) assert.equal(noTime(after.get(file)!), noTime(text), file);
  },
});

Deno.test({
  name: "report: without the test data the ensemble row is absent and says why; an empty folder is no crash",
  sanitizeResources: false,
  fn: async () => {
    const nodata = await Deno.makeTempDir({ prefix: "ferlab-report-nodata-" });
    const csvRun = {
      ...COMMITTED,
      config: { ...COMMITTED.config, data: "/nonexistent/fer2013.csv" },
      data: { ...COMMITTED.data, path: "/nonexistent/fer2013.csv" },
    };
    await Deno.writeTextFile(join(nodata, "01_baseline.json"), JSON.stringify(csvRun));
    await copyDir(join(REPO, "reports/models/01_baseline"), join(nodata, "models/01_baseline"));
    const r = await report(["--dir", nodata], nodata);
    assert.equal(r.code, 0, r.stderr);
    // The run's recorded path lies outside the report's read permissions: passed over, and said so.
    assert.match(r.stderr, /\/nonexistent\/fer2013\.csv is outside the read permissions; passed over/);
    const md = await Deno.readTextFile(join(nodata, "README.md"));
    assert.match(
      md,
      /No ensemble row: the test split needs the data with fingerprint e2f75098371a3901 .*pass --data PATH/,
    );
    assert.match(md, /No speed summary: .*bench\.json not found/);
    await assert.rejects(() => Deno.stat(join(nodata, "ensemble.json")));

    const empty = await Deno.makeTempDir({ prefix: "ferlab-report-empty-" });
    const e = await report(["--dir", empty], empty);
    assert.equal(e.code, 0, e.stderr);
    assert.match(await Deno.readTextFile(join(empty, "README.md")), /No experiment results yet/);
  },
});

Deno.test("distinctTitles: runs of one script that share a title are told apart by their ablation's suffix", () => {
  const titles = distinctTitles([
    { name: "05_budget", title: "Experiment 05" },
    { name: "05_budget_15min", title: "Experiment 05" },
    { name: "05_budget_15min_ls0", title: "Experiment 05" },
    { name: "01_baseline", title: "Experiment 01" },
    { name: "03_deep_ls0", title: "Experiment 03" }, // alone under its title: nothing to tell apart
  ]);
  assert.deepEqual(titles, [
    "Experiment 05",
    "Experiment 05 (15min)",
    "Experiment 05 (15min_ls0)",
    "Experiment 01",
    "Experiment 03",
  ]);
});
