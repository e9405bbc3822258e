/**
 * Progress of the whole study (`deno task main`): the ETA of what is left,
 * from the running experiment's own progress line and estimates for the
 * experiments after it.
 *
 * @example
 * ```ts
 * parseTotalEta("epoch 2/4  896/2800 (32%)  26.5 img/s  ETA epoch 1m12s, total 6m04s"); // 364
 * eta([{ name: "01_a", script: "01_a.ts", estimate: 100 }], 0, { runningFor: 30 }, []); // 70
 * ```
 *
 * @module
 */

/** One experiment of the plan. */
export interface Step {
  name: string;
  script: string;
  /** Seconds this step is expected to take (for the ETA), when known. */
  estimate?: number;
  skip?: string;
}

/**
 * ETA of the rest: the current step's remaining time (its own ETA when it
 * printed one, else its estimate less the time it has run) plus the later
 * steps' estimates (else the mean of the finished ones).
 */
export function eta(
  steps: Step[],
  index: number,
  current: { runningFor: number; ownEta?: number },
  doneTimes: number[],
): number | undefined {
  const mean = doneTimes.length ? doneTimes.reduce((a, b) => a + b, 0) / doneTimes.length : undefined;
  let total = 0;
  for (let i = index; i < steps.length; i++) {
    if (steps[i].skip) continue;
    if (i === index && current.ownEta !== undefined) {
      total += current.ownEta;
      continue;
    }
    const e = steps[i].estimate ?? mean;
    if (e === undefined) return undefined;
    total += i === index ? Math.max(0, e - current.runningFor) : e;
  }
  return total;
}

/** Seconds of a training progress line's "total" ETA ("42s", "3m05s", "1h02m"), if the line has one. */
export function parseTotalEta(line: string): number | undefined {
  const m = /ETA [^,]*, total (?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?/.exec(line);
  if (!m || !(m[1] || m[2] || m[3])) return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}
