/**
 * `deno task eval` with several models and test-time augmentation, run as a
 * user runs it, on the committed baseline model and a small synthetic CSV.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { runScript } from "../helpers/run_script.ts";

const MODEL = new URL("../../reports/models/01_baseline", import.meta.url).pathname;

function evalTool(args: string[]) {
  return runScript("tools/eval.ts", ["--backend", "cpu", ...args], { extra: { write: [tmp] } });
}

const tmp = await Deno.makeTempDir({ prefix: "ferlab-eval-" });
const csv = join(tmp, "small.csv");
await writeFer2013Csv(csv, makeSyntheticFer2013({ n: 40, seed: 11 }));

Deno.test({
  name: "eval: an ensemble of one model twice scores as the model; --tta flip says what it averaged",
  sanitizeResources: false,
  fn: async () => {
    const [single, twice, flip] = await Promise.all([
      evalTool(["--model", MODEL, "--data", csv]),
      evalTool(["--model", MODEL, "--model", MODEL, "--data", csv]),
      evalTool(["--model", MODEL, "--data", csv, "--tta", "flip"]),
    ]);
    for (const r of [single, twice, flip]) assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(single.stdout);
    const t = JSON.parse(twice.stdout);
    const f = JSON.parse(flip.stdout);
    assert.equal(s.n, 40);
    assert.ok(Number.isFinite(s.nll) && s.nll > 0);
    assert.ok(s.ece >= 0 && s.ece <= 1);
    assert.equal(s.perClass.length, 7);
    // A 48-pixel model records no TTA of its own, so the default (auto) shows it the image as it is.
    const whole = { imageSize: 48, inputSize: 48 };
    assert.deepEqual(s.tta, {
      mode: "none",
      views: ["identity"],
      members: [{ ...whole, tta: "none", views: ["identity"] }],
    });
    assert.equal(t.models.length, 2);
    assert.equal(t.accuracy, s.accuracy);
    assert.ok(Math.abs(t.nll - s.nll) < 1e-6, `${t.nll} vs ${s.nll}`);
    assert.deepEqual(f.tta.mode, "flip");
    assert.deepEqual(f.tta.views, ["identity", "mirror"]);
    assert.equal(f.n, 40);
    // Averaging over mirrors changes the probabilities of a model that is not mirror-symmetric.
    assert.notEqual(f.nll, s.nll);
  },
});

Deno.test({
  name: "eval: a bad --tta or a missing model directory is a clear one-line error",
  sanitizeResources: false,
  fn: async () => {
    const bad = await evalTool(["--model", MODEL, "--data", csv, "--tta", "rotate"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--tta must be one of auto, none, flip, crops, got "rotate"/);
    const missing = await evalTool(["--model", MODEL, "--model", join(tmp, "no-such-model"), "--data", csv]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-model.*model\.json not found/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
  },
});
