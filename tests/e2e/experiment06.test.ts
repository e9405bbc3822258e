/**
 * Experiment 06 end to end, as a user runs it: its quick profile on the
 * synthetic faces in a subprocess under the `experiment` permission set (plus
 * the test's temp dir), then its report, its crop model and a resumed run
 * that ends with the same weights as an uninterrupted one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { argv, runScript } from "../helpers/run_script.ts";

const tmp = await Deno.makeTempDir({ prefix: "ferlab-e2e06-" });
const run = (flags: Record<string, string | number | boolean>) =>
  runScript("experiments/06_crops.ts", argv(flags), { extra: { write: [tmp] }, cwd: tmp });
const COMMITTED_05 = new URL("../../reports/05_budget.json", import.meta.url).pathname;

Deno.test({
  name: "exp:06 --quick trains on crops and writes its report: ten-crop beside the centre crop, 05 and the study",
  sanitizeResources: false,
  fn: async () => {
    const out = join(tmp, "reports");
    await Deno.mkdir(out, { recursive: true });
    // 05's committed FER2013 result, to be set beside this run (on other data: its test images differ).
    await Deno.copyFile(COMMITTED_05, join(out, "05_budget.json"));
    const r = await run({ quick: true, epochs: 2, limitTrain: 320, out, backend: "wasm", threads: 1 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /vgg: \d+\.\d\d GFLOP\/image, \d+\.\d img\/s/);
    assert.match(r.stderr, /wide: \d+\.\d\d GFLOP\/image, \d+\.\d img\/s/);
    for (const f of ["06_crops.md", "06_crops.json", "06_crops.epochs.svg", "06_crops.cpuhours.svg"]) {
      assert.ok((await Deno.stat(join(out, f))).size > 0, f);
    }
    const json = JSON.parse(await Deno.readTextFile(join(out, "06_crops.json")));
    assert.equal(json.data.kind, "synthetic");
    assert.equal(json.split.protocol, "official");
    assert.equal(json.training.history.length, 2);
    assert.deepEqual(json.input, { imageSize: 48, inputSize: 44, tta: "crops" });
    assert.deepEqual(json.measuredCosts.map((c: { arch: string }) => c.arch), ["vgg", "wide"]);
    const [vgg, wide] = json.measuredCosts;
    assert.ok(wide.gflop > 3.5 * vgg.gflop, `wide ${wide.gflop} vs vgg ${vgg.gflop} GFLOP`);
    assert.ok(json.model.flopsPerImage < vgg.gflop * 1e9 * 1.001, "the model runs on 44-px crops");
    // The test split scored three ways; the centre crop is the report's headline number.
    const split = json.tta[0];
    assert.equal(split.set, "test split");
    assert.equal(split.n, json.test.n);
    assert.equal(split.accuracy.none, json.testAccuracy);
    for (const mode of ["none", "flip", "crops"]) assert.ok(split.accuracy[mode] >= 0 && split.accuracy[mode] <= 1);
    assert.equal(json.testTenCrop, split.accuracy.crops);
    assert.equal(json.reference.label, "05_budget");
    const md = await Deno.readTextFile(join(out, "06_crops.md"));
    assert.match(md, /\*\*Ten-crop test accuracy: \d+\.\d\d%\*\* \(centre crop alone \d+\.\d\d%\)/);
    assert.match(md, /## Test-time augmentation/);
    assert.match(md, /\| test split \| \d+ \| \d+\.\d\d% \| \d+\.\d\d% \| \d+\.\d\d% \|/);
    assert.match(
      md,
      /\| 05_budget \| \.\.\/shared\/data\/fer2013-dev\.csv\.gz \| official \| no \|.*PublicTest 65\.06%/,
    );
    assert.match(md, /\| the study's best model 62% \|.*\| 62\.00% \|/);
    assert.match(md, /Architecture: \*\*vgg\*\*/);
    // The saved model says how it is fed.
    const model = JSON.parse(await Deno.readTextFile(join(out, "models/06_crops/model.json")));
    assert.deepEqual(model.userDefinedMetadata.ferlab, { imageSize: 48, inputSize: 44, tta: "crops" });
    assert.deepEqual(model.modelTopology.config.layers[0].config.batch_input_shape, [null, 44, 44, 1]);
  },
});

Deno.test({
  name: "exp:06 cut short and resumed ends with the weights of an uninterrupted run (mixup, cosine with restarts)",
  sanitizeResources: false,
  fn: async () => {
    const common = {
      quick: true,
      epochs: 2,
      limitTrain: 192,
      measureSteps: 0,
      mixup: 0.2,
      schedule: "cosine",
      // 2 epochs of 3 steps in cycles of 2 and 4 steps: the second epoch starts inside the second cycle
      restarts: 2,
      backend: "wasm",
      threads: 1,
    };
    const whole = join(tmp, "whole"), parts = join(tmp, "parts");
    const a = await run({ ...common, out: whole });
    assert.equal(a.code, 0, a.stderr);
    const cut = await run({ ...common, out: parts, maxMinutes: 0.0001 });
    assert.equal(cut.code, 0, cut.stderr);
    const partial = JSON.parse(await Deno.readTextFile(join(parts, "06_crops_cosine_mixup0.2.json")));
    assert.equal(partial.training.cutShort, true);
    assert.equal(partial.training.history.length, 1);
    const resumed = await run({ ...common, out: parts, resume: true });
    assert.equal(resumed.code, 0, resumed.stderr);
    const done = JSON.parse(await Deno.readTextFile(join(parts, "06_crops_cosine_mixup0.2.json")));
    assert.equal(done.training.resumedFrom, 1);
    // the per-step cosine starts at the peak and is lower when the second epoch starts
    const [first, second] = done.training.history.map((h: { lr: number }) => h.lr);
    assert.equal(first, 0.01);
    assert.ok(second < first, `lr ${second} after ${first}`);
    // The saved model (early stopping's best epoch) and the checkpoint's last epoch alike.
    for (
      const f of [
        "models/06_crops_cosine_mixup0.2/weights.bin",
        "checkpoints/06_crops_cosine_mixup0.2/model/weights.bin",
      ]
    ) {
      assert.deepEqual(await Deno.readFile(join(parts, f)), await Deno.readFile(join(whole, f)), f);
    }
    const reference = JSON.parse(await Deno.readTextFile(join(whole, "06_crops_cosine_mixup0.2.json")));
    assert.deepEqual(
      done.training.history.map((h: { loss: number }) => h.loss),
      reference.training.history.map((h: { loss: number }) => h.loss),
    );
    assert.equal(done.testTenCrop, reference.testTenCrop);
  },
});
