/**
 * `deno task main`: the ETA arithmetic, and the whole study end to end on a
 * small FER2013-format CSV (full profile shortened by flags passed through),
 * run twice to show that completed experiments are skipped, and a failing
 * experiment that does not stop the others or the report.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { eta, parseEta, parseTotalEta, type Step } from "../../lib/train/progress.ts";
import { runScript } from "../helpers/run_script.ts";

const REPO = new URL("../..", import.meta.url).pathname;

Deno.test("parseTotalEta reads the training progress line's total", () => {
  assert.equal(
    parseTotalEta("epoch 2/4  896/2800 (32%)  26.5 img/s  loss 2.1 acc 0.2  ETA epoch 1m12s, total 6m04s"),
    364,
  );
  assert.equal(parseTotalEta("epoch 3/40  1280/28709 (4%)  ETA epoch 8m47s, total 5h41m"), 5 * 3600 + 41 * 60);
  assert.equal(parseTotalEta("epoch 4/4  2368/2800 (84%)  ETA epoch 18s, total 18s"), 18);
  assert.equal(parseTotalEta("epoch 1/4  ETA epoch ?, total ?"), undefined);
  assert.equal(parseTotalEta("test accuracy 54.73% on 349 images"), undefined);
  assert.deepEqual(parseEta("epoch 1/4  64/2800 (2%)  ETA epoch 2m18s, total 9m10s"), { epoch: 138, total: 550 });
});

Deno.test("eta: the running step's own ETA, then estimates, skipping skipped steps, else the mean", () => {
  const steps: Step[] = [
    { name: "01", script: "01.ts", estimate: 100 },
    { name: "02", script: "02.ts", skip: "done" },
    { name: "03", script: "03.ts", estimate: 50 },
  ];
  assert.equal(eta(steps, 0, { runningFor: 30 }, []), 70 + 50);
  assert.equal(eta(steps, 0, { runningFor: 30, ownEta: 10 }, []), 10 + 50);
  assert.equal(eta(steps, 0, { runningFor: 300 }, []), 0 + 50, "an overrun step counts as nearly done");
  // A step with a training budget ends within what is left of it plus the current epoch.
  const budgeted: Step[] = [{ name: "01", script: "01.ts", budget: 120 }];
  assert.equal(eta(budgeted, 0, { runningFor: 100, ownEta: 600, epochEta: 30 }, []), 20 + 30);
  assert.equal(eta(budgeted, 0, { runningFor: 100, ownEta: 40, epochEta: 30 }, []), 40);
  const unknown: Step[] = [{ name: "01", script: "01.ts" }, { name: "02", script: "02.ts" }];
  assert.equal(eta(unknown, 0, { runningFor: 5 }, []), undefined);
  assert.equal(eta(unknown, 1, { runningFor: 5 }, [40]), 35);
});

function main(args: string[], cwd: string) {
  return runScript("tools/main.ts", args, { cwd, extra: { write: [cwd] } });
}

Deno.test({
  name: "main runs every experiment in order and the report; resumable; a failing experiment is named",
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "ferlab-main-" });
    const csv = join(tmp, "tiny.csv");
    await writeFer2013Csv(csv, makeSyntheticFer2013({ n: 300, seed: 9 }));
    // The study's experiments folder, as main discovers it: the real experiment 01, and a later one that fails.
    const exps = join(tmp, "experiments");
    await Deno.mkdir(exps);
    await Deno.writeTextFile(
      join(exps, "01_baseline.ts"),
      `import ${JSON.stringify(join(REPO, "experiments/01_baseline.ts"))};\n`,
    );
    await Deno.writeTextFile(join(exps, "02_broken.ts"), `console.error("cannot build"); Deno.exit(3);\n`);
    await Deno.writeTextFile(join(exps, "notes.md"), "not an experiment\n");
    const out = join(tmp, "out");
    const args = [
      "--data",
      csv,
      "--out",
      out,
      "--experiments",
      exps,
      "--",
      "--epochs",
      "1",
      "--batch-size",
      "32",
      "--backend",
      "wasm",
      "--threads",
      "1",
    ];

    const first = await main(args, tmp);
    assert.equal(first.code, 1, "a failed experiment makes the study fail at the end");
    const s = first.stderr;
    assert.match(s, /\[main\] FER2013 found at .*tiny\.csv: full profiles/);
    assert.match(s, /\[main\] plan: 01_baseline, 02_broken, then the report/);
    assert.match(s, /\[main\] 1\/2 01_baseline: running .*ETA .* --data .*tiny\.csv --resume --epochs 1/);
    assert.ok(s.indexOf("1/2 01_baseline: done") < s.indexOf("2/2 02_broken"), "in order");
    assert.match(s, /2\/2 02_broken: FAILED \(exit 3\)/);
    assert.match(s, /\[main\] failed: 02_broken \(exit 3\)/);
    assert.doesNotMatch(s, /To run the study on FER2013/);
    const result = JSON.parse(await Deno.readTextFile(join(out, "01_baseline.json")));
    assert.equal(result.training.history.length, 1);
    assert.equal(result.config.quick, false);
    const readme = await Deno.readTextFile(join(out, "README.md"));
    assert.match(readme, /\| Experiment 01 — baseline CNN \|/);
    assert.ok((await Deno.stat(join(out, "index.html"))).size > 0);

    const second = await main(args, tmp);
    assert.match(second.stderr, /1\/2 01_baseline: skipped, already completed on this data/);
    assert.equal(JSON.parse(await Deno.readTextFile(join(out, "01_baseline.json"))).date, result.date);
  },
});

Deno.test({
  name: "main without FER2013 runs the quick profiles on synthetic faces and says how to get FER2013",
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "ferlab-main-syn-" });
    const exps = join(tmp, "experiments");
    await Deno.mkdir(exps);
    await Deno.writeTextFile(
      join(exps, "01_baseline.ts"),
      `import ${JSON.stringify(join(REPO, "experiments/01_baseline.ts"))};\n`,
    );
    const out = join(tmp, "out");
    // cwd has no data/, so nothing is found; the quick profile is shortened further for the test.
    const r = await main(
      [
        "--out",
        out,
        "--experiments",
        exps,
        "--",
        "--epochs",
        "1",
        "--synthetic-rows",
        "300",
        "--limit-train",
        "200",
        "--threads",
        "1",
      ],
      tmp,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no FER2013 found: each experiment's --quick profile on the synthetic faces/);
    assert.match(r.stderr, /01_baseline: running .* --quick --max-minutes \d+\.\d\d --epochs 1/);
    assert.match(r.stderr, /To run the study on FER2013[\s\S]*data\/fer2013\.csv/);
    const result = JSON.parse(await Deno.readTextFile(join(out, "01_baseline.json")));
    assert.equal(result.config.quick, true);
    assert.equal(result.data.kind, "synthetic");
    assert.match(await Deno.readTextFile(join(out, "README.md")), /synthetic/);
  },
});
