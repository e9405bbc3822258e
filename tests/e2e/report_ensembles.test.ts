/**
 * `deno task report` with two protocol groups in one folder: the study's pair
 * and the official protocol's pair, one of them a crop model. Each group gets
 * its rows and its cache file, the official one scored with ten-crop on
 * PublicTest (the data has no PrivateTest), and a rebuild changes no byte.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { fingerprint } from "../../lib/data/fingerprint.ts";
import { loadData } from "../../lib/data/locate.ts";
import { type SplitSettings, splitSettings } from "../../lib/data/split.ts";
import { splitKey } from "../../lib/data/split_cache.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { setModelInput } from "../../lib/models/input_spec.ts";
import { saveModel } from "../../lib/models/io.ts";
import { runScript } from "../helpers/run_script.ts";
import { denseModel } from "../helpers/dense_model.ts";

await tf.setBackend("cpu");

const REPO = new URL("../..", import.meta.url).pathname;
const COMMITTED = JSON.parse(await Deno.readTextFile(join(REPO, "reports/01_baseline.json")));

const dir = await Deno.makeTempDir({ prefix: "ferlab-report-groups-" });
const csv = join(dir, "dev.csv");
await writeFer2013Csv(
  csv,
  makeSyntheticFer2013({ n: 80, seed: 3, usage: { train: 0.75, publicTest: 0.25, privateTest: 0 } }),
);
const { data } = await loadData({ data: csv, synthetic: () => makeSyntheticFer2013(), log: () => {} });
const fp = fingerprint(data);

async function run(name: string, title: string, settings: SplitSettings, acc: number, model: tf.LayersModel) {
  await saveModel(model, join(dir, "models", name));
  model.dispose();
  await Deno.writeTextFile(
    join(dir, `${name}.json`),
    JSON.stringify({
      ...COMMITTED,
      name,
      title,
      testAccuracy: acc,
      config: { ...COMMITTED.config, data: csv, seed: 42, protocol: settings.protocol },
      data: { ...COMMITTED.data, kind: "csv", source: csv, path: csv, fingerprint: fp, rows: data.n },
      split: { ...COMMITTED.split, protocol: settings.protocol, cacheKey: splitKey(fp, settings) },
      model: { ...COMMITTED.model, dir: `models/${name}` },
    }),
  );
}

const study = splitSettings({ protocol: "study", seed: 42 });
const official = splitSettings({ protocol: "official", seed: 42 });
await run("01_baseline", "Experiment 01", study, 0.3, denseModel(48, 1));
await run("03_deep", "Experiment 03", study, 0.31, denseModel(48, 2));
await run("05_budget", "Experiment 05", official, 0.32, denseModel(48, 3));
const crop = denseModel(44, 4);
setModelInput(crop, { imageSize: 48, inputSize: 44, tta: "crops" });
await run("06_crops", "Experiment 06", official, 0.33, crop);

function report() {
  return runScript("tools/report.ts", ["--backend", "cpu", "--dir", dir], { cwd: dir, extra: { write: [dir] } });
}

/** The files the report writes, by name, with their bytes. */
async function written(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && !e.name.endsWith(".csv")) out.set(e.name, await Deno.readTextFile(join(dir, e.name)));
  }
  return out;
}

Deno.test({
  name:
    "report: a row set per protocol group, each with its cache; ten-crop on PublicTest; a rebuild is byte-identical",
  sanitizeResources: false,
  fn: async () => {
    const r = await report();
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\(cached\)/);
    const md = await Deno.readTextFile(join(dir, "README.md"));
    const labels = [...md.matchAll(/^\| ((?:study|official) ensemble [^|]*) \|/gm)].map((m) => m[1]);
    assert.deepEqual(labels, [
      "study ensemble 01+03 (1 view × 2 models)",
      "study ensemble 01+03, flip TTA (2 views × 2 models)",
      "official ensemble 05+06 (1 view × 2 models)",
      "official ensemble 05+06, flip TTA (2 views × 2 models)",
      "official ensemble 05+06, crops TTA (10 views × 2 models)",
    ]);
    assert.match(md, /\[ensemble_official\.json\]\(ensemble_official\.json\)/);
    assert.match(md, /\[ensemble\.json\]\(ensemble\.json\)/);
    assert.match(md, /^Official ensemble: the saved models of 05_budget, 06_crops .*PublicTest's/m);
    assert.match(md, /06_crops: centre, top-left, top-right, bottom-left, bottom-right, mirror\+centre/);
    assert.match(md, /^Study ensemble: the saved models of 01_baseline, 03_deep /m);

    const officialJson = JSON.parse(await Deno.readTextFile(join(dir, "ensemble_official.json")));
    assert.deepEqual(officialJson.members, ["05_budget", "06_crops"]);
    assert.equal(officialJson.split.testUsage, "PublicTest");
    assert.equal(officialJson.split.test, [...data.usage].filter((u) => u === 1).length);
    const studyJson = JSON.parse(await Deno.readTextFile(join(dir, "ensemble.json")));
    assert.deepEqual(studyJson.members, ["01_baseline", "03_deep"]);
    assert.deepEqual(studyJson.scores.map((s: { tta: string }) => s.tta), ["none", "flip"]);

    const svg = await Deno.readTextFile(join(dir, "comparison.svg"));
    assert.ok(svg.includes("official ensemble 05+06, crops TTA") && svg.includes("study ensemble 01+03"));
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.ok(html.includes("official ensemble 05+06, crops TTA (10 views × 2 models)"));

    const first = await written();
    const again = await report();
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr.match(/\(cached\)/g)?.length, 2, again.stderr);
    assert.deepEqual(await written(), first);
  },
});
