/**
 * Runs a hyper-parameter search: asks an {@link Oracle} for trials, runs
 * each with the caller's `runTrial`, scores it on the objective (the best
 * epoch's value, as KerasTuner does), and writes every finished trial to
 * `<dir>/trial_NNN.json` at once. A search started again with the same
 * space, oracle and seed replays the trials found on disk instead of running
 * them, so an interrupted search resumes where it stopped.
 *
 * @example
 * ```ts
 * const result = await search({
 *   oracle: hyperband(space, { maxEpochs: 9, seed: 42 }),
 *   objective: { name: "valAcc", direction: "max" },
 *   dir: "reports/tuner/02_tuned",
 *   runTrial: async (values, { epochs }) => (await trainSomething(values, epochs)).history,
 * });
 * console.log(result.best.values, result.best.score);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import { formatEta } from "../train/progress.ts";
import { UserError } from "../errors.ts";
import type { Oracle } from "./oracles.ts";

/** A search whose saved trials do not belong to this search. */
export class SearchError extends UserError {}

/** What the search optimises: a per-epoch metric and whether smaller or larger is better. */
export interface Objective {
  /** Key of the per-epoch logs, e.g. "valAcc". */
  name: string;
  direction: "min" | "max";
}

/** One finished trial, as stored on disk. */
export interface TrialRecord<V> {
  /** 0-based trial number. */
  number: number;
  values: V;
  /** Epochs the oracle allowed. */
  epochs: number;
  bracket?: number;
  rung?: number;
  /** Best value of the objective over the trial's epochs. */
  score: number;
  /** Epoch (1-based) of that best value. */
  bestEpoch: number;
  /** Per-epoch logs (fewer than `epochs` when early stopping ended the trial). */
  history: TrialLog[];
  /** Wall seconds the trial took when it ran. */
  seconds: number;
  finishedAt: string;
}

/** What the caller's trial function is told besides the values. */
export interface TrialContext {
  number: number;
  epochs: number;
}

/** Options of {@link search}. */
export interface SearchOptions<V> {
  oracle: Oracle<V>;
  objective: Objective;
  /** Stop after this many trials (default: when the oracle is done). */
  maxTrials?: number;
  /** Folder of the trial files. */
  dir: string;
  /** Trains one configuration; returns its per-epoch logs (which must hold the objective). */
  runTrial: (values: V, ctx: TrialContext) => Promise<TrialLog[]>;
  /**
   * Asked before each new trial after the first one this call runs; true stops the search (e.g. a time
   * budget). Every call runs at least one new trial, so a resumed search always makes progress.
   */
  shouldStop?: () => boolean;
  /** Progress lines (default stderr). */
  log?: (line: string) => void;
}

/** What {@link search} returns. */
export interface SearchResult<V> {
  /** Every trial in order, replayed ones included. */
  trials: TrialRecord<V>[];
  /** The best trial (ties go to the earlier one). */
  best: TrialRecord<V>;
  /** False when `shouldStop` ended the search early. */
  complete: boolean;
  /** Trials read back from disk rather than run. */
  replayed: number;
  /** How the oracle describes itself. */
  oracle: string;
  objective: Objective;
}

/** One epoch of a trial: its metrics by name (and notes such as the kernels that computed it). */
export type TrialLog = Record<string, number | string | undefined>;

/** Best value of `objective` in `history` and its 1-based epoch; NaN values never win. */
export function bestOf(history: TrialLog[], objective: Objective): { score: number; epoch: number } {
  let score = NaN;
  let epoch = 0;
  history.forEach((h, i) => {
    const v = h[objective.name];
    if (typeof v !== "number") throw new SearchError(`trial logs have no "${objective.name}" (the objective)`);
    if (Number.isNaN(v)) return;
    if (Number.isNaN(score) || (objective.direction === "max" ? v > score : v < score)) {
      score = v;
      epoch = i + 1;
    }
  });
  return { score, epoch };
}

