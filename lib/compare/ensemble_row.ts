/**
 * The comparison's ensemble row: the saved models of the experiments that
 * share one test split, their probabilities averaged, with and without
 * test-time augmentation.
 *
 * The test split is rebuilt from what every result records: the data's
 * fingerprint and the split settings (protocol, seed). The data must be found
 * again (the path the run used, `--data`, or the usual places under `data/`;
 * synthetic data is regenerated) and hash to the same fingerprint, or the row
 * is left out with the reason.
 *
 * The outcome is cached in `ensemble.json` beside the results, keyed by the
 * models' bytes, the split and the TTA modes, so a report rebuilt without new
 * results reuses it byte for byte (and needs neither the data nor a backend).
 *
 * @example
 * ```ts
 * const outcome = await ensembleRow("reports", results, { ttas: ["none", "flip"] });
 * if (outcome.ok) console.log(outcome.ensemble.rows.map((r) => [r.tta, r.accuracy]));
 * else console.log(`no ensemble row: ${outcome.reason}`);
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { type BackendChoice, describeBackend, selectBackend } from "../backend/select.ts";
import { DataError, type Fer2013, IMAGE_SIZE } from "../data/fer2013.ts";
import { fingerprint } from "../data/fingerprint.ts";
import { DEFAULT_DATA_PATHS, loadData } from "../data/locate.ts";
import { loadOrMakeSplit } from "../data/split_cache.ts";
import { type Protocol, splitSeedOf, splitSettings } from "../data/split.ts";
import { makeSyntheticFer2013 } from "../data/synthetic.ts";
import { overconfidence } from "../eval/calibration.ts";
import { evaluateEnsemble, logPasses } from "../eval/ensemble.ts";
import type { TtaMode } from "../eval/tta.ts";
import { loadModel, MODEL_JSON, WEIGHTS_BIN } from "../models/io.ts";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import { type ExperimentResult, hasModel, mainRunOf } from "./results.ts";

/** The cache file, beside the results. */
export const ENSEMBLE_FILE = "ensemble.json";
/** Bumped when what the cache holds or how it is computed changes. */
const CACHE_VERSION = 2;
/** The seed `lib/harness/prepare.ts` draws the synthetic faces with. */
const SYNTHETIC_SEED = 2013;

/** One ensemble evaluation (one TTA mode). */
export interface EnsembleScore {
  tta: TtaMode;
  views: string[];
  accuracy: number;
  n: number;
  macroF1: number;
  nll: number;
  ece: number;
  /** Mean confidence − accuracy (+ overconfident, − underconfident). */
  overconfidence: number;
  /** Recall per class, by emotion. */
  recall: Record<string, number>;
}

/** The cached ensemble: what went in and what came out. */
export interface EnsembleResult {
  format: "ferlab-ensemble";
  version: number;
  /** Digest of the models' bytes, split and TTA modes. */
  key: string;
  /** Result names of the members, e.g. ["01_baseline", "03_deep"]. */
  members: string[];
  /** Model folders relative to the results folder. */
  modelDirs: string[];
  data: { fingerprint: string; kind?: string; source?: string };
  split: { cacheKey: string; protocol: string; seed: number; test: number };
  backend: string;
  scores: EnsembleScore[];
  /** Wall seconds of the evaluation when it was computed. */
  seconds: number;
}

/** The row, or why there is none. */
export type EnsembleOutcome =
  | { ok: true; ensemble: EnsembleResult; cached: boolean }
  | { ok: false; reason: string };

/** Options of {@link ensembleRow}. */
export interface EnsembleRowOptions {
  /** TTA modes to score, each a row (default none and flip). */
  ttas?: TtaMode[];
  /** A FER2013 file or folder to try first. */
  data?: string;
  /** Backend for the evaluation (default auto). */
  backend?: BackendChoice;
  /** Progress and notes (default stderr). */
  log?: (msg: string) => void;
}

/**
 * The input shape a saved model declares, e.g. [48, 48, 1], from its
 * `model.json` without building it; undefined when it declares none.
 */
