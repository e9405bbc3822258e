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
  /**
   * Seconds the step may train (`--max-minutes`): it stops after the epoch
   * that crosses them, so it ends within the budget plus one epoch.
   */
  budget?: number;
  skip?: string;
}

/** What the running step has said about itself. */
export interface Running {
  /** Seconds it has run. */
  runningFor: number;
  /** Its own ETA for the whole run, when it printed one. */
  ownEta?: number;
  /** Its own ETA for the current epoch, when it printed one. */
  epochEta?: number;
}

/**
 * ETA of the rest: the current step's remaining time (its own ETA when it
 * printed one, capped by what is left of its budget plus the current epoch;
 * else its estimate less the time it has run) plus the later steps'
 * estimates (else the mean of the finished ones).
 */
export function eta(
  steps: Step[],
  index: number,
  current: Running,
  doneTimes: number[],
): number | undefined {
  const mean = doneTimes.length ? doneTimes.reduce((a, b) => a + b, 0) / doneTimes.length : undefined;
  let total = 0;
  for (let i = index; i < steps.length; i++) {
    if (steps[i].skip) continue;
    if (i === index && current.ownEta !== undefined) {
      const budget = steps[i].budget;
      const capped = budget === undefined
        ? current.ownEta
        : Math.min(current.ownEta, Math.max(0, budget - current.runningFor) + (current.epochEta ?? 0));
      total += capped;
      continue;
    }
    const e = steps[i].estimate ?? mean;
    if (e === undefined) return undefined;
    total += i === index ? Math.max(0, e - current.runningFor) : e;
  }
  return total;
}

/** Seconds of a duration as the progress line prints it ("42s", "3m05s", "1h02m"). */
function durationSeconds(h?: string, m?: string, s?: string): number | undefined {
  if (!(h || m || s)) return undefined;
  return Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
}

const DURATION = "(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?";
const ETA_RE = new RegExp(`ETA epoch ${DURATION}[^,]*, total ${DURATION}`);

/** The epoch and total ETA of a training progress line, in seconds, if the line has them. */
export function parseEta(line: string): { epoch?: number; total?: number } | undefined {
  const m = ETA_RE.exec(line);
  if (!m) return undefined;
  return { epoch: durationSeconds(m[1], m[2], m[3]), total: durationSeconds(m[4], m[5], m[6]) };
}

/** Seconds of a training progress line's "total" ETA, if the line has one. */
export function parseTotalEta(line: string): number | undefined {
  return parseEta(line)?.total;
}
