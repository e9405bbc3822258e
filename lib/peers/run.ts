/**
 * One run of the peers bench, from loaded data to its record: the official
 * protocol's test rows (the split experiments use, from the split cache),
 * each model loaded, scored for every TTA mode, timed, and freed before the
 * next is loaded.
 *
 * @example
 * ```ts
 * const record = await runPeers({ data, dataFacts, peers: ["face-api", "human"], models: ["reports/models/05_budget"], ... });
 * await writeReport("reports", "peers", peersReport(record));
 * ```
 *
 * @module
 */
import { dirname, join } from "node:path";
import { type Fer2013, usageCounts } from "../data/fer2013.ts";
import { gatherImages } from "../eval/ensemble.ts";
import { loadOrMakeSplit } from "../data/split_cache.ts";
import { splitSettings } from "../data/split.ts";
import type { TtaMode } from "../eval/tta.ts";
import { loadAverage, type MachineFacts } from "../machine.ts";
import { type Classifier, loadOurs, loadPeer, type PeerName } from "./models.ts";
import { measureClassifier, type TimingOptions } from "./measure.ts";
import type { HeldOut, ModelRecord, PeersRecord } from "./report.ts";

/** The split every official-protocol experiment uses. */
export const PEERS_SPLIT = { protocol: "official", seed: 42 } as const;

/** What the run needs. */
export interface PeersOptions {
  data: Fer2013;
  dataFacts: { kind: string; source: string; fingerprint: string; synthetic: boolean };
  peers: readonly PeerName[];
  /** ferlab's saved model folders. */
  models: readonly string[];
  modes: readonly TtaMode[];
  batches: readonly number[];
  timing: TimingOptions;
  /** Measure only the first this many test rows (0: all). */
  limit: number;
  evalBatch?: number;
  /** Split cache folder (default: the experiments' own). */
  splitCacheDir?: string;
  machine: MachineFacts;
  backend: PeersRecord["backend"];
  command: string;
  retimeCommand: string;
  note?: string;
  log?: (msg: string) => void;
}

/** What is known of a peer's training data. */
const PEER_PROVENANCE: Record<PeerName, string> = {
  "face-api": "undocumented. face-api's tutorial says only that it \"has been trained on a variety of images from " +
    'publicly available datasets as well as images scraped from the web"; FER2013, PublicTest rows included, may ' +
    "be among them.",
  human: "unknown for the weights Human ships. Human credits oarriaga/face_classification, a 64×64 mini-Xception " +
    "trained on FER2013; that project's published training script trains on the first 80% of fer2013.csv's rows " +
    "(the 28,709 Training rows) and keeps the rest, PublicTest and PrivateTest, as the validation set that picks " +
    "the saved checkpoint, sets the learning rate and stops training. If these weights came from that script, the " +
    "PublicTest faces measured here helped choose them.",
};

/** Held-out status of one of ferlab's models, from its experiment's report beside `reports/models/`. */
async function oursProvenance(dir: string, splitKey: string): Promise<{ heldOut: HeldOut; note: string }> {
  const name = dir.replace(/\/+$/, "").split("/").pop()!;
  const reportPath = join(dirname(dirname(dir.replace(/\/+$/, ""))), `${name}.json`);
  let report: { config?: { protocol?: string }; split?: { cacheKey?: string }; data?: { fingerprint?: string } };
  try {
    report = JSON.parse(await Deno.readTextFile(reportPath));
  } catch {
    return { heldOut: "unknown", note: `no readable ${reportPath} says how it was trained.` };
  }
  const protocol = report.config?.protocol;
  if (report.split?.cacheKey === splitKey) {
    return {
      heldOut: "yes",
      note: `trained with this very split (${splitKey}, per ${reportPath}): these test rows were never trained ` +
        "on nor used to pick its weights.",
    };
  }
  if (protocol === "study") {
    return {
      heldOut: "no",
      note: `trained on the study protocol (${reportPath}): its training rows include most of these faces.`,
    };
  }
  return {
    heldOut: "unknown",
    note: `trained on another split (${report.split?.cacheKey ?? "not recorded"}, ${reportPath}) of ` +
      `${report.data?.fingerprint === undefined ? "unrecorded data" : `data ${report.data.fingerprint}`}.`,
  };
}