/** Trials sorted best first (NaN scores last; ties keep trial order). */
export function ranked<V>(trials: readonly TrialRecord<V>[], objective: Objective): TrialRecord<V>[] {
  const key = (t: TrialRecord<V>) =>
    Number.isNaN(t.score) ? -Infinity : objective.direction === "max" ? t.score : -t.score;
  return [...trials].sort((a, b) => key(b) - key(a) || a.number - b.number);
}

const trialFile = (dir: string, n: number) => join(dir, `trial_${String(n).padStart(3, "0")}.json`);

/** JSON has no NaN or ±Infinity; store them as strings and read them back. */
const encode = (_k: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);
const decode = (
  _k: string,
  v: unknown,
) => (v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v);

async function readTrial<V>(path: string): Promise<TrialRecord<V> | null> {
  if (!await exists(path)) return null;
  try {
    return JSON.parse(await Deno.readTextFile(path), decode);
  } catch (e) {
    throw new SearchError(`${path}: corrupt trial file (${(e as Error).message}); delete it to run that trial again`);
  }
}

/** Runs the search described by `opts`; see the module docs. */
export async function search<V>(opts: SearchOptions<V>): Promise<SearchResult<V>> {
  const log = opts.log ?? ((line: string) => console.error(line));
  await Deno.mkdir(opts.dir, { recursive: true });
  const trials: TrialRecord<V>[] = [];
  const plan = opts.oracle.plan();
  let replayed = 0;
  let ran = 0;
  let complete = true;
  // For the ETA: seconds per epoch of the trials run in this call, and the oracle's epochs still to come.
  let ranSeconds = 0;
  let ranEpochs = 0;
  let epochsLeft = opts.oracle.planned.epochs;
  const total = Math.min(opts.oracle.planned.trials, opts.maxTrials ?? Infinity);
  let step = plan.next();
  while (!step.done) {
    const number = trials.length;
    if (opts.maxTrials !== undefined && number >= opts.maxTrials) break;
    const request = step.value;
    const path = trialFile(opts.dir, number);
    let record = await readTrial<V>(path);
    if (record) {
      if (JSON.stringify(record.values) !== JSON.stringify(request.values) || record.epochs !== request.epochs) {
        throw new SearchError(
          `${path}: this trial was run with other hyper-parameters or epochs than this search asks for ` +
            `(the space, oracle or seed changed); use another --out folder or delete ${opts.dir}`,
        );
      }
      replayed++;
      log(`trial ${number}: replayed from ${path} (score ${record.score.toFixed(4)})`);
    } else {
      if (ran > 0 && opts.shouldStop?.()) {
        complete = false;
        log(`search stopped before trial ${number} (time budget); run again with --resume to continue`);
        break;
      }
      const eta = ranEpochs > 0 ? ` (search ETA ≤ ${formatEta((ranSeconds / ranEpochs) * epochsLeft)})` : "";
      log(
        `trial ${number} (${number + 1} of ${total}): ${request.epochs} epoch(s)${eta}, ${
          JSON.stringify(request.values)
        }`,
      );
      const t0 = performance.now();
      const history = await opts.runTrial(request.values, { number, epochs: request.epochs });
      const best = bestOf(history, opts.objective);
      record = {
        number,
        values: request.values,
        epochs: request.epochs,
        ...(request.bracket !== undefined ? { bracket: request.bracket, rung: request.rung } : {}),
        score: best.score,
        bestEpoch: best.epoch,
        history,
        seconds: (performance.now() - t0) / 1000,
        finishedAt: new Date().toISOString(),
      };
      await writeFileAtomic(path, JSON.stringify(record, encode, 1));
      ran++;
      ranSeconds += record.seconds;
      ranEpochs += Math.max(1, history.length);
      log(`trial ${number}: ${opts.objective.name} ${best.score.toFixed(4)} at epoch ${best.epoch}`);
    }
    trials.push(record);
    epochsLeft -= request.epochs;
    const goodness = opts.objective.direction === "max" ? record.score : -record.score;
    step = plan.next(goodness);
  }
  if (trials.length === 0) throw new SearchError("the search ran no trials (time budget too small?)");
  return {
    trials,
    best: ranked(trials, opts.objective)[0],
    complete,
    replayed,
    oracle: opts.oracle.description,
    objective: opts.objective,
  };
}
