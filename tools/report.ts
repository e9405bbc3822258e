/**
 * Rebuilds the comparison of every experiment's results.
 *
 *     deno task report                       # reads and writes reports/
 *     deno task report --dir reports/synthetic --data data/fer2013.csv
 *
 * Reads every `NN_name.json` in the folder and writes there:
 *
 * - `README.md`: the comparison table (with the ensembles' rows), the chart and the speed summary;
 * - `comparison.vl.json` / `comparison.svg`: ours beside the study's accuracy;
 * - `ensemble.json`: the study protocol's ensemble's scores, and `ensemble_official.json` the official
 *   protocol's (each recomputed only when a model or the split changed);
 * - `index.html` + `vendor/`: the interactive view, needing no network (its
 *   screenshot `index.png` is `deno task report:check`'s, which this says when
 *   the page no longer matches).
 *
 * Nothing in these files depends on when the report ran, so a rebuild
 * without new results leaves every file byte-identical.
 *
 * @module
 */
import { join } from "node:path";
import { type BackendChoice, BACKENDS } from "../lib/backend/select.ts";
import { type Flags, parseFlags, UsageError } from "../lib/cli/args.ts";
import { comparisonChart, ensembleLabel, hasComparisonChart, okEnsembles } from "../lib/compare/charts.ts";
import { benchSummary, type ComparisonInput, comparisonMarkdown, splitRuns } from "../lib/compare/comparison.ts";
import { DEFAULT_TTAS, type EnsembleOutcome, ensembleRows } from "../lib/compare/ensemble_row.ts";
import { comparisonBlocks } from "../lib/compare/page.ts";
import { listMatching, readResults, RESULT_RE, SCRIPT_RE } from "../lib/compare/results.ts";
import { parseTtaMode, TTA_MODES, TtaError, type TtaMode } from "../lib/eval/tta.ts";
import { runCli } from "../lib/cli/shell.ts";
import { copyVendor, renderPage } from "../lib/report/html.ts";
import { renderSvg } from "../lib/report/render.ts";
import { screenshotStaleness } from "../lib/report/screenshot.ts";
import { writeFileAtomic } from "../lib/atomic_write.ts";

const EXPERIMENTS = new URL("../experiments", import.meta.url).pathname;

const FLAGS: Flags = {
  dir: { type: "string", help: "results folder: reads DIR/NN_name.json, writes the comparison beside them" },
  data: {
    type: "string",
    help: "FER2013 file or folder to rebuild the ensemble's test split from (default: where each run found it)",
  },
  tta: {
    type: "string",
    help: `comma-separated TTA modes of every ensemble's rows (${TTA_MODES.join(", ")}); default ` +
      Object.entries(DEFAULT_TTAS).map(([p, t]) => `${t.join(",")} on the ${p} protocol`).join(", "),
  },
  backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
  noEnsemble: { type: "boolean", help: "leave the ensemble rows out" },
};
const DEFAULTS = {
  dir: "reports",
  data: undefined as string | undefined,
  tta: undefined as string | undefined,
  backend: "auto" as BackendChoice,
  noEnsemble: false,
};
const ABOUT =
  "Rebuilds DIR/README.md, DIR/comparison.svg, DIR/ensemble*.json and DIR/index.html from DIR/NN_name.json.";

function parse(argv: string[]) {
  const v = parseFlags(argv, "deno task report", FLAGS, DEFAULTS, { about: ABOUT });
  if (!v) return null;
  let ttas: TtaMode[] | undefined;
  try {
    ttas = v.tta === undefined ? undefined : [...new Set(v.tta.split(",").map((t) => parseTtaMode(t.trim())))];
  } catch (e) {
    if (e instanceof TtaError) throw new UsageError(e.message);
    throw e;
  }
  return { dir: v.dir, data: v.data, ttas, backend: v.backend, ensemble: !v.noEnsemble };
}

/** Experiment scripts that have no result file in `dir` yet. */
async function pendingExperiments(dir: string): Promise<string[]> {
  const have = new Set((await listMatching(dir, RESULT_RE)).map((f) => f.replace(/\.json$/, "")));
  return (await listMatching(EXPERIMENTS, SCRIPT_RE)).map((f) => f.replace(/\.ts$/, "")).filter((n) => !have.has(n));
}

/** The benchmark summary, or why there is none. */
async function readBench(dir: string): Promise<ComparisonInput["bench"]> {
  const path = join(dir, "bench.json");
  let text;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return { problem: `${path} not found (run \`deno task bench\`)` };
  }
  try {
    return benchSummary(JSON.parse(text));
  } catch (e) {
    return { problem: `${path} is malformed (${(e as Error).message})` };
  }
}

await runCli(async () => {
  const args = parse(Deno.args);
  if (!args) return; // --help was printed
  const { dir } = args;
  await Deno.mkdir(dir, { recursive: true });
  const { results, problems } = await readResults(dir);
  for (const p of problems) console.error(`warning: ${p}`);
  const pending = await pendingExperiments(dir);

  let ensemble: EnsembleOutcome[] = [{ ok: false, reason: "left out (--no-ensemble)" }];
  if (args.ensemble && results.length) {
    ensemble = await ensembleRows(dir, results, { ttas: args.ttas, data: args.data, backend: args.backend });
    for (const o of ensemble) {
      console.error(
        o.ok
          ? `${ensembleLabel(o.ensemble, "none", true)}: ` +
            o.ensemble.scores.map((s) => `${s.tta} ${(100 * s.accuracy).toFixed(2)}%`).join(", ") +
            (o.cached ? " (cached)" : "")
          : `no ensemble row${o.members ? ` of ${o.members.join(" + ")}` : ""}: ${o.reason}`,
      );
    }
  }
  const input: ComparisonInput = { results, problems, pending, ensemble, bench: await readBench(dir) };

  const written: string[] = [];
  const write = async (name: string, text: string) => {
    await writeFileAtomic(join(dir, name), text);
    written.push(join(dir, name));
  };
  const runs = splitRuns(results, pending);
  if (hasComparisonChart(runs, ensemble)) {
    const spec = comparisonChart(runs, okEnsembles(ensemble));
    await write("comparison.vl.json", JSON.stringify(spec, null, 2) + "\n");
    await write("comparison.svg", await renderSvg(spec));
  }
  await write("README.md", comparisonMarkdown(input));
  written.push(...await copyVendor(dir));
  await write("index.html", renderPage("ferlab: the comparison", comparisonBlocks(input)));
  console.error(`wrote ${written.join(", ")}`);
  // The screenshot cannot be taken here (it needs Chromium), so say when the page has moved on from it.
  const stale = await screenshotStaleness(dir);
  if (stale) console.error(`note: ${stale}`);
});
