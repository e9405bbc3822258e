/**
 * The comparison of every experiment's results: one table with a row per
 * experiment, its main run (ours beside the study's number, protocol, data,
 * backend, epochs, wall time, calibration), and the ensembles' rows (one
 * ensemble per protocol group, labelled by its protocol when several stand together); the
 * ablations beside their main runs in a table of their own; the speed summary
 * from the benchmark, and what is missing. Pure: the same inputs always give
 * the same text, so a report rebuilt without new results is byte-identical.
 *
 * @example
 * ```ts
 * const runs = splitRuns(results, pending);
 * const table = comparisonTable(runs, ensembleOutcomes);
 * const markdown = comparisonMarkdown({ results, problems, pending, ensemble: ensembleOutcomes, bench });
 * ```
 *
 * @module
 */
import { overconfidence } from "../eval/calibration.ts";
import { fmtInt, fmtNumber, fmtOverconfidence, fmtSeconds, mdTable, pct } from "../report/markdown.ts";
import {
  ensembleLabel,
  ensembleList,
  type Ensembles,
  hasComparisonChart,
  labelProtocols,
  okEnsembles,
} from "./charts.ts";
import { ENSEMBLE_FILE, type EnsembleOutcome, type EnsembleResult, type EnsembleScore } from "./ensemble_row.ts";
import { type ExperimentResult, mainRunOf } from "./results.ts";

/** A table cell: text, or text linking somewhere. */
export type TableCell = string | { text: string; href: string };

/** A table in a form both Markdown and HTML render. */
export interface Table {
  headers: string[];
  align: ("left" | "right")[];
  rows: TableCell[][];
}

/** Everything the comparison page is made from. */
export interface ComparisonInput {
  results: ExperimentResult[];
  /** Messages about result files left out. */
  problems: string[];
  /** Experiment scripts without results yet, e.g. "02_tuned". */
  pending: string[];
  /** The ensemble rows: one outcome per protocol group (see `ensemble_row.ts`), or a single one. */
  ensemble: Ensembles;
  bench: BenchSummary | { problem: string };
}

/** "19 of 30, cut short" */
export function epochsCell(r: ExperimentResult): string {
  const e = r.epochs;
  const of = e.planned !== undefined ? `${e.ran} of ${e.planned}` : String(e.ran);
  const how = e.cutShort ? "cut short" : e.stoppedEarly ? "stopped early" : "completed";
  return `${of}, ${how}`;
}

function dataCell(kind: string | undefined, fp: string | undefined): string {
  const what = kind === "synthetic" ? "synthetic" : kind ? `FER2013 ${kind}` : "?";
  return fp ? `${what} ${fp}` : what;
}

/** The results as the comparison presents them: the experiments' main runs, then the ablations of them. */
export interface Runs {
  /** One result per experiment: the run named after it (`03_deep`), in name order. */
  mains: ExperimentResult[];
  /** Runs with a setting switched (`03_deep_ls0_12ep`), in name order, each with the main run it varies. */
  ablations: Ablation[];
}

/** An ablation beside its main run. */
export interface Ablation {
  result: ExperimentResult;
  /** The main run's name, e.g. "03_deep". */
  main: string;
  /** The main run's result; undefined when the experiment has no main run yet. */
  mainResult?: ExperimentResult;
  /** What the name adds to the main run's, e.g. "ls0_12ep". */
  suffix: string;
}

/**
 * Splits `results` into main runs and ablations. `pending` (experiments without a result yet) counts as
 * main runs too, so that an ablation of an experiment whose main run is still to come is not taken for one.
 */
export function splitRuns(results: readonly ExperimentResult[], pending: readonly string[] = []): Runs {
  const names = [...results.map((r) => r.name), ...pending];
  const byName = new Map(results.map((r) => [r.name, r]));
  const runs: Runs = { mains: [], ablations: [] };
  for (const r of results) {
    const main = mainRunOf(r.name, names);
    if (main === undefined) runs.mains.push(r);
    else runs.ablations.push({ result: r, main, mainResult: byName.get(main), suffix: r.name.slice(main.length + 1) });
  }
  return runs;
}

/** The columns a run's row shares between the two tables, after its accuracy. */
const RUN_HEADERS = ["epochs", "wall time", "NLL", "ECE", "conf − acc", "report"];
const RUN_ALIGN: Table["align"] = ["left", "right", "right", "right", "right", "left"];

