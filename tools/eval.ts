/**
 * Evaluates a saved model on any FER2013 file and prints one JSON object.
 *
 *     deno task eval --model reports/models/01_baseline --data fer2013.csv --usage PrivateTest
 *
 * The JSON holds accuracy, per-class metrics, the confusion matrix and the
 * calibration (NLL, ECE, reliability bins). stdout carries only the JSON (progress and notes go to stderr), so the
 * output can be piped into `jq` or another program.
 *
 * @module
 */
import { BACKENDS, describeBackend, selectBackend } from "../lib/backend/select.ts";
import { parseFlags, UsageError } from "../lib/cli/args.ts";
import { runMain } from "../lib/cli/main.ts";
import { EMOTIONS, USAGES } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData } from "../lib/data/locate.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { evaluate } from "../lib/eval/metrics.ts";
import { loadModel } from "../lib/models/io.ts";

const DEFAULTS = {
  model: "",
  data: "",
  usage: "" as "" | typeof USAGES[number],
  backend: "auto" as typeof BACKENDS[number],
  batchSize: 256,
  skipBad: false,
};

await runMain(async () => {
  const args = parseFlags(Deno.args, "deno task eval", {
    model: { type: "string", help: "saved model folder (model.json + weights.bin)", required: true },
    data: { type: "string", help: "FER2013 CSV(.gz) or image folder (default: data/fer2013*, else synthetic)" },
    usage: { type: "string", help: "evaluate only rows of this Usage", choices: ["", ...USAGES] },
    backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
    batchSize: { type: "number", help: "images per forward pass", positiveInt: true },
    skipBad: { type: "boolean", help: "skip malformed rows/images (listed) instead of stopping" },
  }, DEFAULTS);
  if (!args) return;

  const backend = await selectBackend(args.backend);
  console.error(`backend: ${describeBackend(backend)}`);
  const model = await loadModel(args.model);
  const choice = await loadData({
    data: args.data || undefined,
    skipBad: args.skipBad,
    synthetic: () => makeSyntheticFer2013(),
  });
  const { data } = choice;
  let rows = Int32Array.from({ length: data.n }, (_, i) => i);
  if (args.usage) {
    const code = USAGES.indexOf(args.usage as typeof USAGES[number]);
    rows = rows.filter((r) => data.usage[r] === code);
    if (rows.length === 0) {
      throw new UsageError(`no ${args.usage} rows in ${choice.path ?? data.source} (it has none of that Usage)`);
    }
  }
  const t0 = performance.now();
  const result = await evaluate(model, data, rows, args.batchSize);
  const recall = Object.fromEntries(result.perClass.map((c) => [EMOTIONS[c.label] ?? String(c.label), c.recall]));
  console.log(JSON.stringify({
    accuracy: result.accuracy,
    n: result.n,
    recall,
    macroF1: result.macroF1,
    perClass: result.perClass,
    confusion: result.confusion,
    calibration: result.calibration,
    model: args.model,
    data: {
      source: data.source,
      kind: choice.kind,
      path: choice.path,
      fingerprint: fingerprint(data),
      usage: args.usage || "all",
    },
    backend: backend.name,
    seconds: (performance.now() - t0) / 1000,
  }));
});
