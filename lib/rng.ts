/**
 * Seeded randomness, passed around explicitly so that nothing depends on a
 * global generator and every run can be replayed (or resumed) exactly.
 *
 * @module
 */
import seedrandom from "seedrandom";

/** A seeded generator whose state can be saved and restored. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** A 32-bit integer, handy as a seed for a child generator or a TF op. */
  int32(): number;
  /** Serializable state for checkpoints. */
  state(): object;
}

/** Makes a generator from a seed, or from a state saved by {@link Rng.state}. */
export function makeRng(seed: string | number, state?: object): Rng {
  // deno-lint-ignore no-explicit-any
  const prng: any = seedrandom(String(seed), { state: state ?? true });
  return {
    next: () => prng(),
    int: (n) => Math.floor(prng() * n),
    uniform: (lo, hi) => lo + (hi - lo) * prng(),
    normal: () => {
      const u = 1 - prng();
      const v = prng();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    int32: () => prng.int32(),
    state: () => prng.state(),
  };
}

/** Fisher–Yates shuffle in place, driven by `rng`. Returns the array. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(
  arr: T,
  rng: Rng,
): T {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = arr[i];
    arr[i] = arr[j];
    arr[j] = t;
  }
  return arr;
}
