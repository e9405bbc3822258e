/**
 * Train / validation / test splits of a FER2013 data set.
 *
 * Two protocols:
 * - `"study"`: the original study pooled every row (whatever its Usage) and
 *   drew a seeded split stratified by emotion, 80/10/10 by default.
 * - `"official"`: the Kaggle partition, Training → train, PublicTest → val,
 *   PrivateTest → test, with a documented fallback when a test part is missing
 *   (the public dev CSV has no PrivateTest rows).
 *
 * A split is only row indices into the data set, so it is cheap to cache and
 * every experiment can share the very same one.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { EMOTIONS, type Fer2013, NUM_CLASSES, type Usage, USAGES } from "./fer2013.ts";
import { makeRng, type Rng, shuffleInPlace } from "../rng.ts";

/** How rows are assigned to train / val / test. */
export type Protocol = "study" | "official";

/** The protocols, for CLI validation and help text. */
export const PROTOCOLS: readonly Protocol[] = ["study", "official"];

/** Shares of the rows per part; they must add up to 1. */
export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

/** Everything that determines a split (together with the data itself). */
export interface SplitSettings {
  protocol: Protocol;
  /** Used whole by `"study"`; `"official"` uses only `val` (and `test` when both test parts are absent). */
  fractions: SplitFractions;
  seed: number;
}

/** Row indices into the data set per part, plus facts the user should read. */
export interface Split {
  train: Int32Array;
  val: Int32Array;
  test: Int32Array;
  /** Human-readable notes, e.g. which fallback the official protocol took. */
  notes: string[];
}

/** The study's 80/10/10. */
export const DEFAULT_FRACTIONS: Readonly<SplitFractions> = Object.freeze({
  train: 0.8,
  val: 0.1,
  test: 0.1,
});

/** A bad split request (settings the user can fix, or data the protocol cannot split). */
export class SplitError extends UserError {}

/**
 * The seed a run splits its data with: its `splitSeed` when one is set (≥ 0),
 * else its run seed. Members of an ensemble trained with different seeds share
 * one validation split this way, so no member validates on another's training
 * rows.
 */
export function splitSeedOf(config: { seed?: unknown; splitSeed?: unknown }): number {
  if (typeof config.splitSeed === "number" && config.splitSeed >= 0) return config.splitSeed;
  return typeof config.seed === "number" ? config.seed : 0;
}

/** Fills in defaults (study protocol, 80/10/10, seed 0) and validates the result. */
export function splitSettings(
  partial: Partial<SplitSettings> = {},
): SplitSettings {
  const settings: SplitSettings = {
    protocol: partial.protocol ?? "study",
    fractions: { ...DEFAULT_FRACTIONS, ...partial.fractions },
    seed: partial.seed ?? 0,
  };
  validateSplitSettings(settings);
  return settings;
}

/** Throws a {@link SplitError} naming the problem if `settings` cannot be used. */
export function validateSplitSettings(settings: SplitSettings): void {
  if (!PROTOCOLS.includes(settings.protocol)) {
    throw new SplitError(
      `unknown split protocol "${settings.protocol}" (expected ${PROTOCOLS.join(" or ")})`,
    );
  }
  if (!Number.isFinite(settings.seed)) {
    throw new SplitError(
      `split seed must be a finite number, got ${settings.seed}`,
    );
  }
  const f = settings.fractions;
  for (const part of ["train", "val", "test"] as const) {
    const v = f?.[part];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new SplitError(
        `split fraction ${part} must be a number in [0, 1], got ${v}`,
      );
    }
  }
  const sum = f.train + f.val + f.test;
  // A tolerance, because 0.7 + 0.2 + 0.1 is not exactly 1 in floating point.
  if (Math.abs(sum - 1) > 1e-6) {
    throw new SplitError(
      `split fractions must add up to 1, got train ${f.train} + val ${f.val} + test ${f.test} = ${+sum
        .toFixed(6)}`,
    );
  }
  if (f.train <= 0) {
    throw new SplitError("split fraction train must be greater than 0");
  }
}

/**
 * Splits `data` per `settings`. Pure and deterministic: the same data and
 * settings always give the same indices. Throws {@link SplitError} when the
 * settings are invalid or the protocol cannot be applied to the data.
 */
export function makeSplit(data: Fer2013, settings: SplitSettings): Split {
  validateSplitSettings(settings);
  if (data.n === 0) throw new SplitError(`${data.source}: no rows to split`);
  checkLabels(data);
  // The protocol is part of the stream name so the two protocols with one
  // seed do not share random draws.
  const rng = makeRng(`split:${settings.protocol}:${settings.seed}`);
  return settings.protocol === "study"
    ? studySplit(data, settings.fractions, rng)
    : officialSplit(data, settings.fractions, rng);
}

function checkLabels(data: Fer2013): void {
  for (let i = 0; i < data.n; i++) {
    if (data.labels[i] >= NUM_CLASSES) {
      throw new SplitError(
        `${data.source}: row ${i} has emotion label ${data.labels[i]}, expected 0–${NUM_CLASSES - 1}`,
      );
    }
    if (data.usage[i] >= USAGES.length) {
      throw new SplitError(
        `${data.source}: row ${i} has usage code ${data.usage[i]}, expected 0–${USAGES.length - 1}`,
      );
    }
  }
}

