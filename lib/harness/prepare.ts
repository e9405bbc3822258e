/**
 * The first three steps every experiment shares — pick the backend, load the
 * data, split it — with the facts a report needs about each.
 *
 * @module
 */
import { type BackendInfo, describeBackend, selectBackend } from "../backend/select.ts";
import type { CommonConfig } from "../cli/args.ts";
import { type Fer2013, usageCounts } from "../data/fer2013.ts";
import { fingerprint } from "../data/fingerprint.ts";
import { loadData } from "../data/locate.ts";
import { loadOrMakeSplit } from "../data/split_cache.ts";
import { type Split, splitSeedOf, splitSettings } from "../data/split.ts";
import { makeSyntheticFer2013 } from "../data/synthetic.ts";
import { makeRng, shuffleInPlace } from "../rng.ts";

/** Where the data came from and what it holds. */
export interface DataFacts {
  kind: "csv" | "folder" | "synthetic";
  source: string;
  path?: string;
  fingerprint: string;
  rows: number;
  usage: Record<string, number>;
  notes: string[];
  skipped: number;
  loadSeconds: number;
}

/** Backend, data and split, ready for training. */
export interface Prepared {
  backend: BackendInfo;
  data: Fer2013;
  dataFacts: DataFacts;
  split: Split;
  /** Split cache key and whether it was reused. */
  splitCache: { key: string; cached: boolean };
  /** Training rows actually used (all of split.train unless `--limit-train`). */
  trainRows: Int32Array;
}

/** Logs to stderr so stdout stays free for machine-readable output. */
export const log = (msg: string) => console.error(msg);

/** Selects the backend, loads the data and makes (or reuses) the split. */
export async function prepare(config: CommonConfig): Promise<Prepared> {
  const backend = await selectBackend(config.backend, { threads: config.threads || "auto", kernels: config.kernels });
  log(`backend: ${describeBackend(backend)}`);
  for (const n of backend.notes) log(`  note: ${n}`);

  const t0 = performance.now();
  let lastPct = -1;
  const choice = await loadData({
    data: config.data || undefined,
    skipBad: config.skipBad,
    synthetic: () => makeSyntheticFer2013({ n: config.syntheticRows, seed: 2013 }),
    log,
    onProgress: (done, total) => {
      const pct = Math.floor((100 * done) / Math.max(total, 1));
      if (pct >= lastPct + 10) {
        lastPct = pct;
        const s = (performance.now() - t0) / 1000;
        const eta = done > 0 ? (s * (total - done)) / done : NaN;
        log(`  loading ${pct}% (${s.toFixed(1)}s, ETA ${Number.isFinite(eta) ? eta.toFixed(1) + "s" : "?"})`);
      }
    },
  });
  const loadSeconds = (performance.now() - t0) / 1000;
  const data = choice.data;
  const usage = usageCounts(data);
  const dataFacts: DataFacts = {
    kind: choice.kind,
    source: data.source,
    path: choice.path,
    fingerprint: fingerprint(data),
    rows: data.n,
    usage,
    notes: choice.notes,
    skipped: choice.skipped.length,
    loadSeconds,
  };
  log(
    `data: ${data.source} — ${data.n} rows (Training ${usage.Training}, PublicTest ${usage.PublicTest}, ` +
      `PrivateTest ${usage.PrivateTest}) in ${loadSeconds.toFixed(1)}s, fingerprint ${dataFacts.fingerprint}`,
  );

  const settings = splitSettings({ protocol: config.protocol, seed: splitSeedOf(config) });
  const cached = await loadOrMakeSplit(data, settings, { fingerprint: dataFacts.fingerprint });
  const { split } = cached;
  log(
    `split (${config.protocol}${cached.cached ? ", cached" : ""}): train ${split.train.length}, ` +
      `val ${split.val.length}, test ${split.test.length}`,
  );
  for (const n of split.notes) log(`  note: ${n}`);

  let trainRows = split.train;
  if (config.limitTrain > 0 && config.limitTrain < trainRows.length) {
    // a seeded random subset, so a quick run still sees every class
    trainRows = shuffleInPlace(Int32Array.from(trainRows), makeRng(`${config.seed}:limit`)).slice(0, config.limitTrain);
    log(`  using ${trainRows.length} of ${split.train.length} training rows (--limit-train)`);
  }
  return { backend, data, dataFacts, split, splitCache: { key: cached.key, cached: cached.cached }, trainRows };
}
