/**
 * Experiment 01 and the eval tool end to end, as a user runs them: a real
 * (tiny) training run on synthetic data in a subprocess under the script's
 * permission set from deno.json (plus the test's temp dir), then its outputs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { argv, runScript } from "../helpers/run_script.ts";

/** Runs a script as its task does (`-P=<set>`), with the test's temp dir added to the set. */
const run = (script: string, flags: Record<string, string | number | boolean>) =>
  runScript(script, argv(flags), { extra: { write: [tmp] }, cwd: tmp });

const tmp = await Deno.makeTempDir({ prefix: "ferlab-e2e-" });
const out = join(tmp, "reports");
const csv = join(tmp, "tiny.csv");
// A small FER2013-format file with all three Usages, written by the project's own CSV writer.
await writeFer2013Csv(csv, makeSyntheticFer2013({ n: 420, seed: 5 }));

Deno.test({
  name: "exp:01 trains on a FER2013 CSV and writes report, charts, JSON and model",
  sanitizeResources: false,
  fn: async () => {
    const r = await run("experiments/01_baseline.ts", {
      data: csv,
      epochs: 2,
      batchSize: 32,
      out,
      protocol: "official",
      backend: "wasm",
      threads: 1,
    });
    assert.equal(r.code, 0, r.stderr);
    for (
      const f of [
        "01_baseline.md",
        "01_baseline.json",
        "01_baseline.curves.svg",
        "01_baseline.curves.vl.json",
        "01_baseline.confusion.svg",
        "01_baseline.confusion.vl.json",
        "01_baseline.reliability.svg",
        "01_baseline.reliability.vl.json",
        "models/01_baseline/model.json",
        "models/01_baseline/weights.bin",
      ]
    ) {
      assert.ok((await Deno.stat(join(out, f))).size > 0, f);
    }
    const json = JSON.parse(await Deno.readTextFile(join(out, "01_baseline.json")));
    assert.equal(json.training.history.length, 2);
    assert.equal(json.config.batchSize, 32);
    assert.equal(json.backend.name, "wasm");
    assert.equal(json.data.kind, "csv");
    assert.equal(json.split.protocol, "official");
    assert.ok(json.test.n > 0 && json.test.accuracy >= 0 && json.test.accuracy <= 1);
    assert.ok(json.test.calibration.nll > 0 && Number.isFinite(json.test.calibration.nll));
    assert.ok(json.test.calibration.ece >= 0 && json.test.calibration.ece <= 1);
    assert.equal(json.test.calibration.bins.length, 15);
    assert.equal(json.test.calibration.bins.reduce((a: number, b: { count: number }) => a + b.count, 0), json.test.n);
    const md = await Deno.readTextFile(join(out, "01_baseline.md"));
    assert.match(md, /Test accuracy: \d+\.\d\d%/);
    assert.match(md, /negative log-likelihood \*\*\d+\.\d{4}\*\*, expected calibration error \*\*\d+\.\d\d%\*\*/);
    assert.match(md, /01_baseline\.reliability\.svg/);
    assert.match(md, /01_baseline\.curves\.svg/);
    assert.match(md, /completed 2 of 2 epochs/);
    assert.match(md, new RegExp(json.data.fingerprint));
  },
});

Deno.test({
  name: "eval prints one JSON object for a saved model, filtered by Usage",
  sanitizeResources: false,
  fn: async () => {
    const model = join(out, "models/01_baseline");
    const all = await run("tools/eval.ts", { model, data: csv, backend: "wasm" });
    assert.equal(all.code, 0, all.stderr);
    const j = JSON.parse(all.stdout);
    assert.equal(j.n, 420);
    assert.ok(j.accuracy >= 0 && j.accuracy <= 1);
    assert.deepEqual(Object.keys(j.recall), ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]);
    const priv = await run("tools/eval.ts", { model, data: csv, usage: "PrivateTest" });
    assert.equal(priv.code, 0, priv.stderr);
    const p = JSON.parse(priv.stdout);
    assert.ok(p.n > 0 && p.n < 420);
    assert.equal(p.data.usage, "PrivateTest");
    // the test-set accuracy of the report is the PrivateTest accuracy under the official protocol
    const report = JSON.parse(await Deno.readTextFile(join(out, "01_baseline.json")));
    assert.equal(p.n, report.test.n);
    assert.ok(Math.abs(p.accuracy - report.test.accuracy) < 1e-9);
  },
});

Deno.test({
  name: "bad input stops with a clear message and no stack trace",
  sanitizeResources: false,
  fn: async () => {
    const bad = join(tmp, "bad.csv");
    await Deno.writeTextFile(
      bad,
      `emotion,pixels,Usage\n3,${"1 ".repeat(2303)}1,Training\n9,${"1 ".repeat(2303)}1,Training\n`,
    );
    const r = await run("experiments/01_baseline.ts", { data: bad, epochs: 1, out });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.csv, row 2 \(line 3\):.*label/i);
    assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack frames
    const missing = await run("tools/eval.ts", { model: join(tmp, "nope") });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope/);
  },
});

