/**
 * Reading the experiments' result files (`reports/NN_name.json`, as
 * `lib/harness/report.ts` writes them), defensively: any subset of
 * experiments may have run, later experiments may add fields, older ones may
 * lack some, and a broken file becomes a message naming it instead of a
 * crash. This is the one reader: the comparison interprets whole results
 * ({@link readResults}); a report section that sets its run beside its
 * neighbours reads their raw JSON ({@link readResultJsons}).
 *
 * @example
 * ```ts
 * const { results, problems } = await readResults("reports");
 * for (const r of results) console.log(r.name, r.testAccuracy);
 * for (const p of problems) console.error(p);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../errors.ts";
import type { EpochRecord } from "../report/charts.ts";

/** File names of experiment results and scripts: two digits, underscore, a name. */
export const RESULT_RE = /^(\d\d)_([A-Za-z0-9_-]+)\.json$/;
/** Experiment scripts, as `deno task main` discovers them. */
export const SCRIPT_RE = /^(\d\d)_([A-Za-z0-9_-]+)\.ts$/;

/** Calibration numbers of an evaluation, when the run recorded them. */
export interface CalibrationSummary {
  nll: number;
  ece: number;
  bins?: { lo: number; hi: number; count: number; confidence: number; accuracy: number }[];
}

/** The parts of one experiment's result the comparison uses. */
export interface ExperimentResult {
  /** The file read. */
  file: string;
  /** File stem, e.g. "01_baseline". */
  name: string;
  /** Two-digit number, e.g. "01". */
  number: string;
  title: string;
  studyAccuracy?: number;
  testAccuracy: number;
  protocol?: string;
  data: { kind?: string; source?: string; path?: string; fingerprint?: string; rows?: number };
  /** Split cache key (data fingerprint + split settings) and test rows. */
  split: { cacheKey?: string; test?: number };
  epochs: { ran: number; planned?: number; cutShort: boolean; stoppedEarly: boolean; reason?: string };
  wallSeconds?: number;
  /** For a run resumed across sessions: its epochs' own times summed (its wall time is the last session's). */
  resumedTrainingSeconds?: number;
  backend?: string;
  calibration?: CalibrationSummary;
  /** Model folder relative to the results folder, when the run saved one. */
  modelDir?: string;
  config: Record<string, unknown>;
  history: EpochRecord[];
  confusion?: number[][];
  /** Per-class rows of the test evaluation, as written. */
  perClass?: { name: string; precision: number; recall: number; f1: number; support: number }[];
  date?: string;
  /** For a distilled student: the runs whose predictions it was trained on (07's `distil.teachers`). */
  teachers?: string[];
}

/** What {@link readResults} found. */
export interface ResultSet {
  /** Readable results, by file name. */
  results: ExperimentResult[];
  /** One message per file that could not be used, naming it. */
  problems: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** A result file that cannot be used; the message names the file and the problem. */
export class ResultFileError extends UserError {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
  }
}

function backendOf(b: unknown): string | undefined {
  if (!isObj(b)) return str(b);
  const name = str(b.name);
  if (!name) return undefined;
  const threads = num(b.threads);
  return threads ? `${name} (${threads} thread${threads === 1 ? "" : "s"})` : name;
}

function calibrationOf(test: Record<string, unknown>): CalibrationSummary | undefined {
  const c = test.calibration;
  if (!isObj(c)) return undefined;
  const nll = num(c.nll);
  const ece = num(c.ece);
  if (nll === undefined || ece === undefined) return undefined;
  return { nll, ece, ...(Array.isArray(c.bins) ? { bins: c.bins as CalibrationSummary["bins"] } : {}) };
}

function historyOf(training: Record<string, unknown>): EpochRecord[] {
  if (!Array.isArray(training.history)) return [];
  return training.history.filter(isObj).filter((h) => num(h.epoch) !== undefined).map((h) => ({
    epoch: h.epoch as number,
    loss: typeof h.loss === "number" ? h.loss : NaN,
    acc: typeof h.acc === "number" ? h.acc : NaN,
    ...(typeof h.valLoss === "number" ? { valLoss: h.valLoss } : {}),
    ...(typeof h.valAcc === "number" ? { valAcc: h.valAcc } : {}),
    ...(typeof h.lr === "number" ? { lr: h.lr } : {}),
  }));
}

/** Training time of a run over all its sessions: the epochs' own times, summed (a resumed run's wall time is only its last session's). */
export function epochSeconds(history: readonly { seconds: number }[]): number {
  return history.reduce((a, h) => a + h.seconds, 0);
}

/** One epoch of a result's training history that has a validation accuracy. */
export interface ValidationPoint {
  epoch: number;
  /** Training seconds summed up to this epoch, over every session of a resumed run. */
  seconds: number;
  valAcc: number;
}

/**
 * The validation accuracy after each epoch of a parsed result, against the
 * training time summed so far, or why it has none. Results come from other
 * versions of the code, so the walk is defensive: an epoch without a time
 * spoils the sums and is refused; one without a validation accuracy is passed over.
 */
