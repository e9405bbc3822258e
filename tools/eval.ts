/**
 * Evaluates a saved model, or an ensemble of several, on any FER2013 file and
 * prints one JSON object.
 *
 *     deno task eval --model reports/models/01_baseline --data fer2013.csv --usage PrivateTest
 *     deno task eval --model reports/models/01_baseline --model reports/models/03_deep --tta flip
 *
 * Several `--model` flags average the models' probabilities; `--tta flip`
 * also averages over each image's mirror, `--tta crops` over shifted crops too
 * (for a model trained on crops: the ten-crop). By default (`--tta auto`)
 * each model gets the TTA it records: none for most, ten-crop for a model
 * trained on crops, which always sees crops of its own input side.
 *
 * stdout carries only the JSON (progress and notes go to stderr), so the
 * output can be piped into `jq` or another program.
 *
 * @module
 */
import {
  type BackendChoice,
  BACKENDS,
  describeBackend,
  KERNEL_SETS,
  type KernelChoice,
  selectBackend,
} from "../lib/backend/select.ts";
import { type Flags, parseFlags, UsageError } from "../lib/cli/args.ts";
import { EMOTIONS, IMAGE_SIZE, USAGES } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData } from "../lib/data/locate.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { evaluateEnsemble } from "../lib/eval/ensemble.ts";
import { TTA_CHOICES, type TtaChoice } from "../lib/eval/tta.ts";
import { runCli } from "../lib/cli/shell.ts";
import { loadModel } from "../lib/models/io.ts";

const FLAGS: Flags = {
  model: {
    type: "string",
    help: "saved model folder; several evaluate their ensemble",
    required: true,
    multiple: true,
  },
  tta: {
    type: "string",
    help: "test-time augmentation (auto: each model's own: ten-crop for a model trained on crops, else none)",
    choices: TTA_CHOICES,
  },
  data: { type: "string", help: "FER2013 CSV(.gz) or image folder" },
  usage: { type: "string", help: "evaluate only the rows of this Usage", choices: ["", ...USAGES] },
  backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
  kernels: {
    type: "string",
    help: "wasm kernel set (auto: oneDNN's native kernels where they load)",
    choices: KERNEL_SETS,
  },
  batchSize: { type: "number", help: "images per forward pass", positiveInt: true },
  skipBad: { type: "boolean", help: "skip malformed rows/images (listed) instead of stopping" },
};
const DEFAULTS = {
  model: [] as string[],
  tta: "auto" as TtaChoice,
  data: undefined as string | undefined,
  usage: "",
  backend: "auto" as BackendChoice,
  kernels: "auto" as KernelChoice,
  batchSize: 256,
  skipBad: false,
};
const ABOUT =
  `Prints {accuracy, n, nll, ece, recall: {emotion: r}, perClass, confusion, calibration (with the reliability bins),
models, tta, ...} as one JSON object on stdout.
Several --model flags evaluate the ensemble (averaged probabilities); --tta flip averages over the horizontal
mirror, --tta crops adds shifted crops (10 views). A model trained on crops (its model.json records its input
side and default TTA) sees its centre crop, and with --tta crops the ten-crop: four corners and centre, mirrored too.
Without --data, looks for data/fer2013.csv[.gz] or data/fer2013/, else uses the synthetic set.`;

await runCli(async () => {
  const args = parseFlags(Deno.args, "deno task eval", FLAGS, DEFAULTS, { about: ABOUT });
  if (!args) return; // --help was printed

  const backend = await selectBackend(args.backend, { kernels: args.kernels });
  console.error(`backend: ${describeBackend(backend)}`);
  const models = [];
  for (const dir of args.model) models.push(await loadModel(dir));
  const choice = await loadData({
    data: args.data,
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
  const result = await evaluateEnsemble(models, data, rows, {
    tta: args.tta,
    batch: args.batchSize,
    imageSize: IMAGE_SIZE,
  });
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
    tta: { mode: result.tta, views: result.views, members: result.members },
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
