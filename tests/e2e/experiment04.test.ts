/**
 * Experiment 04 end to end, as a user runs it (`deno task exp:04 --quick`)
 * but on a tiny graph backbone written by the test: both phases on synthetic
 * faces, then the standard report with the transfer sections, the JSON, the
 * saved model, and a cut-short run that resumes.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { runScript } from "../helpers/run_script.ts";
import { writeTinyGraphModel } from "../helpers/transfer_fixtures.ts";

const tmp = await Deno.makeTempDir({ prefix: "ferlab-exp04-" });
const backbone = join(tmp, "tiny-graph");
await Deno.mkdir(backbone);
await writeTinyGraphModel(backbone);

function run(out: string, more: string[] = []) {
  const args = ["--quick", "--backbone", backbone, "--size", "16", "--ablation-rows", "0", "--out", out, ...more];
  return runScript("experiments/04_transfer.ts", args, { extra: { read: [backbone], write: [tmp] } });
}

Deno.test({
  name: "exp:04 --quick trains head and fine-tuning on a graph backbone and writes the transfer report",
  sanitizeResources: false,
  fn: async () => {
    const out = join(tmp, "reports");
    const r = await run(out);
    assert.equal(r.code, 0, r.stderr);
    const md = await Deno.readTextFile(join(out, "04_transfer.md"));
    assert.match(md, /\*\*Test accuracy: \d+\.\d\d%\*\*/);
    for (const section of ["## Transfer learning", "### Phases: speed", "### Memory", "## Training history"]) {
      assert.ok(md.includes(section), `${section} missing`);
    }
    assert.doesNotMatch(md, /NaN MFLOP/);
    const json = JSON.parse(await Deno.readTextFile(join(out, "04_transfer.json")));
    assert.equal(json.training.history.length, 1, "one fine-tuning epoch in --quick");
    assert.ok(json.model.flopsPerImage > 0, "the graph's convolutions are counted");
    assert.equal(json.transfer.size, 16);
    assert.ok(json.transfer.phase1.testAcc >= 0 && json.transfer.phase1.testAcc <= 1);
    assert.equal(json.transfer.testAcc, json.testAccuracy);
    await Deno.stat(join(out, "models", "04_transfer", "model.json"));
  },
});

Deno.test({
  name: "exp:04 cut short in phase 2 says so, and --resume finishes it",
  sanitizeResources: false,
  fn: async () => {
    const out = join(tmp, "resumed");
    const first = await run(out, ["--epochs", "2", "--max-minutes", "0.0001"]);
    assert.equal(first.code, 0, first.stderr);
    const cut = JSON.parse(await Deno.readTextFile(join(out, "04_transfer.json")));
    assert.equal(cut.training.cutShort, true);
    const second = await run(out, ["--epochs", "2", "--resume"]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resumed from .*04_transfer\/finetune/);
    const done = JSON.parse(await Deno.readTextFile(join(out, "04_transfer.json")));
    assert.equal(done.training.cutShort, false);
    assert.equal(done.training.history.length, 2);
  },
});

Deno.test({
  name: "exp:04 --augment crops fine-tunes on random crops, records the crop input and reports the ten-crop",
  sanitizeResources: false,
  fn: async () => {
    const out = join(tmp, "crops");
    const r = await run(out, ["--augment", "crops", "--crop-size", "44", "--lr-patience", "1", "--monitor", "valAcc"]);
    assert.equal(r.code, 0, r.stderr);
    const model = JSON.parse(await Deno.readTextFile(join(out, "models", "04_transfer", "model.json")));
    assert.deepEqual(model.userDefinedMetadata.ferlab, { imageSize: 48, inputSize: 44, tta: "crops" });
    assert.deepEqual(model.modelTopology.config.layers[0].config.batch_input_shape, [null, 44, 44, 1]);
    const json = JSON.parse(await Deno.readTextFile(join(out, "04_transfer.json")));
    // under the study protocol the other Usages were training rows: only the test split is scored
    assert.equal(json.tta.length, 1);
    const split = json.tta[0];
    assert.equal(split.set, "test split");
    assert.equal(split.accuracy.none, json.testAccuracy, "the centre crop is the plain evaluation");
    assert.equal(json.testTenCrop, split.accuracy.crops);
    const md = await Deno.readTextFile(join(out, "04_transfer.md"));
    assert.match(md, /\*\*Ten-crop test accuracy: \d+\.\d\d%\*\*/);
    assert.ok(md.includes("## Test-time augmentation") && md.includes("## Transfer learning"));
    // the head phase cached the centre crops' features under their own key
    assert.ok(
      [...Deno.readDirSync(new URL("../../.cache/transfer", import.meta.url))].some((e) =>
        e.name.includes("-16-crop44-")
      ),
    );
  },
});

Deno.test({
  name: "exp:04 --augment crops with a crop size the faces cannot centre fails before training, naming it",
  sanitizeResources: false,
  fn: async () => {
    const r = await run(join(tmp, "bad-crop"), ["--augment", "crops", "--crop-size", "45"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /45/);
    assert.doesNotMatch(r.stderr, /phase 1|\n\s+at /);
  },
});

Deno.test({
  name: "cleanup",
  fn: async () => {
    await Deno.remove(tmp, { recursive: true });
    // the feature caches keyed by this test's backbone path
    const cache = new URL("../../.cache/transfer/", import.meta.url);
    for (const e of Deno.readDirSync(cache)) {
      if (e.name.includes(basename(tmp))) await Deno.remove(new URL(e.name, cache));
    }
  },
});
