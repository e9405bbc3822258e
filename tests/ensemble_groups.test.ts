/**
 * An ensemble row per protocol group: the study's models and the official
 * protocol's (a crop model among them) each get their rows and their own
 * cache file; the official group is scored with ten-crop on PublicTest when
 * the data has no PrivateTest; the study's committed cache is reused as it is.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { comparisonChart, memberLabel } from "../lib/compare/charts.ts";
import { comparisonTable, ensembleNotes, splitRuns, type TableCell } from "../lib/compare/comparison.ts";
import {
  ENSEMBLE_FILE,
  ensembleFiles,
  ensembleGroups,
  type EnsembleOutcome,
  type EnsembleResult,
  ensembleRows,
} from "../lib/compare/ensemble_row.ts";
import { type ExperimentResult, readResult } from "../lib/compare/results.ts";
import { writeFer2013Csv } from "../lib/data/csv.ts";
import { USAGES } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData } from "../lib/data/locate.ts";
import { makeSplit, splitSettings } from "../lib/data/split.ts";
import { splitKey } from "../lib/data/split_cache.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { evaluateEnsemble } from "../lib/eval/ensemble.ts";
import { ttaViews } from "../lib/eval/tta.ts";
import { ModelInputError, savedModelInput, setModelInput } from "../lib/models/input_spec.ts";
import { loadModel, saveModel } from "../lib/models/io.ts";
import { denseModel } from "./helpers/dense_model.ts";

await tf.setBackend("cpu");

const REPO = new URL("..", import.meta.url).pathname;
const quiet = () => {};

// FER2013 as the dev CSV has it: Training and PublicTest rows, no PrivateTest.
const dir = await Deno.makeTempDir({ prefix: "ferlab-ensemble-groups-" });
const csv = join(dir, "dev.csv");
await writeFer2013Csv(
  csv,
  makeSyntheticFer2013({ n: 80, seed: 5, usage: { train: 0.75, publicTest: 0.25, privateTest: 0 } }),
);
const { data } = await loadData({ data: csv, synthetic: () => makeSyntheticFer2013(), log: quiet });
const fp = fingerprint(data);
const STUDY = splitSettings({ protocol: "study", seed: 42 });
const OFFICIAL = splitSettings({ protocol: "official", seed: 42 });

function result(name: string, settings: typeof STUDY, testAccuracy: number): ExperimentResult {
  return {
    file: join(dir, `${name}.json`),
    name,
    number: name.slice(0, 2),
    title: `Experiment ${name.slice(0, 2)}`,
    testAccuracy,
    protocol: settings.protocol,
    data: { kind: "csv", source: csv, path: csv, fingerprint: fp },
    split: { cacheKey: splitKey(fp, settings), test: 0 },
    epochs: { ran: 1, planned: 1, cutShort: false, stoppedEarly: false },
    modelDir: `models/${name}`,
    config: { seed: 42, data: csv },
    history: [],
  };
}

const study = [result("01_a", STUDY, 0.6), result("02_b", STUDY, 0.55)];
const whole = result("05_c", OFFICIAL, 0.65);
const crop = result("06_d", OFFICIAL, 0.66);
for (const [i, r] of [...study, whole].entries()) await saveModel(denseModel(48, 10 + i), join(dir, r.modelDir!));
const cropModel = denseModel(44, 20);
setModelInput(cropModel, { imageSize: 48, inputSize: 44, tta: "crops" });
await saveModel(cropModel, join(dir, crop.modelDir!));
cropModel.dispose();

const byFile = (outcomes: EnsembleOutcome[], file: string) => {
  const o = outcomes.find((x) => x.ok && x.file === file);
  assert.ok(o?.ok, `no row cached in ${file}: ${JSON.stringify(outcomes.map((x) => x.ok ? x.file : x.reason))}`);
  return o;
};
const opts = { backend: "cpu" as const, log: quiet };

Deno.test("savedModelInput: a crop model's record, a plain model's declared side, a colour model's channels", async () => {
  const crop48 = savedModelInput(await Deno.readTextFile(join(dir, "models/06_d/model.json")));
  assert.deepEqual(crop48, { input: { imageSize: 48, inputSize: 44, tta: "crops" }, channels: 1 });
  const plain = savedModelInput(await Deno.readTextFile(join(dir, "models/05_c/model.json")));
  assert.deepEqual(plain, { input: { imageSize: 48, inputSize: 48, tta: "none" }, channels: 1 });
  const colour = '{"modelTopology":{"config":{"layers":[{"config":{"batch_input_shape":[null,96,96,3]}}]}}}';
  assert.deepEqual(savedModelInput(colour), { input: { imageSize: 96, inputSize: 96, tta: "none" }, channels: 3 });
  assert.equal(savedModelInput('{"modelTopology":{}}'), undefined);
  const wrong = '{"modelTopology":{"config":{"layers":[{"config":{"batch_input_shape":[null,40,40,1]}}]}},' +
    '"userDefinedMetadata":{"ferlab":{"imageSize":48,"inputSize":44,"tta":"crops"}}}';
  assert.throws(() => savedModelInput(wrong), ModelInputError);
});

Deno.test("ensemble groups: each protocol's main runs, the crop model among the official ones; its own cache file", async () => {
  const transfer = result("04_t", STUDY, 0.5);
  await Deno.mkdir(join(dir, "models/04_t"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "models/04_t/model.json"),
    '{"modelTopology":{"config":{"layers":[{"config":{"batch_input_shape":[null,96,96,3]}}]}}}',
  );
  const ablation = result("05_c_ls0", OFFICIAL, 0.4);
  await saveModel(denseModel(48, 30), join(dir, ablation.modelDir!));
  const groups = await ensembleGroups(dir, [...study, transfer, whole, ablation, crop]);
  // Two of each, in the order of their experiments (not of their accuracy, the official pair's being better).
  assert.deepEqual(groups.map((g) => g.map((r) => r.name)), [["01_a", "02_b"], ["05_c", "06_d"]]);
  assert.deepEqual(ensembleFiles(groups), [ENSEMBLE_FILE, "ensemble_official.json"]);
  // A second official split (another split seed) gets a file of its own, named by its split.
  const other = splitSettings({ protocol: "official", seed: 7 });
  const two = ensembleFiles([[whole, crop], [result("05_e", other, 0.6), result("06_f", other, 0.6)]]);
  assert.deepEqual(two, ["ensemble_official.json", `ensemble_official_${splitKey(fp, other)}.json`]);
  // A replica (06's recipe, another seed, the same split) is a member, labelled with its seed; an ablation is not.
  const replica = result("06_d_seed43", OFFICIAL, 0.67);
  await saveModel(denseModel(48, 31), join(dir, replica.modelDir!));
  const withReplica = await ensembleGroups(dir, [...study, whole, ablation, crop, replica]);
  assert.deepEqual(withReplica.map((g) => g.map((r) => r.name)), [["01_a", "02_b"], ["05_c", "06_d", "06_d_seed43"]]);
  assert.deepEqual(withReplica[1].map((r) => memberLabel(r.name)), ["05", "06", "06s43"]);
  // A student distilled from them would count its teachers twice: it stays out.
  const student = { ...result("07_s", OFFICIAL, 0.66), teachers: ["05_c", "06_d"] };
  await saveModel(denseModel(48, 32), join(dir, student.modelDir!));
  const withStudent = await ensembleGroups(dir, [...study, whole, crop, student]);
  assert.deepEqual(withStudent.map((g) => g.map((r) => r.name)), [["01_a", "02_b"], ["05_c", "06_d"]]);
  assert.deepEqual((await readResult(join(REPO, "reports/07_distil.json"))).teachers, ["05_budget", "06_crops"]);
  // One model per split: the largest group alone (the best accuracy's), as a single-model row.
  assert.deepEqual((await ensembleGroups(dir, [study[0], crop])).map((g) => g.map((r) => r.name)), [["06_d"]]);
});

Deno.test({
  name: "ensemble rows: the study pair's cache is untouched when the official pair lands; ten-crop for the crop model",
  sanitizeResources: false,
  fn: async () => {
    // Before 06: the official split has one model, so only the study pair has rows.
    const before = await ensembleRows(dir, [...study, whole], opts);
    assert.equal(before.length, 1);
    const s0 = byFile(before, ENSEMBLE_FILE);
    assert.deepEqual(s0.ensemble.members, ["01_a", "02_b"]);
    assert.deepEqual(s0.ensemble.scores.map((s) => s.tta), ["none", "flip"]);
    assert.equal(s0.ensemble.split.testUsage, undefined, "the study's cache keeps its fields");
    const studyBytes = await Deno.readFile(join(dir, ENSEMBLE_FILE));
    const studyTime = (await Deno.stat(join(dir, ENSEMBLE_FILE))).mtime;
    await assert.rejects(() => Deno.stat(join(dir, "ensemble_official.json")));

    const after = await ensembleRows(dir, [...study, whole, crop], opts);
    assert.equal(after.length, 2);
    const s1 = byFile(after, ENSEMBLE_FILE);
    assert.ok(s1.cached, "the study's row comes from its cache");
    assert.deepEqual(await Deno.readFile(join(dir, ENSEMBLE_FILE)), studyBytes);
    assert.deepEqual((await Deno.stat(join(dir, ENSEMBLE_FILE))).mtime, studyTime, "not even rewritten");

    const o = byFile(after, "ensemble_official.json");
    assert.equal(o.cached, false);
    const e = o.ensemble;
    assert.deepEqual(e.members, ["05_c", "06_d"]);
    assert.deepEqual(e.scores.map((s) => s.tta), ["none", "flip", "crops"]);
    // The official protocol's test is PublicTest when the data has no PrivateTest rows.
    const test = makeSplit(data, OFFICIAL).test;
    assert.ok(test.every((r) => USAGES[data.usage[r]] === "PublicTest"));
    assert.equal(e.split.test, test.length);
    assert.equal(e.split.testUsage, "PublicTest");
    // Each member its own views: the crop model the literature's ten-crop, the 48-pixel one shifted windows.
    const crops = e.scores[2];
    assert.deepEqual(
      crops.memberViews?.["06_d"],
      ttaViews("crops", { imageSize: 48, inputSize: 44 }).map((v) => v.name),
    );
    assert.deepEqual(crops.memberViews?.["05_c"], ttaViews("crops").map((v) => v.name));
    assert.ok(crops.memberViews?.["06_d"].includes("mirror+bottom-right"));
    assert.deepEqual(e.scores[0].memberViews, { "05_c": ["identity"], "06_d": ["centre"] });
    // The cached numbers are the ensemble's own on those rows.
    const models = await Promise.all(e.modelDirs.map((d) => loadModel(join(dir, d))));
    for (const s of e.scores) {
      const own = await evaluateEnsemble(models, data, test, { tta: s.tta });
      assert.equal(s.accuracy, own.accuracy, s.tta);
      assert.ok(Math.abs(s.nll - own.calibration.nll) < 1e-9, s.tta);
    }
    models.forEach((m) => m.dispose());

    const again = await ensembleRows(dir, [...study, whole, crop], opts);
    assert.ok(again.every((x) => x.ok && x.cached), "both rows cached the second time");
  },
});

Deno.test("comparison: a row per group and TTA, labelled by protocol and members; notes say PublicTest and ten-crop", async () => {
  const outcomes = await ensembleRows(dir, [...study, whole, crop], opts);
  const runs = splitRuns([...study, whole, crop]);
  const text = (c: TableCell) => (typeof c === "string" ? c : c.text);
  const rows = comparisonTable(runs, outcomes).rows.filter((r) => text(r[0]).includes("ensemble"));
  assert.deepEqual(rows.map((r) => [text(r[0]), r[3], text(r.at(-1)!)]).toSorted(), [
    ["official ensemble 05+06 (1 view × 2 models)", "official", "ensemble_official.json"],
    ["official ensemble 05+06, crops TTA (10 views × 2 models)", "official", "ensemble_official.json"],
    ["official ensemble 05+06, flip TTA (2 views × 2 models)", "official", "ensemble_official.json"],
    ["study ensemble 01+02 (1 view × 2 models)", "study", "ensemble.json"],
    ["study ensemble 01+02, flip TTA (2 views × 2 models)", "study", "ensemble.json"],
  ]);
  const notes = ensembleNotes(outcomes);
  assert.equal(notes.length, 2);
  const official = notes.find((n) => n.startsWith("Official ensemble:"))!;
  assert.match(official, /PublicTest's: the official protocol tests on PrivateTest, and on PublicTest when/);
  assert.match(official, /crops \(05_c: identity, left2, .* \/ 06_d: centre, top-left, /);
  assert.match(official, /literature's ten-crop/);
  assert.match(official, /cached in `ensemble_official\.json`/);
  assert.match(notes.find((n) => n.startsWith("Study ensemble:"))!, /cached in `ensemble\.json`/);

  const ok = outcomes.flatMap((o) => (o.ok ? [o.ensemble] : []));
  const spec = comparisonChart(runs, ok) as { data: { values: { name: string }[] } };
  const names = spec.data.values.map((v) => v.name);
  assert.ok(names.includes("official ensemble 05+06, crops TTA") && names.includes("study ensemble 01+02"));

  // A group whose evaluation cannot run says which group it is, beside the row that could.
  const failed: EnsembleOutcome = { ok: false, reason: "no data", members: ["05_c", "06_d"], protocol: "official" };
  const mixed = ensembleNotes([outcomes.find((x) => x.ok && x.file === ENSEMBLE_FILE)!, failed]);
  assert.equal(mixed[1], "No ensemble row of official 05_c, 06_d: no data.");
});

Deno.test("the committed study cache (reports/ensemble.json) is reused byte for byte with 05 beside it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferlab-ensemble-committed-" });
  const names = ["01_baseline", "02_tuned", "03_deep", "04_transfer", "05_budget"];
  const results: ExperimentResult[] = [];
  for (const name of names) {
    const r = await readResult(join(REPO, "reports", `${name}.json`));
    // Nowhere to find the data: a cache miss fails at once instead of evaluating FER2013.
    results.push({ ...r, data: { ...r.data, path: "/nonexistent.csv" }, config: { ...r.config, data: "" } });
    const modelDir = join(tmp, r.modelDir!);
    await Deno.mkdir(modelDir, { recursive: true });
    for (const f of ["model.json", "weights.bin"]) {
      await Deno.copyFile(join(REPO, "reports", r.modelDir!, f), join(modelDir, f));
    }
  }
  const committed = await Deno.readFile(join(REPO, "reports", ENSEMBLE_FILE));
  await Deno.writeFile(join(tmp, ENSEMBLE_FILE), committed);
  const outcomes = await ensembleRows(tmp, results, { ...opts, data: "/nonexistent.csv" });
  assert.equal(outcomes.length, 1, "05 alone on its split: no official row yet");
  const o = outcomes[0];
  assert.ok(o.ok && o.cached, JSON.stringify(o));
  assert.equal(o.file, ENSEMBLE_FILE);
  const cached: EnsembleResult = o.ensemble;
  assert.deepEqual(cached.members, ["01_baseline", "02_tuned", "03_deep", "04_transfer"]);
  assert.deepEqual(await Deno.readFile(join(tmp, ENSEMBLE_FILE)), committed);
  await Deno.remove(tmp, { recursive: true });
});