function studySplit(data: Fer2013, f: SplitFractions, rng: Rng): Split {
  const all = Int32Array.from({ length: data.n }, (_, i) => i);
  const { parts, notes } = stratifiedPartition(all, data.labels, [
    f.train,
    f.val,
    f.test,
  ], rng);
  for (const p of parts) shuffleInPlace(p, rng);
  return {
    train: parts[0],
    val: parts[1],
    test: parts[2],
    notes: [
      `study protocol: all ${fmt(data.n)} rows (any Usage) split ${pct(f.train)}/${pct(f.val)}/${
        pct(f.test)
      } stratified by emotion`,
      ...notes,
    ],
  };
}

function officialSplit(data: Fer2013, f: SplitFractions, rng: Rng): Split {
  const byUsage = rowsByUsage(data);
  const training = byUsage.Training;
  const pub = byUsage.PublicTest;
  const priv = byUsage.PrivateTest;
  if (training.length === 0) {
    throw new SplitError(
      `${data.source}: the official protocol needs rows with Usage "Training", found none ` +
        `(PublicTest ${fmt(pub.length)}, PrivateTest ${fmt(priv.length)})`,
    );
  }
  if (pub.length > 0 && priv.length > 0) {
    return { train: training, val: pub, test: priv, notes: [] };
  }
  if (pub.length > 0 || priv.length > 0) {
    const [present, absent] = pub.length > 0 ? ["PublicTest", "PrivateTest"] : ["PrivateTest", "PublicTest"];
    const test = pub.length > 0 ? pub : priv;
    const { parts, notes } = stratifiedPartition(
      training,
      data.labels,
      [1 - f.val, f.val],
      rng,
    );
    const [train, val] = parts.map(sorted);
    return {
      train,
      val,
      test,
      notes: [
        `${absent} rows absent: ${present} (${fmt(test.length)} rows) used as test; ` +
        `${pct(f.val)}% of Training (${fmt(val.length)} rows, stratified) held out as validation`,
        ...notes,
      ],
    };
  }
  const { parts, notes } = stratifiedPartition(
    training,
    data.labels,
    [f.train, f.val, f.test],
    rng,
  );
  const [train, val, test] = parts.map(sorted);
  return {
    train,
    val,
    test,
    notes: [
      `PublicTest and PrivateTest rows absent: Training (${fmt(training.length)} rows) split ` +
      `${pct(f.train)}/${pct(f.val)}/${pct(f.test)} stratified by emotion into train/val/test`,
      ...notes,
    ],
  };
}

function rowsByUsage(data: Fer2013): Record<Usage, Int32Array> {
  const lists: Record<Usage, number[]> = {
    Training: [],
    PublicTest: [],
    PrivateTest: [],
  };
  for (let i = 0; i < data.n; i++) lists[USAGES[data.usage[i]]].push(i);
  return {
    Training: Int32Array.from(lists.Training),
    PublicTest: Int32Array.from(lists.PublicTest),
    PrivateTest: Int32Array.from(lists.PrivateTest),
  };
}

/**
 * Splits `rows` into `shares.length` parts, class by class, so that every
 * part holds each emotion in proportion. Per class, counts are the largest-
 * remainder rounding of `count × share` (so they add up exactly and each is
 * within one row of exact); then every part with a positive share gets at
 * least one row of each class that has at least as many rows as there are
 * such parts. Which rows go where is drawn from `rng`. Parts come back grouped
 * by class; shuffle them if order matters.
 */
export function stratifiedPartition(
  rows: Int32Array,
  labels: Uint8Array,
  shares: number[],
  rng: Rng,
): { parts: Int32Array[]; notes: string[] } {
  const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  for (const r of rows) byClass[labels[r]].push(r);
  const out: number[][] = shares.map(() => []);
  const notes: string[] = [];
  const wanted = shares.filter((s) => s > 0).length;
  for (let c = 0; c < NUM_CLASSES; c++) {
    const members = shuffleInPlace(byClass[c], rng);
    if (members.length === 0) continue;
    const counts = allocate(members.length, shares);
    let start = 0;
    counts.forEach((k, p) => {
      out[p].push(...members.slice(start, start + k));
      start += k;
    });
    if (members.length < wanted) {
      notes.push(
        `emotion ${EMOTIONS[c]} has only ${members.length} row${
          members.length === 1 ? "" : "s"
        }: it cannot appear in every part`,
      );
    }
  }
  return { parts: out.map((p) => Int32Array.from(p)), notes };
}

/**
 * Largest-remainder apportionment of `n` items by `shares`, then a floor of one
 * item per positively-shared part when `n` allows it. Exported for tests.
 */
export function allocate(n: number, shares: number[]): number[] {
  const total = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (n * s) / total);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  // Ties go to the earlier part, so the result never depends on sort stability.
  const order = exact
    .map((e, p) => ({ p, rem: e - Math.floor(e) }))
    .sort((a, b) => b.rem - a.rem || a.p - b.p);
  for (const { p } of order) {
    if (left === 0) break;
    counts[p]++;
    left--;
  }
  const positive = shares.map((s, p) => (s > 0 ? p : -1)).filter((p) => p >= 0);
  if (n >= positive.length) {
    for (const p of positive) {
      if (counts[p] > 0) continue;
      // Take from the largest part; it has at least two rows here.
      let donor = positive[0];
      for (const q of positive) if (counts[q] > counts[donor]) donor = q;
      counts[donor]--;
      counts[p]++;
    }
  }
  return counts;
}

function sorted(a: Int32Array): Int32Array {
  return a.sort();
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

function pct(f: number): string {
  return String(+(f * 100).toFixed(2));
}
