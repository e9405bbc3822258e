/**
 * A one-line training progress report with ETA, on stderr, and what reads it
 * back: `deno task main` takes the running experiment's own ETA from its line
 * and adds estimates for the experiments after it.
 *
 * On a terminal the line is rewritten in place a few times a second; in CI
 * logs (not a TTY) a full line is printed every `intervalSeconds`, so long
 * runs show they are alive without flooding the log.
 *
 * @example
 * ```ts
 * parseTotalEta("epoch 2/4  896/2800 (32%)  26.5 img/s  ETA epoch 1m12s, total 6m04s"); // 364
 * eta([{ name: "01_a", script: "01_a.ts", estimate: 100 }], 0, { runningFor: 30 }, []); // 70
 * ```
 *
 * @module
 */

/** What the progress line shows. */
export interface ProgressState {
  /** 1-based epoch in progress. */
  epoch: number;
  /** Total epochs planned. */
  epochs: number;
  /** Training images done in this epoch. */
  done: number;
  /** Training images per epoch. */
  total: number;
  /** Seconds spent on this epoch so far. */
  epochSeconds: number;
  /** Mean seconds of the epochs finished in this run (validation included), if any. */
  meanEpochSeconds?: number;
  /** Running mean training loss of the epoch. */
  loss?: number;
  /** Running training accuracy of the epoch. */
  acc?: number;
}

/** Human duration: "42s", "3m05s", "1h02m", or "?" when unknown. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * Seconds left in this epoch and in the whole run.
 *
 * The epoch ETA extrapolates this epoch's throughput. Later epochs are
 * costed at the mean duration of finished epochs when there is one (it
 * includes validation), else at this epoch's projected length.
 */
export function estimateEta(p: ProgressState): { epoch: number; overall: number } {
  const rate = p.done > 0 && p.epochSeconds > 0 ? p.done / p.epochSeconds : NaN;
  const epoch = p.done >= p.total ? 0 : (p.total - p.done) / rate;
  const perEpoch = p.meanEpochSeconds ?? p.total / rate;
  return { epoch, overall: epoch + (p.epochs - p.epoch) * perEpoch };
}

/** Images per second so far in this epoch (NaN before the first batch). */
export function imagesPerSecond(p: ProgressState): number {
  return p.done > 0 && p.epochSeconds > 0 ? p.done / p.epochSeconds : NaN;
}

/** The progress line, e.g. "epoch 3/40  1280/28709 (4%)  52.1 img/s  loss 1.234 acc 0.512  ETA epoch 8m47s, total 5h41m". */
export function formatProgressLine(p: ProgressState): string {
  const eta = estimateEta(p);
  const ips = imagesPerSecond(p);
  const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
  const parts = [
    `epoch ${p.epoch}/${p.epochs}`,
    `${p.done}/${p.total} (${pct}%)`,
    `${Number.isFinite(ips) ? ips.toFixed(1) : "?"} img/s`,
  ];
  if (p.loss !== undefined && p.acc !== undefined) {
    parts.push(`loss ${p.loss.toFixed(4)} acc ${p.acc.toFixed(3)}`);
  }
  parts.push(`ETA epoch ${formatEta(eta.epoch)}, total ${formatEta(eta.overall)}`);
  return parts.join("  ");
}

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Where text goes (default: stderr). */
  write?: (text: string) => void;
  /** Rewrite in place (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Seconds between lines when not a TTY (default 30). */
  intervalSeconds?: number;
  /** Clock in milliseconds (default performance.now), injectable for tests. */
  now?: () => number;
}

const encoder = new TextEncoder();

/** Writes to stderr synchronously, so lines interleave correctly with logs. */
function writeStderr(text: string) {
  Deno.stderr.writeSync(encoder.encode(text));
}

/** Throttled progress reporter; see the module docs. */
export class Progress {
  private readonly write: (text: string) => void;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private last = -Infinity;
  private shown = false;

  /** Creates a reporter; see {@link ProgressOptions}. */
  constructor(opts: ProgressOptions = {}) {
    this.write = opts.write ?? writeStderr;
    this.tty = opts.tty ?? Deno.stderr.isTerminal();
    // A terminal can take ~5 redraws a second; a log file wants few lines.
    this.intervalMs = this.tty ? 200 : 1000 * (opts.intervalSeconds ?? 30);
    this.now = opts.now ?? (() => performance.now());
  }

  /** Shows `p` if enough time has passed since the last line. */
  update(p: ProgressState): void {
    const t = this.now();
    if (t - this.last < this.intervalMs) return;
    this.last = t;
    const line = formatProgressLine(p);
    if (this.tty) {
      // \r + erase-to-end-of-line rewrites the line in place.
      this.write(`\r${line}\x1b[K`);
      this.shown = true;
    } else {
      this.write(`${line}\n`);
    }
  }

  /** Erases the in-place line (before printing a log line, or at the end). */
  clear(): void {
    if (this.tty && this.shown) this.write("\r\x1b[K");
    this.shown = false;
  }
}

// Reading the line back, for the ETA of the whole study (`deno task main`).

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

/** Seconds of a duration as {@link formatEta} prints it ("42s", "3m05s", "1h02m"). */
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
