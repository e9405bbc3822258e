/**
 * Oracles decide which trial runs next: {@link randomSearch} draws every
 * trial independently; {@link hyperband} (Li et al. 2018, "Hyperband: A
 * Novel Bandit-Based Approach to Hyperparameter Optimization", JMLR 18)
 * runs brackets of successive halving, trying many configurations for few
 * epochs and promoting the best third (factor η) to η× more epochs.
 *
 * An oracle is a generator: it yields a {@link TrialRequest} and receives the
 * trial's score (larger is better; the search flips minimised objectives)
 * through `next(score)`. Given the same seed and the same scores it yields
 * the same trials, which is what lets an interrupted search replay its
 * finished trials from disk instead of running them again.
 *
 * @example
 * ```ts
 * hyperbandSchedule(81, 3)[0];
 * // { s: 4, rungs: [{ configs: 81, epochs: 1 }, { configs: 27, epochs: 3 }, { configs: 9, epochs: 9 },
 * //                 { configs: 3, epochs: 27 }, { configs: 1, epochs: 81 }] }
 * ```
 *
 * @module
 */
import { makeRng } from "../rng.ts";
import { sample, type SearchSpace, SearchSpaceError, type Values } from "./space.ts";

/** One trial to run: its hyper-parameters and its budget in epochs. */
export interface TrialRequest<V> {
  values: V;
  epochs: number;
  /** Hyperband bracket (its `s`) and rung (0 = first), when Hyperband asked. */
  bracket?: number;
  rung?: number;
}

/** A source of trials; see the module docs. */
export interface Oracle<V> {
  /** Name for reports, e.g. "Hyperband (R = 9, η = 3)". */
  readonly description: string;
  /** Trials and trial-epochs the oracle will ask for, for progress and ETA. */
  readonly planned: { trials: number; epochs: number };
  /** Trials, each answered with its score (larger is better). */
  plan(): Generator<TrialRequest<V>, void, number>;
}

/** Options of {@link randomSearch}. */
export interface RandomSearchOptions {
  /** Number of trials. */
  maxTrials: number;
  /** Epochs of every trial. */
  epochs: number;
  /** Seed of the sampler. */
  seed: number | string;
}

/** Independent random draws from the space (KerasTuner's `RandomSearch`). */
export function randomSearch<S extends SearchSpace>(space: S, opts: RandomSearchOptions): Oracle<Values<S>> {
  return {
    description: `random search (${opts.maxTrials} trials × ${opts.epochs} epochs)`,
    planned: { trials: opts.maxTrials, epochs: opts.maxTrials * opts.epochs },
    *plan() {
      const rng = makeRng(`random:${opts.seed}`);
      for (let i = 0; i < opts.maxTrials; i++) yield { values: sample(space, rng), epochs: opts.epochs };
    },
  };
}

/** One bracket of Hyperband: successive halving from `rungs[0]`. */
export interface Bracket {
  /** The bracket's index `s` (s_max down to 0). */
  s: number;
  /** Configurations and epochs of each rung. */
  rungs: { configs: number; epochs: number }[];
}

/**
 * Hyperband's brackets for maximum resource `R` (epochs) and factor `η`, as
 * in Algorithm 1 of Li et al.: s_max = ⌊log_η R⌋; bracket s starts
 * n = ⌈(s_max + 1)·η^s / (s + 1)⌉ configurations at r = R·η^−s epochs; rung i
 * runs ⌊n·η^−i⌋ of them for r·η^i epochs (rounded to whole epochs, at least 1).
 */
export function hyperbandSchedule(R: number, eta: number): Bracket[] {
  if (!(Number.isInteger(R) && R >= 1)) throw new SearchSpaceError(`Hyperband: max epochs must be ≥ 1, got ${R}`);
  if (!(Number.isInteger(eta) && eta >= 2)) throw new SearchSpaceError(`Hyperband: factor must be ≥ 2, got ${eta}`);
  let sMax = 0;
  while (eta ** (sMax + 1) <= R) sMax++;
  const brackets: Bracket[] = [];
  for (let s = sMax; s >= 0; s--) {
    const n = Math.ceil(((sMax + 1) * eta ** s) / (s + 1));
    const r = R * eta ** -s;
    const rungs = [];
    for (let i = 0; i <= s; i++) {
      rungs.push({ configs: Math.floor(n * eta ** -i), epochs: Math.max(1, Math.round(r * eta ** i)) });
    }
    brackets.push({ s, rungs });
  }
  return brackets;
}

/** Options of {@link hyperband}. */
export interface HyperbandOptions {
  /** Most epochs any trial gets (R). */
  maxEpochs: number;
  /** Reduction factor η (default 3). */
  factor?: number;
  /** How many times to run all brackets (default 1). */
  iterations?: number;
  /** Seed of the sampler. */
  seed: number | string;
}

/**
 * Hyperband: every bracket of {@link hyperbandSchedule} in turn; within a
 * bracket, each rung trains its configurations from scratch for the rung's
 * epochs and the best ⌊n_i/η⌋ move up.
 */
export function hyperband<S extends SearchSpace>(space: S, opts: HyperbandOptions): Oracle<Values<S>> {
  const eta = opts.factor ?? 3;
  const schedule = hyperbandSchedule(opts.maxEpochs, eta);
  return {
    description: `Hyperband (R = ${opts.maxEpochs} epochs, η = ${eta}, ${opts.iterations ?? 1} iteration(s))`,
    planned: {
      trials: (opts.iterations ?? 1) * schedule.reduce((a, b) => a + b.rungs.reduce((x, r) => x + r.configs, 0), 0),
      epochs: (opts.iterations ?? 1) *
        schedule.reduce((a, b) => a + b.rungs.reduce((x, r) => x + r.configs * r.epochs, 0), 0),
    },
    *plan() {
      const rng = makeRng(`hyperband:${opts.seed}`);
      for (let it = 0; it < (opts.iterations ?? 1); it++) {
        for (const bracket of schedule) {
          let configs = Array.from({ length: bracket.rungs[0].configs }, () => sample(space, rng));
          for (const [rung, { epochs }] of bracket.rungs.entries()) {
            const scored: { values: Values<S>; score: number }[] = [];
            for (const values of configs) {
              const score: number = yield { values, epochs, bracket: bracket.s, rung };
              scored.push({ values, score: Number.isNaN(score) ? -Infinity : score });
            }
            const next = bracket.rungs[rung + 1];
            if (!next) break;
            // A stable sort keeps the draw order among ties, so a replay promotes the same configurations.
            configs = scored.map((x, i) => ({ ...x, i })).sort((a, b) => b.score - a.score || a.i - b.i)
              .slice(0, next.configs).map((x) => x.values);
          }
        }
      }
    },
  };
}
