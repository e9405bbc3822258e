/**
 * Search spaces, as KerasTuner users know them: `int`, `float` (linear or
 * log sampling, optional step), `choice`, `boolean` and `fixed`
 * hyper-parameters, declared once as a record so the values a trial gets are
 * typed.
 *
 * @example
 * ```ts
 * const space = {
 *   filters: hp.int(16, 64, { step: 16 }),          // 16, 32, 48 or 64
 *   lr: hp.float(1e-4, 1e-2, { sampling: "log" }),   // log-uniform
 *   dense: hp.choice([64, 128, 256]),
 *   batchNorm: hp.boolean(),
 *   pool: hp.fixed("max"),
 * };
 * const values = sample(space, makeRng(42)); // { filters: 32, lr: 0.0013, dense: 128, batchNorm: true, pool: "max" }
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Rng } from "../rng.ts";

/** A search space that cannot be sampled (empty range, bad step, …). */
export class SearchSpaceError extends UserError {}

/** An integer in [min, max], on a grid of `step` from `min`. */
export interface IntParam {
  kind: "int";
  min: number;
  max: number;
  step: number;
  sampling: "linear" | "log";
}
/** A float in [min, max]; with `step`, on a grid from `min`. */
export interface FloatParam {
  kind: "float";
  min: number;
  max: number;
  step?: number;
  sampling: "linear" | "log";
}
/** One of a list of values. */
export interface ChoiceParam<T> {
  kind: "choice";
  values: readonly T[];
}
/** True or false. */
export interface BooleanParam {
  kind: "boolean";
}
/** A constant, recorded with the trial like the others. */
export interface FixedParam<T> {
  kind: "fixed";
  value: T;
}
/** Any hyper-parameter. */
export type Param =
  | IntParam
  | FloatParam
  | ChoiceParam<string | number | boolean>
  | BooleanParam
  | FixedParam<string | number | boolean>;

/** A search space: hyper-parameters by name. */
export type SearchSpace = Record<string, Param>;

/** The value type of one hyper-parameter. */
export type ValueOf<P> = P extends IntParam | FloatParam ? number
  : P extends ChoiceParam<infer T> ? T
  : P extends BooleanParam ? boolean
  : P extends FixedParam<infer T> ? T
  : never;

/** The values one trial gets: a typed record with one entry per hyper-parameter. */
export type Values<S extends SearchSpace> = { [K in keyof S]: ValueOf<S[K]> };

/** Constructors of hyper-parameters (KerasTuner's `hp.Int`, `hp.Float`, `hp.Choice`, `hp.Boolean`, `hp.Fixed`). */
export const hp = {
  /** An integer in [min, max] (step 1 unless given; log sampling draws log-uniformly). */
  int(min: number, max: number, opts: { step?: number; sampling?: "linear" | "log" } = {}): IntParam {
    const p: IntParam = { kind: "int", min, max, step: opts.step ?? 1, sampling: opts.sampling ?? "linear" };
    if (!(Number.isInteger(min) && Number.isInteger(max) && min <= max)) {
      throw new SearchSpaceError(`hp.int: need integers min ≤ max, got ${min}, ${max}`);
    }
    if (!(Number.isInteger(p.step) && p.step >= 1)) throw new SearchSpaceError(`hp.int: step must be ≥ 1`);
    if (p.sampling === "log" && min <= 0) throw new SearchSpaceError(`hp.int: log sampling needs min > 0`);
    return p;
  },
  /** A float in [min, max]: uniform, or log-uniform with `sampling: "log"`; with `step`, on a grid. */
  float(min: number, max: number, opts: { step?: number; sampling?: "linear" | "log" } = {}): FloatParam {
    if (!(Number.isFinite(min) && Number.isFinite(max) && min <= max)) {
      throw new SearchSpaceError(`hp.float: need min ≤ max, got ${min}, ${max}`);
    }
    const sampling = opts.sampling ?? "linear";
    if (sampling === "log" && min <= 0) throw new SearchSpaceError(`hp.float: log sampling needs min > 0`);
    if (opts.step !== undefined && !(opts.step > 0)) throw new SearchSpaceError(`hp.float: step must be > 0`);
    return { kind: "float", min, max, sampling, ...(opts.step !== undefined ? { step: opts.step } : {}) };
  },
  /** One of `values`, each equally likely. */
  choice<T extends string | number | boolean>(values: readonly T[]): ChoiceParam<T> {
    if (values.length === 0) throw new SearchSpaceError("hp.choice: no values");
    return { kind: "choice", values };
  },
  /** True or false, equally likely. */
  boolean(): BooleanParam {
    return { kind: "boolean" };
  },
  /** Always `value`. */
  fixed<T extends string | number | boolean>(value: T): FixedParam<T> {
    return { kind: "fixed", value };
  },
};

/** Rounds `x` to the grid `min + k·step` inside [min, max]. */
function onGrid(x: number, min: number, max: number, step: number): number {
  const k = Math.round((x - min) / step);
  const kMax = Math.floor((max - min) / step + 1e-9);
  // Rounding the float keeps 0.1 + 2·0.1 from printing as 0.30000000000000004.
  return Number((min + Math.min(Math.max(k, 0), kMax) * step).toPrecision(12));
}

/** Draws one value of `p`. */
export function sampleParam(p: Param, rng: Rng): string | number | boolean {
  switch (p.kind) {
    case "int": {
      if (p.sampling === "log") {
        const x = Math.exp(rng.uniform(Math.log(p.min), Math.log(p.max + 1)));
        return onGrid(Math.min(Math.floor(x), p.max), p.min, p.max, p.step);
      }
      const slots = Math.floor((p.max - p.min) / p.step) + 1;
      return p.min + rng.int(slots) * p.step;
    }
    case "float": {
      const x = p.sampling === "log"
        ? Math.exp(rng.uniform(Math.log(p.min), Math.log(p.max)))
        : rng.uniform(p.min, p.max);
      return p.step === undefined ? x : onGrid(x, p.min, p.max, p.step);
    }
    case "choice":
      return p.values[rng.int(p.values.length)];
    case "boolean":
      return rng.next() < 0.5;
    case "fixed":
      return p.value;
  }
}

/** Draws one value of every hyper-parameter, in declaration order. */
export function sample<S extends SearchSpace>(space: S, rng: Rng): Values<S> {
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(space)) out[name] = sampleParam(p, rng);
  return out as Values<S>;
}

/** A short description of a hyper-parameter for reports, e.g. "float 1e-4…1e-2 (log)". */
export function describeParam(p: Param): string {
  switch (p.kind) {
    case "int":
      return `int ${p.min}…${p.max}${p.step > 1 ? ` step ${p.step}` : ""}${p.sampling === "log" ? " (log)" : ""}`;
    case "float":
      return `float ${p.min}…${p.max}${p.step !== undefined ? ` step ${p.step}` : ""}${
        p.sampling === "log" ? " (log)" : ""
      }`;
    case "choice":
      return `choice ${p.values.join(" | ")}`;
    case "boolean":
      return "boolean";
    case "fixed":
      return `fixed ${p.value}`;
  }
}
