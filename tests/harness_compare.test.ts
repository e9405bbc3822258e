/** The calibration section an experiment sets beside the others' reports. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { calibrationComparison } from "../lib/harness/compare.ts";

Deno.test("calibrationComparison lists an unfinished report as not comparable instead of crashing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-compare-" });
  await Deno.writeTextFile(
    join(dir, "01_a.json"),
    JSON.stringify({
      name: "01_a",
      testAccuracy: 0.5,
      config: { epochs: 2 },
      data: { kind: "synthetic", source: "synthetic" },
      training: { history: [{}, {}], cutShort: false },
      test: { n: 10, calibration: { nll: 1.25, ece: 0.05 } },
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
  const md = await calibrationComparison(dir, ["01_a", "02_b", "03_c"]);
  assert.ok(md);
  assert.match(md, /\| 01_a \| synthetic \| 2 of 2 \| 0 \| 50\.00% \| 1\.2500 \| 5\.00% \|/);
  assert.match(
    md,
    /Not run yet \(no report here\): 02_b \(unfinished: the search was cut short by --max-minutes\.\), 03_c\./,
  );
});