/** A model to measure, loaded only when its turn comes so that one model's weights are in memory at a time. */
interface Loader {
  what: string;
  load: () => Promise<Classifier>;
  provenance: () => Promise<{ heldOut: HeldOut; note: string }>;
}

/** Scores and times every model on the official test rows of `opts.data`. */
export async function runPeers(opts: PeersOptions): Promise<PeersRecord> {
  const log = opts.log ?? (() => {});
  const settings = splitSettings(PEERS_SPLIT);
  const cached = await loadOrMakeSplit(opts.data, settings, {
    fingerprint: opts.dataFacts.fingerprint,
    ...(opts.splitCacheDir ? { cacheDir: opts.splitCacheDir } : {}),
  });
  const test = cached.split.test;
  const rows = opts.limit > 0 && opts.limit < test.length ? test.slice(0, opts.limit) : test;
  log(`test: ${rows.length} of the ${test.length} test rows (${cached.key}${cached.cached ? ", cached" : ""})`);
  const images = gatherImages(opts.data.pixels, rows, 48);
  const labels = Uint8Array.from(rows, (r) => opts.data.labels[r]);
  const testUsage = usageCounts({
    ...opts.data,
    usage: Uint8Array.from(rows, (r) => opts.data.usage[r]),
    n: rows.length,
  });

  const loadAverageStart = opts.machine.loadAverage;
  const models: ModelRecord[] = [];
  const loaders: Loader[] = [
    ...opts.peers.map((p): Loader => ({
      what: p,
      load: () => loadPeer(p),
      provenance: () => Promise.resolve({ heldOut: "unknown", note: PEER_PROVENANCE[p] }),
    })),
    ...opts.models.map((d): Loader => ({
      what: d,
      load: () => loadOurs(d),
      provenance: () => oursProvenance(d, cached.key),
    })),
  ];
  for (const { what, load, provenance } of loaders) {
    log(`${what}: loading`);
    const c = await load();
    try {
      const result = await measureClassifier(c, images, labels, {
        modes: opts.modes,
        batches: opts.batches,
        evalBatch: opts.evalBatch,
        timing: opts.timing,
        log,
      });
      const p = await provenance();
      models.push({
        name: c.name,
        kind: c.kind,
        source: c.source,
        params: c.params,
        weightBytes: c.weightBytes,
        weightFiles: c.weightFiles,
        weightFormat: c.weightFormat,
        input: c.input,
        labels: c.labels,
        order: c.order,
        heldOut: p.heldOut,
        heldOutNote: p.note,
        ...result,
      });
    } finally {
      c.dispose();
    }
  }
  const { loadAverage: _start, ...machine } = opts.machine;
  const end = loadAverage();
  return {
    date: new Date().toISOString(),
    command: opts.command,
    retimeCommand: opts.retimeCommand,
    note: opts.note ?? "",
    data: {
      kind: opts.dataFacts.kind,
      source: opts.dataFacts.source,
      fingerprint: opts.dataFacts.fingerprint,
      rows: opts.data.n,
      usage: usageCounts(opts.data),
      synthetic: opts.dataFacts.synthetic,
    },
    split: {
      protocol: settings.protocol,
      seed: settings.seed,
      key: cached.key,
      notes: cached.split.notes,
      testRows: rows.length,
      testUsage,
      splitTestRows: test.length,
    },
    machine: {
      ...machine,
      ...(loadAverageStart === undefined ? {} : { loadAverageStart }),
      ...(end === undefined ? {} : { loadAverageEnd: end }),
    },
    backend: opts.backend,
    timing: { ...opts.timing, batches: [...opts.batches] },
    models,
  };
}