export function validationHistory(json: unknown): ValidationPoint[] | string {
  const history = isObj(json) && isObj(json.training) ? json.training.history : undefined;
  if (!Array.isArray(history)) return "no training history";
  const points: ValidationPoint[] = [];
  let seconds = 0;
  for (const [i, e] of history.entries()) {
    const h = isObj(e) ? e : undefined;
    const s = num(h?.seconds);
    if (s === undefined) return `history[${i}] has no seconds`;
    seconds += s;
    const valAcc = num(h?.valAcc);
    if (valAcc !== undefined) points.push({ epoch: num(h?.epoch) ?? i + 1, seconds, valAcc });
  }
  return points.length === 0 ? "no epoch with a validation accuracy" : points;
}

/** The epochs' recorded times, summed; undefined when an epoch lacks one. */
function summedEpochSeconds(training: Record<string, unknown>): number | undefined {
  if (!Array.isArray(training.history)) return undefined;
  const timed = training.history.every((h) => isObj(h) && num(h.seconds) !== undefined);
  return timed ? epochSeconds(training.history as { seconds: number }[]) : undefined;
}

/**
 * Interprets the parsed JSON of `file`.
 *
 * @throws ResultFileError when the file is not an experiment result (no name
 *   or no finite `testAccuracy`).
 */
export function parseResult(file: string, json: unknown): ExperimentResult {
  const stem = file.split("/").pop()!.replace(/\.json$/, "");
  const m = RESULT_RE.exec(`${stem}.json`);
  if (!isObj(json)) throw new ResultFileError(file, "not a JSON object");
  if (typeof json.unfinished === "string") throw new ResultFileError(file, `unfinished run: ${json.unfinished}`);
  const testAccuracy = num(json.testAccuracy) ?? (isObj(json.test) ? num(json.test.accuracy) : undefined);
  if (testAccuracy === undefined) {
    throw new ResultFileError(file, "no finite testAccuracy (nor test.accuracy): not an experiment result");
  }
  const config = isObj(json.config) ? json.config : {};
  const data = isObj(json.data) ? json.data : {};
  const split = isObj(json.split) ? json.split : {};
  const training = isObj(json.training) ? json.training : {};
  const test = isObj(json.test) ? json.test : {};
  const model = isObj(json.model) ? json.model : {};
  const history = historyOf(training);
  return {
    file,
    name: str(json.name) ?? stem,
    number: m?.[1] ?? "??",
    title: str(json.title) ?? stem,
    studyAccuracy: num(json.studyAccuracy),
    testAccuracy,
    protocol: str(split.protocol) ?? str(config.protocol),
    data: {
      kind: str(data.kind),
      source: str(data.source),
      path: str(data.path),
      fingerprint: str(data.fingerprint),
      rows: num(data.rows),
    },
    split: { cacheKey: str(split.cacheKey), test: num(split.test) },
    epochs: {
      ran: history.length,
      planned: num(training.plannedEpochs) ?? num(config.epochs),
      cutShort: training.cutShort === true,
      stoppedEarly: training.stoppedEarly === true,
      reason: str(training.reason),
    },
    wallSeconds: num(json.wallSeconds),
    resumedTrainingSeconds: num(training.resumedFrom) ? summedEpochSeconds(training) : undefined,
    backend: backendOf(json.backend),
    calibration: calibrationOf(test),
    modelDir: str(model.dir),
    config,
    history,
    confusion: Array.isArray(test.confusion) ? test.confusion as number[][] : undefined,
    perClass: Array.isArray(test.perClass) ? test.perClass as ExperimentResult["perClass"] : undefined,
    date: str(json.date),
    teachers: teachersOf(json.distil),
  };
}

/**
 * The main run that the run `name` is an ablation of: the shortest of `names` that `name` extends by
 * `_<suffix>`, or undefined when `name` is a main run. An ablation's file stem is its experiment's plus the
 * suffixes of the settings it switched (`lib/harness/experiment.ts`), so the prefix is all that ties the two;
 * the shortest one wins so that `05_budget_15min_ls0` belongs to `05_budget`, not to the ablation `05_budget_15min`.
 *
 * @example
 * ```ts
 * mainRunOf("05_budget_15min_ls0", ["05_budget", "05_budget_15min"]); // "05_budget"
 * mainRunOf("03_deepish", ["03_deep"]); // undefined
 * ```
 */
export function mainRunOf(name: string, names: Iterable<string>): string | undefined {
  let main: string | undefined;
  for (const n of names) {
    if (name.startsWith(`${n}_`) && (main === undefined || n.length < main.length)) main = n;
  }
  return main;
}

