/**
 * The comparison's ensemble rows: for each protocol group — the saved models
 * of the main runs that share one test split — their probabilities averaged,
 * with and without test-time augmentation. The study's models (01–04) make
 * one group, the official protocol's (05, 06 and the members trained beside
 * them with `--split-seed`) another; each group of two or more gets its rows,
 * and a folder whose every split has one model still gets that model's, so
 * the TTA it adds shows.
 *
 * The test split is rebuilt from what every result records: the data's
 * fingerprint and the split settings (protocol, seed). The data must be found
 * again (the path the run used, `--data`, or the usual places under `data/`;
 * synthetic data is regenerated) and hash to the same fingerprint, or the row
 * is left out with the reason.
 *
 * Each group's outcome is cached beside the results — the study protocol's in
 * `ensemble.json`, another protocol's in `ensemble_<protocol>.json` — keyed by
 * the models' bytes, the split and the TTA modes, so a report rebuilt without
 * new results reuses it byte for byte (and needs neither the data nor a backend).
 *
 * @example
 * ```ts
 * for (const outcome of await ensembleRows("reports", results)) {
 *   if (outcome.ok) console.log(outcome.file, outcome.ensemble.scores.map((s) => [s.tta, s.accuracy]));
 *   else console.log(`no ensemble row: ${outcome.reason}`);
 * }
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { type BackendChoice, describeBackend, selectBackend } from "../backend/select.ts";
import { DataError, type Fer2013, IMAGE_SIZE, USAGES } from "../data/fer2013.ts";
import { fingerprint } from "../data/fingerprint.ts";
import { DEFAULT_DATA_PATHS, loadData } from "../data/locate.ts";
import { loadOrMakeSplit } from "../data/split_cache.ts";
import { type Protocol, splitSeedOf, splitSettings } from "../data/split.ts";
import { makeSyntheticFer2013 } from "../data/synthetic.ts";
import { overconfidence } from "../eval/calibration.ts";
import { evaluateEnsemble, logPasses } from "../eval/ensemble.ts";
import type { TtaMode } from "../eval/tta.ts";
import { loadModel, MODEL_JSON, WEIGHTS_BIN } from "../models/io.ts";
import { savedModelInput } from "../models/input_spec.ts";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import { type ExperimentResult, hasModel, isReplica, mainRunOf } from "./results.ts";

/** The study protocol's cache file, beside the results; another protocol's is {@link ensembleFile}'s. */
export const ENSEMBLE_FILE = "ensemble.json";
/**
 * The TTA modes a group's rows are scored with unless told otherwise. The
 * official protocol's group answers whether ten-crop helps the ensemble, as the
 * literature scores its ensembles: for a crop model `crops` is the ten-crop of
 * its input side, for a 48-pixel model ten shifted windows (`eval/tta.ts`).
 */
export const DEFAULT_TTAS: Readonly<Record<Protocol, readonly TtaMode[]>> = {
  study: ["none", "flip"],
  official: ["none", "flip", "crops"],
};
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
  /**
   * The views each member was shown, by result name; only where they differ
   * (a crop model's ten-crop beside a 48-pixel model's shifted windows), since
   * `views` then lists both kinds.
   */
  memberViews?: Record<string, string[]>;
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
  /** `testUsage`: the FER2013 Usage of the test rows, for a protocol other than the study's (e.g. "PublicTest"). */
  split: { cacheKey: string; protocol: string; seed: number; test: number; testUsage?: string };
  backend: string;
  scores: EnsembleScore[];
  /** Wall seconds of the evaluation when it was computed. */
  seconds: number;
}

/**
 * A group's rows, or why there are none. `file`: the cache file, relative to
 * the results folder (default {@link ENSEMBLE_FILE}); `members` and `protocol`
 * name the group a failure is about, where one was formed.
 */
export type EnsembleOutcome =
  | { ok: true; ensemble: EnsembleResult; cached: boolean; file?: string }
  | { ok: false; reason: string; members?: string[]; protocol?: string };

/** Options of {@link ensembleRows}. */
export interface EnsembleRowOptions {
  /** TTA modes to score every group with, each a row (default: its protocol's {@link DEFAULT_TTAS}). */
  ttas?: TtaMode[];
  /** A FER2013 file or folder to try first. */
  data?: string;
  /** Backend for the evaluation (default auto). */
  backend?: BackendChoice;
  /** Progress and notes (default stderr). */
  log?: (msg: string) => void;
}