function runCells(r: ExperimentResult): TableCell[] {
  return [
    epochsCell(r),
    wallCell(r),
    r.calibration ? fmtNumber(r.calibration.nll) : "–",
    r.calibration ? pct(r.calibration.ece, 1) : "–",
    r.calibration?.bins ? fmtOverconfidence(overconfidence(r.calibration.bins)) : "–",
    { text: `${r.name}.md`, href: `${r.name}.md` },
  ];
}

/** Views each model was shown: every member of an ensemble is shown as many under one mode. */
function viewsPerModel(s: EnsembleScore): number {
  return s.memberViews ? Math.max(...Object.values(s.memberViews).map((v) => v.length)) : s.views.length;
}

/** The comparison table: one row per experiment (its main run), then each ensemble's rows. */
export function comparisonTable(runs: Runs, ensemble: Ensembles): Table {
  const headers = ["experiment", "study", "ours", "protocol", "data (fingerprint)", "backend", ...RUN_HEADERS];
  const align: Table["align"] = ["left", "right", "right", "left", "left", "left", ...RUN_ALIGN];
  const rows: TableCell[][] = runs.mains.map((r) => [
    r.title,
    r.studyAccuracy !== undefined ? pct(r.studyAccuracy) : "–",
    pct(r.testAccuracy),
    r.protocol ?? "–",
    dataCell(r.data.kind, r.data.fingerprint),
    r.backend ?? "–",
    ...runCells(r),
  ]);
  const protocol = labelProtocols(okEnsembles(ensemble));
  for (const o of ensembleList(ensemble)) {
    if (!o.ok) continue;
    const e = o.ensemble;
    const file = o.file ?? ENSEMBLE_FILE;
    for (const s of e.scores) {
      const views = viewsPerModel(s);
      rows.push([
        `${ensembleLabel(e, s.tta, protocol)} (${views} view${views === 1 ? "" : "s"} × ${e.members.length} model${
          e.members.length === 1 ? "" : "s"
        })`,
        "–",
        pct(s.accuracy),
        e.split.protocol,
        dataCell(e.data.kind, e.data.fingerprint),
        e.backend.split(" (")[0],
        "–",
        `eval ${fmtSeconds(e.seconds)}`,
        fmtNumber(s.nll),
        pct(s.ece, 1),
        fmtOverconfidence(s.overconfidence),
        { text: file, href: file },
      ]);
    }
  }
  return { headers, align, rows };
}

/**
 * The ablations' table: each ablation beside its main run's accuracy, with the difference where both were
 * tested on the same split (another split's accuracy does not subtract). No study column: an ablation
 * answers a question about the recipe, not how well the experiment does.
 */
export function ablationTable(runs: Runs): Table {
  return {
    headers: ["main run", "ablation", "main run's acc", "ablation's acc", "Δ", ...RUN_HEADERS],
    align: ["left", "left", "right", "right", "right", ...RUN_ALIGN],
    rows: runs.ablations.map(({ result: r, main, mainResult: m, suffix }) => [
      m ? { text: main, href: `${main}.md` } : main,
      suffix,
      m ? pct(m.testAccuracy) : "not run yet",
      pct(r.testAccuracy),
      m ? deltaCell(r, m) : "–",
      ...runCells(r),
    ]),
  };
}

/** Ablation − main run in points, or why they do not subtract. */
function deltaCell(r: ExperimentResult, m: ExperimentResult): string {
  const same = r.split.cacheKey && m.split.cacheKey
    ? r.split.cacheKey === m.split.cacheKey
    : r.data.fingerprint === m.data.fingerprint && r.protocol === m.protocol;
  if (!same) return "other test split";
  const d = 100 * (r.testAccuracy - m.testAccuracy);
  return `${d < 0 ? "−" : "+"}${Math.abs(d).toFixed(2)} pts`;
}

/**
 * Each result's title, with the ablation's suffix added where runs of one script share
 * it: the part of the file stem after the shortest stem among them
 * (`05_budget`, `05_budget_15min_ls0` → "… (15min_ls0)").
 *
 * @example
 * ```ts
 * distinctTitles([{ name: "05_budget", title: "E05" }, { name: "05_budget_ls0", title: "E05" }]);
 * // ["E05", "E05 (ls0)"]
 * ```
 */