export async function declaredInput(modelDir: string): Promise<number[] | undefined> {
  const text = await Deno.readTextFile(join(modelDir, MODEL_JSON));
  const m = /"batch_?[iI]nput_?[sS]hape"\s*:\s*\[\s*null\s*,([\d\s,]+)\]/.exec(text);
  return m ? m[1].split(",").map(Number) : undefined;
}

/**
 * The results whose saved models share the most common test split (ties: the
 * best accuracy's). Models that take other than 48×48 grayscale faces (a
 * transfer model at another size, say) cannot see the same images and stay out,
 * and so do an experiment's ablations (`03_deep_ls0_10ep` beside `03_deep`): an
 * ablation is there to be compared with its main run, not to vote beside it.
 */
export async function ensembleMembers(dir: string, results: readonly ExperimentResult[]): Promise<ExperimentResult[]> {
  const usable: ExperimentResult[] = [];
  const names = results.map((r) => r.name);
  for (const r of results) {
    if (mainRunOf(r.name, names) !== undefined) continue;
    if (!(r.modelDir && r.split.cacheKey && r.data.fingerprint && await hasModel(join(dir, r.modelDir)))) continue;
    const shape = await declaredInput(join(dir, r.modelDir));
    if (shape && shape.join("x") !== `${IMAGE_SIZE}x${IMAGE_SIZE}x1`) continue;
    usable.push(r);
  }
  const groups = new Map<string, ExperimentResult[]>();
  for (const r of usable) groups.set(r.split.cacheKey!, [...(groups.get(r.split.cacheKey!) ?? []), r]);
  const best = (g: ExperimentResult[]) => Math.max(...g.map((r) => r.testAccuracy));
  const ranked = [...groups.values()].sort((a, b) => b.length - a.length || best(b) - best(a));
  return ranked[0] ?? [];
}

/** Digest of everything the ensemble's numbers depend on. */
async function cacheKey(dir: string, members: readonly ExperimentResult[], ttas: readonly TtaMode[]): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`ferlab-ensemble v${CACHE_VERSION}\n${ttas.join(",")}\n`);
  for (const r of members) {
    hash.update(`${r.name}\n${r.split.cacheKey}\n`);
    for (const f of [MODEL_JSON, WEIGHTS_BIN]) hash.update(await Deno.readFile(join(dir, r.modelDir!, f)));
  }
  return hash.digest("hex").slice(0, 16);
}