Deno.test({
  name: "a run cut short by --max-minutes says so, and --resume finishes it",
  sanitizeResources: false,
  fn: async () => {
    const dir = join(tmp, "resume");
    const common = { data: csv, epochs: 2, batchSize: 32, out: dir, backend: "wasm", threads: 1 };
    const first = await run("experiments/01_baseline.ts", { ...common, maxMinutes: 0.0001 });
    assert.equal(first.code, 0, first.stderr);
    const cut = JSON.parse(await Deno.readTextFile(join(dir, "01_baseline.json")));
    assert.equal(cut.training.cutShort, true);
    assert.equal(cut.training.history.length, 1);
    assert.match(await Deno.readTextFile(join(dir, "01_baseline.md")), /cut short/);
    const second = await run("experiments/01_baseline.ts", { ...common, resume: true });
    assert.equal(second.code, 0, second.stderr);
    const done = JSON.parse(await Deno.readTextFile(join(dir, "01_baseline.json")));
    assert.equal(done.training.cutShort, false);
    assert.equal(done.training.resumedFrom, 1);
    assert.equal(done.training.history.length, 2);
    assert.equal(done.training.history[0].loss, cut.training.history[0].loss);
    const md = await Deno.readTextFile(join(dir, "01_baseline.md"));
    assert.match(md, /resumed from epoch 1/);
    const summed = done.training.history.reduce((a: number, h: { seconds: number }) => a + h.seconds, 0);
    assert.ok(summed > done.training.wallSeconds, "the first session's epoch counts too");
    assert.match(md, /training .+ this run \(all 2 epochs: .+, summed\)/);
    // Resuming the finished run trains nothing and rebuilds the same result, and the report says so
    const third = await run("experiments/01_baseline.ts", { ...common, resume: true });
    assert.equal(third.code, 0, third.stderr);
    const rebuilt = JSON.parse(await Deno.readTextFile(join(dir, "01_baseline.json")));
    assert.equal(rebuilt.testAccuracy, done.testAccuracy);
    assert.match(await Deno.readTextFile(join(dir, "01_baseline.md")), /rebuilt from the finished run's checkpoint/);
  },
});

Deno.test({
  name: "exp:02 searches, stops on its time budget, resumes by replaying finished trials, then trains the winner",
  sanitizeResources: false,
  fn: async () => {
    const dir = join(tmp, "tuned");
    const common = {
      data: csv,
      oracle: "random",
      maxTrials: 2,
      searchEpochs: 1,
      searchRows: 120,
      epochs: 1,
      batchSize: 32,
      bnRecalRows: 0,
      out: dir,
      backend: "wasm",
      threads: 1,
    };
    const first = await run("experiments/02_tuned.ts", { ...common, maxMinutes: 0.0001 });
    assert.equal(first.code, 0, first.stderr);
    const partial = JSON.parse(await Deno.readTextFile(join(dir, "02_tuned.json")));
    assert.equal(partial.search.trials.length, 1);
    assert.equal(partial.search.complete, false);
    assert.match(await Deno.readTextFile(join(dir, "02_tuned.md")), /unfinished.*search was cut short/);
    const second = await run("experiments/02_tuned.ts", { ...common, resume: true });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /trial 0: replayed/);
    const done = JSON.parse(await Deno.readTextFile(join(dir, "02_tuned.json")));
    assert.equal(done.search.trials.length, 2);
    assert.equal(done.search.replayed, 1);
    assert.deepEqual(done.search.trials[0].values, partial.search.trials[0].values);
    const winner = done.search.trials[done.search.best.number];
    assert.ok(done.search.trials.every((t: { score: number }) => t.score <= winner.score));
    assert.equal(done.training.history.length, 1);
    const md = await Deno.readTextFile(join(dir, "02_tuned.md"));
    assert.match(md, /## Search/);
    assert.match(md, /02_tuned\.search\.svg/);
    for (const f of ["02_tuned.search.svg", "02_tuned.reliability.svg", "models/02_tuned/model.json"]) {
      assert.ok((await Deno.stat(join(dir, f))).size > 0, f);
    }
  },
});

Deno.test({
  name: "exp:03's ablation writes its own report (named by the settings it changed), with the calibration beside 01's",
  sanitizeResources: false,
  fn: async () => {
    const r = await run("experiments/03_deep.ts", {
      data: csv,
      epochs: 1,
      batchSize: 32,
      labelSmoothing: 0,
      measureSteps: 0,
      out, // where exp:01's report already is
      backend: "wasm",
      threads: 1,
    });
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(await Deno.readTextFile(join(out, "03_deep_ls0_1ep.json")));
    assert.equal(json.config.labelSmoothing, 0);
    assert.equal(json.config.arch, "lean");
    assert.ok(json.test.calibration.nll > 0);
    const md = await Deno.readTextFile(join(out, "03_deep_ls0_1ep.md"));
    assert.match(md, /Architecture: \*\*lean\*\*/);
    // The report names the weights it evaluated: early stopping's best epoch, here the only (and last) one.
    assert.match(
      md,
      /\| Epochs \| completed 1 of 1 epochs; EarlyStopping: restored the weights of epoch 1 .*still improving/,
    );
    assert.match(
      md,
      /mean confidence − accuracy \*\*(\+|−)\d+\.\d pts \((over|under)\)\*\*|mean confidence − accuracy \*\*±0\.0 pts\*\*/,
    );
    assert.match(md, /## Calibration beside the other experiments/);
    assert.match(md, /\| 01_baseline \| .* \| (\+|−|±)\d+\.\d pts( \((over|under)\))? \|/);
    assert.ok((await Deno.stat(join(out, "models/03_deep_ls0_1ep/model.json"))).size > 0);
  },
});
