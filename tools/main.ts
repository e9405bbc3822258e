/**
 * The whole study: every experiment script (`experiments/NN_*.ts`, in order),
 * then the comparison report.
 *
 *     deno task main                      # FER2013 if found in data/, else synthetic quick runs
 *     deno task main --data PATH          # a FER2013 CSV(.gz) or image folder elsewhere
 *     deno task main -- --backend wasm    # flags after `--` go to every experiment
 *
 * - **Without FER2013**: each experiment's `--quick` profile on the synthetic
 *   faces, into `reports/synthetic/` (the committed FER2013 results stay as
 *   they are), each given an equal share of a 7-minute budget
 *   (`--max-minutes`; a run stops after the epoch that crosses its share, so
 *   the margin covers that epoch and the report), so the study finishes in
 *   under 10 minutes on 2 cores; then it says how to get FER2013.
 * - **With FER2013**: the full profiles into `reports/`, resumable: an
 *   experiment whose result on this very data (same fingerprint) completed is
 *   skipped, an interrupted one continues from its checkpoint (`--resume`).
 *
 * Scripts are found by listing `experiments/`, so new ones join by existing.
 * A progress line with the ETA is printed before each step and every 30 s:
 * the running experiment's own ETA (read from its progress line), plus
 * estimates for the ones after it (their last run's wall time, else the mean
 * of this session's, else the synthetic budget share).
 *
 * @module
 */
import { join } from "node:path";
import { parseFlags, UsageError } from "../lib/cli/args.ts";
import { listMatching, readResult, ResultFileError, SCRIPT_RE } from "../lib/compare/results.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData, locateData } from "../lib/data/locate.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { runCli } from "../lib/cli/shell.ts";
import { denoCommand, type ExtraPaths, scriptArgs } from "../lib/cli/permissions.ts";
import { fmtSeconds } from "../lib/report/markdown.ts";
import { eta, parseEta, type Step } from "../lib/train/progress.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ABOUT = `Runs every experiments/NN_name.ts in order, then the report, passing the flags after -- to every
experiment. Without FER2013: quick profiles on synthetic faces into reports/synthetic/; with FER2013: full profiles
into reports/, resumable.`;
/** Minutes the synthetic study may take before the report (the promise is under 10 in all). */
const SYNTHETIC_BUDGET_MINUTES = 7;
const TICK_MS = 30_000;

const GET_FER2013 = `To run the study on FER2013 (the numbers the study reports):
  1. Download fer2013.csv from Kaggle's "Challenges in Representation Learning: Facial Expression
     Recognition Challenge" (or the train/ + test/ image-folder release).
  2. Save it as data/fer2013.csv (or gzip it to data/fer2013.csv.gz, or unpack the folders to data/fer2013/).
  3. Run \`deno task main\` again: the full profiles then run into reports/ (resumable; about an hour per
     experiment on 2 cores).`;

const log = (m: string) => console.error(`[main] ${m}`);

function parse(argv: string[]) {
  return parseFlags(argv, "deno task main", {
    data: { type: "string", help: "FER2013 CSV(.gz) or image folder (default: data/, else synthetic)" },
    out: { type: "string", help: "output folder (default: reports/, or reports/synthetic/ without FER2013)" },
    experiments: { type: "string", help: "folder of the experiment scripts" },
  }, {
    data: undefined as string | undefined,
    out: undefined as string | undefined,
    experiments: join(ROOT, "experiments"),
    experimentFlags: [] as string[],
  }, { passThrough: "experimentFlags", about: ABOUT });
}

/** The previous wall time of `name` in `out`, when it ran the same way (same data kind and profile). */
async function previousSeconds(out: string, name: string, quick: boolean): Promise<number | undefined> {
  try {
    const r = await readResult(join(out, `${name}.json`));
    return r.config.quick === quick ? r.wallSeconds : undefined;
  } catch (e) {
    if (e instanceof ResultFileError) return undefined;
    throw e;
  }
}

/** Whether `out/name.json` is a completed run on the data with fingerprint `fp`. */
async function completedOn(out: string, name: string, fp: string): Promise<boolean> {
  try {
    const r = await readResult(join(out, `${name}.json`));
    return r.data.fingerprint === fp && !r.epochs.cutShort && r.config.quick !== true;
  } catch (e) {
    if (e instanceof ResultFileError) return false;
    throw e;
  }
}

/**
 * Runs `deno` with `denoArgs` (from {@link scriptArgs}: the script under the
 * permission set its task uses, plus this run's paths); its stderr is passed
 * through and each line shown to `onLine`.
 */