export function distinctTitles(results: readonly Pick<ExperimentResult, "name" | "title">[]): string[] {
  return results.map((r) => {
    const same = results.filter((o) => o.title === r.title).map((o) => o.name);
    const base = same.reduce((a, b) => (b.length < a.length ? b : a));
    return r.name !== base && r.name.startsWith(`${base}_`) ? `${r.title} (${r.name.slice(base.length + 1)})` : r.title;
  });
}

/** Wall time; for a run resumed across sessions, its training time over all of them too. */
function wallCell(r: ExperimentResult): string {
  if (r.wallSeconds === undefined) return "–";
  const all = r.resumedTrainingSeconds;
  return all !== undefined
    ? `${fmtSeconds(r.wallSeconds)} (resumed; training ${fmtSeconds(all)} in all)`
    : fmtSeconds(r.wallSeconds);
}

/** A table as GitHub Markdown. */
export function tableMarkdown(t: Table): string {
  const cell = (c: TableCell) => (typeof c === "string" ? c : `[${c.text}](${c.href})`);
  return mdTable(t.headers, t.rows.map((r) => r.map(cell)), t.align);
}

/** One benchmark row: a backend's training and inference speed for one model. */
export interface BenchRow {
  model: string;
  label: string;
  batch: string;
  train: string;
  infer: string;
}