/**
 * Whether the run `name` is a replica of its main run `main`: the same recipe with another seed alone
 * (`06_crops_seed43` of `06_crops`, see `runName` in `lib/harness/experiment.ts`), an ensemble member where an
 * ablation is not.
 *
 * @example
 * ```ts
 * isReplica("06_crops_seed43", "06_crops"); // true
 * isReplica("06_crops_wide_seed43", "06_crops"); // false: an ablation (of another seed)
 * ```
 */
export function isReplica(name: string, main: string): boolean {
  return name.startsWith(`${main}_`) && REPLICA_SUFFIX.exec(name)?.index === main.length;
}

/** The suffix `runName` gives a run with another seed, as the last part of its name. */
export const REPLICA_SUFFIX = /_seed(-?\d+)$/;

/** The teachers a student learned from (names), when its targets gave them a weight. */
function teachersOf(distil: unknown): string[] | undefined {
  if (!isObj(distil) || !Array.isArray(distil.teachers)) return undefined;
  if (isObj(distil.targets) && distil.targets.weight === 0) return undefined;
  const names = distil.teachers.map((t) => (isObj(t) ? str(t.name) : undefined)).filter((n) => n !== undefined);
  return names.length ? names : undefined;
}

/** Reads and interprets one result file; every failure is a {@link ResultFileError}. */
export async function readResult(file: string): Promise<ExperimentResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ResultFileError(file, `cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ResultFileError(file, `not valid JSON (${(e as Error).message})`);
  }
  return parseResult(file, json);
}

/** File names in `dir` matching `re`, sorted; none when the folder is missing. */
export async function listMatching(dir: string, re: RegExp): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && re.test(e.name)) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  // Plain code-unit order, never locale order: the report must not depend on the machine.
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** One result file as parsed JSON, not yet interpreted, or the error that kept it from parsing. */
export interface ResultJson {
  /** The file name in its folder, e.g. "03_deep_ls0.json". */
  file: string;
  /** Its stem, e.g. "03_deep_ls0". */
  name: string;
  json?: unknown;
  error?: Error;
}

/**
 * The JSON of one result file, or undefined when there is none.
 *
 * @throws ResultFileError when it cannot be read or is not valid JSON.
 */
export async function readResultJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ResultFileError(path, `cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ResultFileError(path, `not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Every `NN_name.json` in `dir` (none when the folder is missing), in name order, as parsed JSON; a file that
 * does not parse carries its error instead, for the caller to name: a half-written neighbour must not sink a run.
 */
export async function readResultJsons(dir: string): Promise<ResultJson[]> {
  const out: ResultJson[] = [];
  for (const file of await listMatching(dir, RESULT_RE)) {
    const name = file.replace(/\.json$/, "");
    try {
      out.push({ file, name, json: JSON.parse(await Deno.readTextFile(join(dir, file))) });
    } catch (e) {
      if (!(e instanceof SyntaxError || e instanceof Deno.errors.NotFound)) throw e;
      out.push({ file, name, error: e });
    }
  }
  return out;
}

/**
 * The names of the ablations of experiment `name` in `dir` (e.g. "03_deep_ls0_10ep" for "03_deep"), sorted; an
 * ablation is a result file `<name>_<suffix>.json` whose own `name` field says so.
 *
 * @example
 * ```ts
 * const ablations = await ablationResults("reports", "03_deep"); // ["03_deep_10ep", "03_deep_ls0_10ep"]
 * ```
 */
export async function ablationResults(dir: string, name: string): Promise<string[]> {
  const found = await readResultJsons(dir);
  return found.filter((r) => r.name.startsWith(`${name}_`) && (r.json as { name?: unknown })?.name === r.name)
    .map((r) => r.name);
}

/** Every `NN_name.json` in `dir`, in name order, with a message per unusable file. */
export async function readResults(dir: string): Promise<ResultSet> {
  const results: ExperimentResult[] = [];
  const problems: string[] = [];
  for (const name of await listMatching(dir, RESULT_RE)) {
    try {
      results.push(await readResult(join(dir, name)));
    } catch (e) {
      if (!(e instanceof ResultFileError)) throw e;
      problems.push(`${e.message} — left out of the comparison`);
    }
  }
  return { results, problems };
}

/** Whether `dir/model.json` exists. */
export async function hasModel(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(dir, "model.json"))).isFile;
  } catch {
    return false;
  }
}

/**
 * The folder of the best saved model among `results` (read from
 * `resultsDir`): FER2013 results before synthetic ones, then the highest test
 * accuracy. Undefined when no result has a saved model.
 */
export async function bestModelDir(resultsDir: string, results: readonly ExperimentResult[]): Promise<
  { dir: string; result: ExperimentResult } | undefined
> {
  const ranked = [...results].sort((a, b) =>
    Number(a.data.kind === "synthetic") - Number(b.data.kind === "synthetic") || b.testAccuracy - a.testAccuracy
  );
  for (const r of ranked) {
    if (r.modelDir === undefined) continue;
    const dir = join(resultsDir, r.modelDir);
    if (await hasModel(dir)) return { dir, result: r };
  }
  return undefined;
}
