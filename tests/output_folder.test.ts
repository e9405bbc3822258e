/** Where a run writes: a smoke run on synthetic faces never overwrites a committed FER2013 report. */
import assert from "node:assert/strict";
import { outputFolder } from "../lib/harness/experiment.ts";

Deno.test("synthetic data in the default folder goes to reports/synthetic; anything asked for explicitly stays", () => {
  assert.equal(outputFolder("reports", "synthetic"), "reports/synthetic");
  assert.equal(outputFolder("reports", "csv"), "reports");
  assert.equal(outputFolder("reports", "folder"), "reports");
  assert.equal(outputFolder("/tmp/out", "synthetic"), "/tmp/out");
});
