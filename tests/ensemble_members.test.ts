/** Which saved models the comparison's ensemble row averages. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensembleMembers } from "../lib/compare/ensemble_row.ts";
import type { ExperimentResult } from "../lib/compare/results.ts";

function result(name: string, splitKey: string, testAccuracy: number): ExperimentResult {
  return {
    file: `${name}.json`,
    name,
    number: name.slice(0, 2),
    title: `Experiment ${name.slice(0, 2)}`,
    testAccuracy,
    data: { kind: "fer2013", fingerprint: "f00d" },
    split: { cacheKey: splitKey, test: 10 },
    epochs: { ran: 1, planned: 1, cutShort: false, stoppedEarly: false },
    modelDir: `models/${name}`,
    config: {},
    history: [],
  };
}

/** A model folder whose model.json declares `inputShape` (what membership reads; the weights are not loaded). */
async function saveModelStub(dir: string, name: string, inputShape = [48, 48, 1]): Promise<void> {
  await Deno.mkdir(join(dir, "models", name), { recursive: true });
  const layer = { class_name: "InputLayer", config: { batch_input_shape: [null, ...inputShape] } };
  await Deno.writeTextFile(
    join(dir, "models", name, "model.json"),
    JSON.stringify({ modelTopology: { config: { layers: [layer] } } }),
  );
}

Deno.test("ensemble members: the main runs on the most common split; ablations, other inputs and splits stay out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-members-" });
  const results = [
    result("01_baseline", "study", 0.62),
    result("02_tuned", "study", 0.58),
    result("03_deep", "study", 0.61),
    result("03_deep_ls0_10ep", "study", 0.55), // an ablation: compared with 03_deep, not averaged with it
    result("04_transfer", "study", 0.57), // takes 96×96 colour
    result("05_budget", "official", 0.65), // another split
    result("06_unsaved", "study", 0.5), // no model folder
  ];
  for (const r of results.slice(0, 4)) await saveModelStub(dir, r.name);
  await saveModelStub(dir, "04_transfer", [96, 96, 3]);
  await saveModelStub(dir, "05_budget");
  const members = await ensembleMembers(dir, results);
  assert.deepEqual(members.map((r) => r.name), ["01_baseline", "02_tuned", "03_deep"]);
});

Deno.test("ensemble members: an ablation whose main run has no result is a member in its own right", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-members-" });
  const results = [result("01_baseline", "study", 0.62), result("03_deep_ls0_10ep", "study", 0.55)];
  for (const r of results) await saveModelStub(dir, r.name);
  assert.deepEqual((await ensembleMembers(dir, results)).map((r) => r.name), ["01_baseline", "03_deep_ls0_10ep"]);
});