async function readCache(path: string): Promise<EnsembleResult | undefined> {
  try {
    const json = JSON.parse(await Deno.readTextFile(path));
    return json?.format === "ferlab-ensemble" && Array.isArray(json.scores) ? json : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a candidate data path is there; one outside the permissions granted is passed over, and said so. */
async function candidateExists(path: string, log: (m: string) => void): Promise<boolean> {
  try {
    return await exists(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable)) throw e;
    log(`  ensemble: ${path} is outside the read permissions; passed over`);
    return false;
  }
}

/** Finds the data a result was tested on, by fingerprint; a reason when it cannot. */
async function findData(
  r: ExperimentResult,
  opts: EnsembleRowOptions,
  log: (m: string) => void,
): Promise<Fer2013 | string> {
  const want = r.data.fingerprint!;
  if (r.data.kind === "synthetic") {
    const rows = typeof r.config.syntheticRows === "number" ? r.config.syntheticRows : 7000;
    const data = makeSyntheticFer2013({ n: rows, seed: SYNTHETIC_SEED });
    if (fingerprint(data) === want) return data;
    return `the synthetic set regenerated with ${rows} rows does not match fingerprint ${want}`;
  }
  const tried = [
    opts.data,
    r.data.path,
    typeof r.config.data === "string" ? r.config.data : undefined,
    ...DEFAULT_DATA_PATHS,
  ]
    .filter((p): p is string => !!p);
  const unique = [...new Set(tried)];
  for (const path of unique) {
    if (!(await candidateExists(path, log))) continue;
    try {
      const { data } = await loadData({ data: path, synthetic: () => makeSyntheticFer2013(), log: () => {} });
      const fp = fingerprint(data);
      if (fp === want) return data;
      log(`  ensemble: ${path} has fingerprint ${fp}, not ${want}; passed over`);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      log(`  ensemble: ${e.message}; passed over`);
    }
  }
  return `the test split needs the data with fingerprint ${want} (${r.data.source ?? "FER2013"}), ` +
    `not found at ${unique.join(", ")}; pass --data PATH`;
}

/** The ensemble's score on `rows` under one TTA mode. */
async function score(
  models: readonly tf.LayersModel[],
  data: Fer2013,
  rows: Int32Array,
  tta: TtaMode,
  log: (m: string) => void,
): Promise<EnsembleScore> {
  const e = await evaluateEnsemble(models, data, rows, {
    tta,
    imageSize: IMAGE_SIZE,
    onPass: logPasses(`  ensemble ${tta}`, log),
  });
  return {
    tta,
    views: e.views,
    accuracy: e.accuracy,
    n: e.n,
    macroF1: e.macroF1,
    nll: e.calibration.nll,
    ece: e.calibration.ece,
    overconfidence: overconfidence(e.calibration.bins),
    recall: Object.fromEntries(e.perClass.map((c) => [c.name, c.recall])),
  };
}

/**
 * The ensemble row for `results` (read from `dir`): cached when nothing it
 * depends on changed, else computed and cached; or the reason it is absent.
 */
export async function ensembleRow(
  dir: string,
  results: readonly ExperimentResult[],
  opts: EnsembleRowOptions = {},
): Promise<EnsembleOutcome> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const ttas = opts.ttas ?? ["none", "flip"];
  const members = await ensembleMembers(dir, results);
  if (members.length === 0) {
    return { ok: false, reason: "no result has a saved model with a recorded data fingerprint and split" };
  }
  const key = await cacheKey(dir, members, ttas);
  const cachePath = join(dir, ENSEMBLE_FILE);
  const cached = await readCache(cachePath);
  if (cached?.key === key) return { ok: true, ensemble: cached, cached: true };

  const lead = members[0];
  const data = await findData(lead, opts, log);
  if (typeof data === "string") return { ok: false, reason: data };
  const seed = splitSeedOf(lead.config);
  const protocol = (lead.protocol ?? "study") as Protocol;
  const split = await loadOrMakeSplit(data, splitSettings({ protocol, seed }), { fingerprint: lead.data.fingerprint });
  if (split.key !== lead.split.cacheKey) {
    return { ok: false, reason: `rebuilt split ${split.key} differs from the recorded ${lead.split.cacheKey}` };
  }
  const test = split.split.test;
  const backend = await selectBackend(opts.backend ?? "auto");
  log(
    `ensemble of ${members.map((m) => m.name).join(" + ")} on ${test.length} test images (${describeBackend(backend)})`,
  );
  const models: tf.LayersModel[] = [];
  const t0 = performance.now();
  const scores: EnsembleScore[] = [];
  try {
    for (const r of members) models.push(await loadModel(join(dir, r.modelDir!)));
    for (const tta of ttas) scores.push(await score(models, data, test, tta, log));
  } catch (e) {
    // A model that cannot be scored must not cost the whole comparison.
    return {
      ok: false,
      reason: `evaluating ${members.map((m) => m.name).join(" + ")} failed: ${(e as Error).message}`,
    };
  } finally {
    models.forEach((m) => m.dispose());
  }
  const ensemble: EnsembleResult = {
    format: "ferlab-ensemble",
    version: CACHE_VERSION,
    key,
    members: members.map((m) => m.name),
    modelDirs: members.map((m) => m.modelDir!),
    data: { fingerprint: lead.data.fingerprint!, kind: lead.data.kind, source: lead.data.source },
    split: { cacheKey: split.key, protocol, seed, test: test.length },
    backend: describeBackend(backend),
    scores,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  await writeFileAtomic(cachePath, JSON.stringify(ensemble, null, 2) + "\n");
  return { ok: true, ensemble, cached: false };
}
