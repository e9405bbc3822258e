/**
 * A model trained on crops records how it is fed (input side, the image side
 * it crops from, its default TTA) in its model.json, and `deno task eval` and
 * `deno task predict` apply that record: the ten-crop by default, the centre
 * crop with `--tta none`.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { DataError, EMOTIONS } from "../../lib/data/fer2013.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { evaluateEnsemble, predictEnsemble } from "../../lib/eval/ensemble.ts";
import { evaluate } from "../../lib/eval/metrics.ts";
import { modelInput, ModelInputError, setModelInput } from "../../lib/models/input_spec.ts";
import { loadModel, MODEL_JSON, saveModel } from "../../lib/models/io.ts";
import { loadFace } from "../../lib/predict/photo.ts";
import { runScript } from "../helpers/run_script.ts";

await tf.setBackend("cpu");

const tmp = await Deno.makeTempDir({ prefix: "ferlab-crop-model-" });

/** A small seeded conv net over 44×44 inputs, as a crop-trained model is built. */
function cropNet(side = 44): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [side, side, 1],
        filters: 4,
        kernelSize: 5,
        strides: 2,
        activation: "relu",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      }),
      tf.layers.flatten(),
      tf.layers.dense({
        units: 7,
        activation: "softmax",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      }),
    ],
  });
}

const dir = join(tmp, "crop44");
const model = cropNet();
setModelInput(model, { imageSize: 48, inputSize: 44, tta: "crops" });
await saveModel(model, dir);

Deno.test("a saved crop model records its input side and default TTA, and loading gives them back", async () => {
  const json = JSON.parse(await Deno.readTextFile(join(dir, MODEL_JSON)));
  assert.deepEqual(json.userDefinedMetadata.ferlab, { imageSize: 48, inputSize: 44, tta: "crops" });
  const loaded = await loadModel(dir);
  assert.deepEqual(modelInput(loaded), { imageSize: 48, inputSize: 44, tta: "crops" });
  // A model without a record is fed as before: its whole input side, no TTA.
  assert.deepEqual(modelInput(cropNet(48)), { imageSize: 48, inputSize: 48, tta: "none" });
  loaded.dispose();
});

Deno.test("a record that does not fit the model is refused when set, and named when loaded", async () => {
  assert.throws(
    () => setModelInput(cropNet(), { imageSize: 48, inputSize: 40, tta: "crops" }),
    /inputSize 40 is not the model's input side 44/,
  );
  assert.throws(
    () => setModelInput(cropNet(45), { imageSize: 48, inputSize: 45, tta: "crops" }),
    ModelInputError,
  );
  const bad = join(tmp, "bad-record");
  await saveModel(model, bad);
  const path = join(bad, MODEL_JSON);
  const json = JSON.parse(await Deno.readTextFile(path));
  json.userDefinedMetadata.ferlab.tta = "rotate";
  await Deno.writeTextFile(path, JSON.stringify(json));
  await assert.rejects(
    () => loadModel(bad),
    (e) =>
      e instanceof DataError &&
      /bad-record\/model\.json, userDefinedMetadata\.ferlab: tta must be one of/.test(e.message),
  );
});

Deno.test({
  name: "eval scores a crop model with its ten-crop by default and its centre crop with --tta none",
  sanitizeResources: false,
  fn: async () => {
    const data = makeSyntheticFer2013({ n: 40, seed: 12 });
    const csv = join(tmp, "faces.csv");
    await writeFer2013Csv(csv, data);
    const evalTool = (args: string[]) =>
      runScript("tools/eval.ts", ["--backend", "cpu", "--model", dir, "--data", csv, ...args], {
        extra: { write: [tmp] },
      });
    const [auto, none] = await Promise.all([evalTool([]), evalTool(["--tta", "none"])]);
    assert.equal(auto.code, 0, auto.stderr);
    assert.equal(none.code, 0, none.stderr);
    const a = JSON.parse(auto.stdout);
    const n = JSON.parse(none.stdout);
    assert.equal(a.tta.mode, "crops");
    assert.equal(a.tta.views.length, 10);
    assert.deepEqual(a.tta.members, [{ imageSize: 48, inputSize: 44, tta: "crops", views: a.tta.views }]);
    assert.deepEqual(n.tta.views, ["centre"]);

    // The same numbers in process: the centre crop is what plain evaluation of the model gives.
    const rows = [...Array(40).keys()];
    const centre = await evaluate(model, data, rows);
    assert.ok(Math.abs(n.nll - centre.calibration.nll) < 1e-5, `${n.nll} vs ${centre.calibration.nll}`);
    assert.equal(n.accuracy, centre.accuracy);
    const tenCrop = await evaluateEnsemble([model], data, rows, { tta: "crops", imageSize: 48 });
    assert.ok(Math.abs(a.nll - tenCrop.calibration.nll) < 1e-5, `${a.nll} vs ${tenCrop.calibration.nll}`);
    assert.notEqual(a.nll, n.nll, "the ten-crop averages other views than the centre crop");
  },
});

Deno.test({
  name: "predict shows a crop model its ten-crop by default",
  sanitizeResources: false,
  fn: async () => {
    const face = makeSyntheticFer2013({ n: 1, seed: 5 }).pixels;
    const file = join(tmp, "face.png");
    await sharp(face, { raw: { width: 48, height: 48, channels: 1 } }).png().toFile(file);
    // --centre: the photo is the face (a 48-px face is below the detectors' reach)
    const r = await runScript("tools/predict.ts", [file, "--model", dir, "--json", "--centre", "--backend", "cpu"], {
      extra: { write: [tmp] },
    });
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout).results[0].faces[0].probabilities;
    const pixels = (await loadFace(file)).pixels;
    const want = await predictEnsemble([model], pixels, [0], { tta: "crops", imageSize: 48 });
    EMOTIONS.forEach((e, i) => assert.ok(Math.abs(got[e] - want[i]) < 1e-5, `${e}: ${got[e]} vs ${want[i]}`));
  },
});
