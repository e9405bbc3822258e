/**
 * Evaluates a saved model on any FER2013 file and prints one JSON object.
 *
 *     deno task eval --model reports/models/01_baseline --data fer2013.csv --usage PrivateTest
 *
 * stdout carries only the JSON (progress and notes go to stderr), so the
 * output can be piped into `jq` or another program.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BackendChoice, BACKENDS, describeBackend, selectBackend } from "../lib/backend/select.ts";
import { UsageError } from "../lib/cli/args.ts";
import { EMOTIONS, USAGES } from "../lib/data/fer2013.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData } from "../lib/data/locate.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { evaluate } from "../lib/eval/metrics.ts";
import { runMain } from "../lib/cli/main.ts";
import { loadModel } from "../lib/models/io.ts";

const HELP = `Usage: deno task eval --model DIR [--data PATH] [--usage Training|PublicTest|PrivateTest]
                      [--backend ${BACKENDS.join("|")}] [--batch-size N] [--skip-bad]

Prints {accuracy, n, recall: {emotion: r}, perClass, confusion, ...} as one JSON object on stdout.
Without --data, looks for data/fer2013.csv[.gz] or data/fer2013/, else uses the synthetic set.`;

await runMain(async () => {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        model: { type: "string" },
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
  if (!args.model) throw new UsageError(`--model DIR is required\n\n${HELP}`);
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
  const model = await loadModel(args.model);
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
  const result = await evaluate(model, data, rows, batch);
  const recall = Object.fromEntries(result.perClass.map((c) => [EMOTIONS[c.label] ?? String(c.label), c.recall]));
  console.log(JSON.stringify({
    accuracy: result.accuracy,
    n: result.n,
    recall,
    macroF1: result.macroF1,
    perClass: result.perClass,
    confusion: result.confusion,
    model: args.model,
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
