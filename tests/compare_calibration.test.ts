/** The calibration section an experiment sets beside the others' reports. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { calibrationComparison } from "../lib/compare/calibration.ts";
import { ablationResults } from "../lib/compare/results.ts";

Deno.test("calibrationComparison lists unfinished, absent and unreadable reports as not compared instead of crashing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-compare-" });
  await Deno.writeTextFile(
    join(dir, "01_a.json"),
    JSON.stringify({
      name: "01_a",
      testAccuracy: 0.5,
      config: { epochs: 2 },
      data: { kind: "synthetic", source: "synthetic" },
      training: { history: [{}, {}], cutShort: false },
      test: { n: 10, calibration: { nll: 1.25, ece: 0.05 } }, // an older report: no bins
    }),
  );
  await Deno.writeTextFile(
    join(dir, "02_b.json"),
    JSON.stringify({
      name: "02_b",
      unfinished: "the search was cut short by --max-minutes.",
      data: { kind: "synthetic" },
    }),
  );
  await Deno.writeTextFile(
    join(dir, "04_d.json"),
    JSON.stringify({
      name: "04_d",
      testAccuracy: 0.6,
      config: { epochs: 3, labelSmoothing: 0.1 },
      data: { kind: "fer2013", source: "fer.csv" },
      training: { history: [{}, {}], cutShort: true },
      test: { n: 2, calibration: { nll: 0.9, ece: 0.05, bins: [{ count: 2, confidence: 0.55, accuracy: 0.6 }] } },
    }),
  );
  await Deno.writeTextFile(join(dir, "05_e.json"), "{ cut off mid-write");
  const md = await calibrationComparison(dir, ["01_a", "02_b", "03_c", "04_d", "05_e"]);
  assert.ok(md);
  assert.match(md, /\| 01_a \| synthetic \| 2 of 2 \| 0 \| 50\.00% \| 1\.2500 \| 5\.00% \| not recorded \|/);
  assert.match(
    md,
    /\| 04_d \| fer\.csv \| 2 of 3 \(cut short\) \| 0\.1 \| 60\.00% \| 0\.9000 \| 5\.00% \| −5\.0 pts \(under\) \|/,
  );
  assert.match(
    md,
    /Not compared: 02_b \(unfinished: the search was cut short by --max-minutes\.\), 03_c \(no report here\), 05_e \(unreadable: .*05_e\.json is not valid JSON\)\./,
  );
});

Deno.test("ablationResults finds an experiment's ablation reports and not its charts or other experiments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-ablations-" });
  const report = (name: string) => JSON.stringify({ name });
  await Deno.writeTextFile(join(dir, "03_deep.json"), report("03_deep"));
  await Deno.writeTextFile(join(dir, "03_deep_ls0_10ep.json"), report("03_deep_ls0_10ep"));
  await Deno.writeTextFile(join(dir, "03_deep_10ep.json"), report("03_deep_10ep"));
  await Deno.writeTextFile(join(dir, "03_deep_10ep.curves.vl.json"), JSON.stringify({ $schema: "vega-lite" }));
  await Deno.writeTextFile(join(dir, "03_deepish.json"), report("03_deepish"));
  await Deno.writeTextFile(join(dir, "03_deep_notes.json"), report("something else"));
  await Deno.writeTextFile(join(dir, "03_deep_broken.json"), "{ cut off mid-write");
  assert.deepEqual(await ablationResults(dir, "03_deep"), ["03_deep_10ep", "03_deep_ls0_10ep"]);
  assert.deepEqual(await ablationResults(join(dir, "absent"), "03_deep"), []);
});
