/**
 * Evaluates a saved model, or an ensemble of several, on any FER2013 file and
 * prints one JSON object.
 *
 *     deno task eval --model reports/models/01_baseline --data fer2013.csv --usage PrivateTest
 *     deno task eval --model reports/models/01_baseline --model reports/models/03_deep --tta flip
 *
 * Several `--model` flags average the models' probabilities; `--tta flip`
 * also averages over each image's mirror, `--tta crops` over shifted crops too.
 *
 * stdout carries only the JSON (progress and notes go to stderr), so the
 * output can be piped into `jq` or another program.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BackendChoice, BACKENDS, describeBackend, selectBackend } from "../lib/backend/select.ts";
import { UsageError } from "../lib/cli/args.ts";
import { EMOTIONS, IMAGE_SIZE, USAGES } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData } from "../lib/data/locate.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { evaluateEnsemble } from "../lib/eval/ensemble.ts";
import { parseTtaMode, TTA_MODES, TtaError } from "../lib/eval/tta.ts";
import { runMain } from "../lib/cli/main.ts";
import { loadModel } from "../lib/models/io.ts";

const HELP = `Usage: deno task eval --model DIR [--model DIR ...] [--tta ${TTA_MODES.join("|")}] [--data PATH]
                      [--usage Training|PublicTest|PrivateTest] [--backend ${
  BACKENDS.join("|")
}] [--batch-size N] [--skip-bad]

Prints {accuracy, n, nll, ece, recall: {emotion: r}, perClass, confusion, calibration (with the reliability bins),
models, tta, ...} as one JSON object on stdout.
Several --model flags evaluate the ensemble (averaged probabilities); --tta flip averages over the horizontal
mirror, --tta crops adds shifted crops (10 views).
Without --data, looks for data/fer2013.csv[.gz] or data/fer2013/, else uses the synthetic set.`;

await runMain(async () => {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        model: { type: "string", multiple: true },
        tta: { type: "string", default: "none" },
        data: { type: "string" },
        usage: { type: "string" },
        backend: { type: "string", default: "auto" },
        "batch-size": { type: "string", default: "256" },
        "skip-bad": { type: "boolean", default: false },
        help: { type: "boolean" },
      },
    }).values;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${HELP}`);
  }
  if (args.help) return console.log(HELP);
  if (!args.model?.length) throw new UsageError(`--model DIR is required\n\n${HELP}`);
  let tta;
  try {
    tta = parseTtaMode(args.tta!);
  } catch (e) {
    if (e instanceof TtaError) throw new UsageError(e.message);
    throw e;
  }
  if (args.usage && !(USAGES as readonly string[]).includes(args.usage)) {
    throw new UsageError(`--usage must be one of ${USAGES.join(", ")}, got "${args.usage}"`);
  }
  if (!(BACKENDS as readonly string[]).includes(args.backend!)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got "${args.backend}"`);
  }
  const batch = Number(args["batch-size"]);
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch-size must be a positive integer`);

  const backend = await selectBackend(args.backend as BackendChoice);
  console.error(`backend: ${describeBackend(backend)}`);
  const models = [];
  for (const dir of args.model) models.push(await loadModel(dir));
  const choice = await loadData({
    data: args.data,
    skipBad: args["skip-bad"],
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
  const result = await evaluateEnsemble(models, data, rows, { tta, batch, imageSize: IMAGE_SIZE });
  const recall = Object.fromEntries(result.perClass.map((c) => [EMOTIONS[c.label] ?? String(c.label), c.recall]));
  console.log(JSON.stringify({
    accuracy: result.accuracy,
    n: result.n,
    nll: result.calibration.nll,
    ece: result.calibration.ece,
    recall,
    macroF1: result.macroF1,
    perClass: result.perClass,
    confusion: result.confusion,
    calibration: result.calibration,
    // One model keeps the old string form, so existing scripts that read `model` still work.
    model: args.model.length === 1 ? args.model[0] : args.model,
    models: args.model,
    tta: { mode: result.tta, views: result.views },
    data: {
      source: data.source,
      kind: choice.kind,
      path: choice.path,
      fingerprint: fingerprint(data),
      usage: args.usage ?? "all",
    },
    backend: backend.name,
    seconds: (performance.now() - t0) / 1000,
  }));
});