/**
 * Whether the model saved in `modelDir` sees FER2013's faces as they are
 * stored, 48 pixels and grayscale, whole or as crops of them: the models that
 * can be shown the same test images. A transfer model that declares colour or
 * another size cannot. A model whose record cannot be read is let in, so that
 * loading it fails with its reason in the row's place instead of vanishing.
 */
async function seesStoredFaces(modelDir: string): Promise<boolean> {
  const text = await Deno.readTextFile(join(modelDir, MODEL_JSON));
  try {
    const saved = savedModelInput(text);
    return saved === undefined || (saved.input.imageSize === IMAGE_SIZE && (saved.channels ?? 1) === 1);
  } catch {
    return true;
  }
}

/**
 * The groups of `results` whose saved models share one test split, the
 * largest first (ties: the best accuracy's). Models that cannot see the stored
 * faces stay out (see {@link seesStoredFaces}), and so do an experiment's
 * ablations (`03_deep_ls0_10ep` beside `03_deep`): an ablation is there to be
 * compared with its main run, not to vote beside it. A replica, the main
 * run's recipe with another seed (`06_crops_seed43`), is a member. A
 * distilled student (07) is not: it learned its teachers' averaged votes, so
 * beside them it would count them twice.
 */
async function splitGroups(dir: string, results: readonly ExperimentResult[]): Promise<ExperimentResult[][]> {
  const usable: ExperimentResult[] = [];
  const names = results.map((r) => r.name);
  for (const r of results) {
    const main = mainRunOf(r.name, names);
    if (main !== undefined && !isReplica(r.name, main)) continue;
    if (r.teachers) continue;
    if (!(r.modelDir && r.split.cacheKey && r.data.fingerprint && await hasModel(join(dir, r.modelDir)))) continue;
    if (!(await seesStoredFaces(join(dir, r.modelDir)))) continue;
    usable.push(r);
  }
  const groups = new Map<string, ExperimentResult[]>();
  for (const r of usable) groups.set(r.split.cacheKey!, [...(groups.get(r.split.cacheKey!) ?? []), r]);
  const best = (g: ExperimentResult[]) => Math.max(...g.map((r) => r.testAccuracy));
  return [...groups.values()].sort((a, b) => b.length - a.length || best(b) - best(a));
}

/** The members of the largest group (see {@link ensembleGroups}); none when no result has a usable model. */
export async function ensembleMembers(dir: string, results: readonly ExperimentResult[]): Promise<ExperimentResult[]> {
  return (await splitGroups(dir, results))[0] ?? [];
}

/**
 * The groups that get ensemble rows: every group of two or more main runs on
 * one split, in the order of their experiments (the study's 01–04 before the
 * official 05–06, as in the table above them); where there is none, the
 * largest group alone (one model, whose row then shows what TTA adds to it).
 */
export async function ensembleGroups(dir: string, results: readonly ExperimentResult[]): Promise<ExperimentResult[][]> {
  const groups = await splitGroups(dir, results);
  const several = groups.filter((g) => g.length >= 2);
  const first = (g: ExperimentResult[]) => g.map((r) => r.name).sort()[0];
  return several.length ? several.sort((a, b) => (first(a) < first(b) ? -1 : 1)) : groups.slice(0, 1);
}

const protocolOf = (r: ExperimentResult) => (r.protocol ?? "study") as Protocol;

/**
 * The cache file of each of `groups` (in order): {@link ENSEMBLE_FILE} for the
 * study protocol, `ensemble_<protocol>.json` for another; a later group whose
 * protocol already has its file (another split seed, say) gets its split key
 * added to the name.
 */
export function ensembleFiles(groups: readonly (readonly ExperimentResult[])[]): string[] {
  const taken = new Set<string>();
  return groups.map((g) => {
    const protocol = protocolOf(g[0]);
    const base = protocol === "study" ? ENSEMBLE_FILE : `ensemble_${protocol}.json`;
    const file = taken.has(base)
      ? `ensemble_${protocol}_${g[0].split.cacheKey!.replace(/[^A-Za-z0-9._-]/g, "_")}.json`
      : base;
    taken.add(file);
    return file;
  });
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
  names: readonly string[],
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
  const differ = new Set(e.members.map((m) => m.views.join(","))).size > 1;
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
    ...(differ ? { memberViews: Object.fromEntries(e.members.map((m, i) => [names[i], m.views])) } : {}),
  };
}