async function run(denoArgs: string[], onLine?: (line: string) => void): Promise<number> {
  const child = new Deno.Command(denoCommand(), {
    args: denoArgs,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  const [forward, watch] = child.stderr.tee();
  const passing = forward.pipeTo(Deno.stderr.writable, { preventClose: true });
  let rest = "";
  for await (const chunk of watch.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split(/\r|\n/);
    rest = lines.pop()!;
    for (const l of lines) onLine?.(l);
  }
  await passing;
  return (await child.status).code;
}

await runCli(async () => {
  const opts = parse(Deno.args);
  if (!opts) return; // --help was printed
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const where = await locateData({ data: opts.data });
  const synthetic = where.kind === "synthetic";
  const out = opts.out ?? (synthetic ? "reports/synthetic" : "reports");
  const scripts = await listMatching(opts.experiments, SCRIPT_RE);
  // What the children may use besides their sets: the data found (or the default data/ folder) and the folders given.
  const childPaths: ExtraPaths = { read: [where.path ?? "data", opts.experiments], write: [out] };
  if (scripts.length === 0) throw new UsageError(`no experiment scripts (NN_name.ts) in ${opts.experiments}`);

  const steps: Step[] = [];
  let fp: string | undefined;
  if (!synthetic) {
    log(`FER2013 found at ${where.path}: full profiles into ${out}/, resumable`);
    const { data } = await loadData({ data: where.path, synthetic: makeSyntheticFer2013, log: () => {} });
    fp = fingerprint(data);
  } else {
    log(`no FER2013 found: each experiment's --quick profile on the synthetic faces into ${out}/`);
  }
  for (const file of scripts) {
    const name = file.replace(/\.ts$/, "");
    const done = fp !== undefined && await completedOn(out, name, fp);
    steps.push({
      name,
      script: join(opts.experiments, file),
      estimate: await previousSeconds(out, name, synthetic),
      skip: done ? `already completed on this data (${out}/${name}.json)` : undefined,
    });
  }
  if (synthetic) {
    // A quick run never takes much longer than its share of the budget.
    const share = (SYNTHETIC_BUDGET_MINUTES * 60) / steps.length;
    for (const s of steps) s.estimate = Math.min(s.estimate ?? share, share);
  }
  log(`plan: ${steps.map((s) => s.name + (s.skip ? " (skip)" : "")).join(", ")}, then the report`);

  const doneTimes: number[] = [];
  const failed: string[] = [];
  for (const [i, step] of steps.entries()) {
    const head = `${i + 1}/${steps.length} ${step.name}`;
    if (step.skip) {
      log(`${head}: skipped, ${step.skip}`);
      continue;
    }
    const args = ["--out", out];
    if (synthetic) {
      // An equal share of what is left of the budget, so later experiments still get their turn.
      const left = steps.slice(i).filter((s) => !s.skip).length;
      const minutes = Math.max(0.5, (SYNTHETIC_BUDGET_MINUTES - elapsed() / 60) / left);
      args.push("--quick", "--max-minutes", minutes.toFixed(2));
      step.budget = minutes * 60;
    } else {
      args.push("--data", where.path!, "--resume");
    }
    args.push(...opts.experimentFlags);
    const started = performance.now();
    let own: { total: number; epoch?: number; at: number } | undefined;
    const line = () => {
      const running = (performance.now() - started) / 1000;
      const since = own ? (performance.now() - own.at) / 1000 : 0;
      const rest = eta(steps, i, {
        runningFor: running,
        ownEta: own && Math.max(0, own.total - since),
        epochEta: own?.epoch !== undefined ? Math.max(0, own.epoch - since) : undefined,
      }, doneTimes);
      return `${head}: running ${fmtSeconds(running)}; study ${fmtSeconds(elapsed())} so far, ETA ` +
        (rest === undefined ? "? (first run)" : `~${fmtSeconds(rest)} + report`);
    };
    const denoArgs = scriptArgs(step.script, args, childPaths);
    log(`${line()} — deno ${denoArgs.join(" ")}`);
    const ticker = setInterval(() => log(line()), TICK_MS);
    let code: number;
    try {
      code = await run(denoArgs, (l) => {
        const e = parseEta(l);
        if (e?.total !== undefined) own = { total: e.total, epoch: e.epoch, at: performance.now() };
      });
    } finally {
      clearInterval(ticker);
    }
    const took = (performance.now() - started) / 1000;
    doneTimes.push(took);
    if (code !== 0) failed.push(`${step.name} (exit ${code})`);
    log(`${head}: ${code === 0 ? "done" : `FAILED (exit ${code})`} in ${fmtSeconds(took)}`);
  }

  const reportArgs = scriptArgs(join(ROOT, "tools/report.ts"), ["--dir", out], { write: [out] });
  log(`report — deno ${reportArgs.join(" ")}`);
  const reportCode = await run(reportArgs);
  if (reportCode !== 0) failed.push(`report (exit ${reportCode})`);
  log(`study finished in ${fmtSeconds(elapsed())}; comparison: ${out}/README.md, interactive: ${out}/index.html`);
  if (synthetic) {
    console.error(
      "\nThese are synthetic-face numbers from quick profiles, NOT comparable with the study's FER2013 results.\n" +
        GET_FER2013,
    );
  }
  if (failed.length) {
    log(`failed: ${failed.join(", ")}`);
    Deno.exit(1);
  }
});