/** The benchmark's headline numbers. */
export interface BenchSummary {
  date?: string;
  rows: BenchRow[];
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const fin = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The speed rows of `bench.json`, read defensively: rows it does not
 * understand (profiles, soak and augmentation runs, rows of new kinds
 * without throughput) are passed over, never a crash.
 *
 * @throws TypeError when the file is not a benchmark at all (no `results` list).
 */
export function benchSummary(json: unknown): BenchSummary {
  if (!isObj(json) || !Array.isArray(json.results)) throw new TypeError("no `results` list: not a ferlab benchmark");
  const rows: BenchRow[] = [];
  for (const r of json.results) {
    // Profiles and soak runs carry their own tables (objects or lists there, `false` elsewhere).
    if (!isObj(r) || r.profile || r.soak) continue;
    const train = fin(r.trainImagesPerSec)
      ? r.trainImagesPerSec.toFixed(1)
      : r.canTrain === false
      ? "cannot train"
      : "";
    const infer = fin(r.inferImagesPerSec) ? r.inferImagesPerSec.toFixed(1) : "";
    if (!train && !infer) continue;
    const micro = fin(r.micro) && fin(r.batch) && r.micro !== r.batch ? ` (${r.batch / r.micro}×${r.micro})` : "";
    rows.push({
      model: String(r.model ?? "?"),
      label: String(r.label ?? r.backend ?? "?"),
      batch: fin(r.batch) ? `${r.batch}${micro}` : "–",
      train: train || "–",
      infer: infer || "–",
    });
  }
  return { date: typeof json.date === "string" ? json.date : undefined, rows };
}

/** The speed summary as a table. */
export function benchTable(b: BenchSummary): Table {
  return {
    headers: ["model", "backend", "batch", "train img/s", "infer img/s"],
    align: ["left", "left", "right", "right", "right"],
    rows: b.rows.map((r) => [r.model, r.label, r.batch, r.train, r.infer]),
  };
}

/** A score's views: the members' own where they differ, e.g. "crops (05_budget: identity, … / 06_crops: centre, …)". */
function viewsText(s: EnsembleScore): string {
  const mv = s.memberViews;
  const list = mv ? Object.entries(mv).map(([name, v]) => `${name}: ${v.join(", ")}`).join(" / ") : s.views.join(", ");
  return `${s.tta} (${list})`;
}

/** Which rows a protocol other than the study's tested on, in a sentence (the official protocol's falls back). */
function testPartNote(x: EnsembleResult): string {
  const u = x.split.testUsage;
  if (u === undefined) return "";
  if (u === "PublicTest") {
    return " The test images are PublicTest's: the official protocol tests on PrivateTest, and on PublicTest " +
      "when the data has no PrivateTest rows, as here.";
  }
  if (u === "PrivateTest") return " The test images are PrivateTest's, the official protocol's test.";
  return ` The test images are ${u} rows.`;
}

/**
 * Where an ensemble's rows come from, or why there are none, in a sentence;
 * `protocol` leads it with the group's protocol, for a page with several.
 */
export function ensembleNote(e: EnsembleOutcome, protocol = false): string {
  if (!e.ok) {
    const which = protocol && e.members ? ` of ${e.protocol ?? "study"} ${e.members.join(", ")}` : "";
    return `No ensemble row${which}: ${e.reason}.`;
  }
  const x = e.ensemble;
  const file = e.file ?? ENSEMBLE_FILE;
  const tta = x.scores.map(viewsText).join("; ");
  const head = protocol ? `${x.split.protocol[0].toUpperCase()}${x.split.protocol.slice(1)} ensemble` : "Ensemble";
  const crops = x.scores.some((s) => s.tta === "crops" && s.memberViews)
    ? " For a crop model `crops` is the literature's ten-crop (the four corners and the centre at its input " +
      "side, each also mirrored); for a 48-pixel model, ten shifted 48-pixel windows."
    : "";
  return `${head}: the saved models of ${x.members.join(", ")} (\`${x.modelDirs.join("`, `")}\`), their class ` +
    `probabilities averaged on the same ${fmtInt(x.split.test)} test images (split \`${x.split.cacheKey}\`, ` +
    `rebuilt from the data fingerprint and split settings), with and without test-time augmentation — views: ${tta}.` +
    `${crops}${testPartNote(x)} ` +
    `Computed on ${x.backend} in ${fmtSeconds(x.seconds)}; cached in \`${file}\` under key \`${x.key}\` ` +
    `until a model or the split changes.` +
    (x.members.length === 1 ? " With one saved model the ensemble is that model alone; TTA is what it adds." : "");
}

/** One note per ensemble outcome, each led by its protocol when the outcomes span several. */
export function ensembleNotes(e: Ensembles): string[] {
  const list = ensembleList(e);
  const protocols = new Set(list.map((o) => (o.ok ? o.ensemble.split.protocol : o.protocol ?? "study")));
  return list.map((o) => ensembleNote(o, protocols.size > 1));
}

/** What the ablations' section says above its table. */
export const ABLATIONS_NOTE = "Runs of an experiment with some settings switched from its defaults (the suffix " +
  "after the experiment's name says which), each beside its main run: Δ is the ablation's test accuracy minus the " +
  "main run's, where both were tested on the same split. They answer a question about the recipe, so they are " +
  "neither in the chart nor set beside the study's numbers.";

/** The comparison page (`README.md` of the results folder). */
export function comparisonMarkdown(input: ComparisonInput): string {
  const { results, problems, pending, ensemble, bench } = input;
  const runs = splitRuns(results, pending);
  const synthetic = results.some((r) => r.data.kind === "synthetic");
  const out = [
    "# ferlab: the comparison",
    "",
    "Every experiment's test accuracy beside the student study's number, rebuilt by `deno task report` from the " +
    "result files in this folder: one row per experiment, its main run (`NN_name.json`), then the ensembles; " +
    "the ablations (`NN_name_suffix.json`) follow in their own section. Interactive view: [index.html](index.html).",
    "",
  ];
  if (synthetic) {
    out.push(
      "> Some results below are on ferlab's **synthetic** faces (no FER2013 was found); they are not comparable " +
        "with the study's FER2013 numbers.",
      "",
    );
  }
  if (results.length === 0) {
    out.push("No experiment results yet: run `deno task main` (or one experiment, e.g. `deno task exp:01`).", "");
  } else {
    out.push(
      tableMarkdown(comparisonTable(runs, ensemble)),
      "",
      "NLL, ECE (15 bins) and mean confidence − accuracy (+ overconfident, − underconfident) are of the test " +
        "predictions, where the run recorded them. Epochs: run of planned.",
      "",
      ...ensembleNotes(ensemble).flatMap((n) => [n, ""]),
      ...(hasComparisonChart(runs, ensemble) ? ["![comparison](comparison.svg)", ""] : []),
    );
  }
  if (runs.ablations.length) out.push("## Ablations", "", ABLATIONS_NOTE, "", tableMarkdown(ablationTable(runs)), "");
  if (pending.length) {
    out.push(`Not run yet: ${pending.map((p) => `\`${p}\``).join(", ")} (no result file in this folder).`, "");
  }
  if (problems.length) out.push("Left out:", "", ...problems.map((p) => `- ${p}`), "");
  out.push("## Speed", "");
  if ("problem" in bench) {
    out.push(`No speed summary: ${bench.problem}.`, "");
  } else {
    out.push(
      `From [bench.md](bench.md)${bench.date ? ` (measured ${bench.date})` : ""}: training and inference ` +
        "throughput per backend, one optimizer step or forward pass on random 48×48 inputs.",
      "",
      tableMarkdown(benchTable(bench)),
      "",
    );
  }
  return out.join("\n");
}