/** The FER2013 Usage of `rows`, e.g. "PublicTest" ("PublicTest+PrivateTest" when they mix). */
function usageOf(data: Fer2013, rows: Int32Array): string {
  const seen = new Set<number>();
  for (const r of rows) seen.add(data.usage[r]);
  return [...seen].sort().map((u) => USAGES[u]).join("+");
}

/** What {@link ensembleRows} shares between its groups: the data sets found so far, by fingerprint, and the backend. */
interface Shared {
  data: Map<string, Fer2013>;
  backend?: Awaited<ReturnType<typeof selectBackend>>;
}

/**
 * The ensemble rows of `results` (read from `dir`), one outcome per group of
 * {@link ensembleGroups}: each cached when nothing it depends on changed, else
 * computed and cached in its own file; or the reason it is absent.
 */
export async function ensembleRows(
  dir: string,
  results: readonly ExperimentResult[],
  opts: EnsembleRowOptions = {},
): Promise<EnsembleOutcome[]> {
  const groups = await ensembleGroups(dir, results);
  if (groups.length === 0) {
    return [{ ok: false, reason: "no result has a saved model with a recorded data fingerprint and split" }];
  }
  const files = ensembleFiles(groups);
  const shared: Shared = { data: new Map() };
  const out: EnsembleOutcome[] = [];
  for (const [i, members] of groups.entries()) out.push(await groupRow(dir, members, files[i], opts, shared));
  return out;
}

/** One group's rows, cached in `dir/file`. */
async function groupRow(
  dir: string,
  members: readonly ExperimentResult[],
  file: string,
  opts: EnsembleRowOptions,
  shared: Shared,
): Promise<EnsembleOutcome> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const lead = members[0];
  const protocol = protocolOf(lead);
  const names = members.map((m) => m.name);
  const failed = (reason: string): EnsembleOutcome => ({ ok: false, reason, members: names, protocol });
  const ttas = opts.ttas ?? [...(DEFAULT_TTAS[protocol] ?? DEFAULT_TTAS.study)];
  const key = await cacheKey(dir, members, ttas);
  const cachePath = join(dir, file);
  const cached = await readCache(cachePath);
  if (cached?.key === key) return { ok: true, ensemble: cached, cached: true, file };

  const fp = lead.data.fingerprint!;
  const data = shared.data.get(fp) ?? await findData(lead, opts, log);
  if (typeof data === "string") return failed(data);
  shared.data.set(fp, data);
  const seed = splitSeedOf(lead.config);
  const split = await loadOrMakeSplit(data, splitSettings({ protocol, seed }), { fingerprint: fp });
  if (split.key !== lead.split.cacheKey) {
    return failed(`rebuilt split ${split.key} differs from the recorded ${lead.split.cacheKey}`);
  }
  const test = split.split.test;
  const backend = shared.backend ??= await selectBackend(opts.backend ?? "auto");
  log(`ensemble of ${names.join(" + ")} on ${test.length} test images (${describeBackend(backend)})`);
  const models: tf.LayersModel[] = [];
  const t0 = performance.now();
  const scores: EnsembleScore[] = [];
  try {
    for (const r of members) models.push(await loadModel(join(dir, r.modelDir!)));
    for (const tta of ttas) scores.push(await score(models, names, data, test, tta, log));
  } catch (e) {
    // A model that cannot be scored must not cost the whole comparison.
    return failed(`evaluating ${names.join(" + ")} failed: ${(e as Error).message}`);
  } finally {
    models.forEach((m) => m.dispose());
  }
  const ensemble: EnsembleResult = {
    format: "ferlab-ensemble",
    version: CACHE_VERSION,
    key,
    members: names,
    modelDirs: members.map((m) => m.modelDir!),
    data: { fingerprint: fp, kind: lead.data.kind, source: lead.data.source },
    split: {
      cacheKey: split.key,
      protocol,
      seed,
      test: test.length,
      // Which part the official protocol tested on depends on the data (see `data/split.ts`): the row says it.
      ...(protocol === "study" ? {} : { testUsage: usageOf(data, test) }),
    },
    backend: describeBackend(backend),
    scores,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  await writeFileAtomic(cachePath, JSON.stringify(ensemble, null, 2) + "\n");
  return { ok: true, ensemble, cached: false, file };
}
