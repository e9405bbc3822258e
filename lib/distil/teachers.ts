/**
 * The teachers of a distilled model: saved models of earlier experiments,
 * averaged with each one's own test-time augmentation, whose distributions
 * over the classes become the student's soft targets (`lib/train/soft_targets.ts`).
 *
 * Only official-protocol teachers qualify. They trained on Training rows
 * alone, so the student's test rows (PublicTest, or PrivateTest when the data
 * has it) are faces no teacher has seen; a study-protocol model (01–04)
 * trained on most of them, and its knowledge would leak into the student's
 * test score.
 *
 * The teachers' distributions over every training image cost one pass per
 * teacher and view (ten-crop: ten); they are cached in `.cache/distil/`, keyed
 * by the teachers' weights, the data, the rows, the TTA and the temperature,
 * so a resumed run reads them back.
 *
 * @example
 * ```ts
 * const teachers = await loadTeachers("reports", ["05_budget", "06_crops"]);
 * const t = await teacherTargets(teachers, data, trainRows, { tta: "auto", temperature: 1, dataFingerprint });
 * // t.probs: n × 7, one row per image of data; t.id names them in the student's checkpoint
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import { type ExperimentResult, readResult } from "../compare/results.ts";
import { UserError } from "../errors.ts";
import { logPasses, memberViews, predictEnsemble } from "../eval/ensemble.ts";
import type { TtaChoice } from "../eval/tta.ts";
import { loadModel, MODEL_JSON, WEIGHTS_BIN } from "../models/io.ts";
import { hashRows } from "../train/checkpoint.ts";

/** A teacher that cannot teach this student (missing, or trained on the student's test rows). */
export class TeacherError extends UserError {}

/** A loaded teacher and the result it came from. */
export interface Teacher {
  name: string;
  result: ExperimentResult;
  model: tf.LayersModel;
  /** Its model folder. */
  dir: string;
}

/** Where cached teacher targets live unless told otherwise (relative to the working directory). */
export const DEFAULT_DISTIL_CACHE_DIR = ".cache/distil";

/** Bump when the cached bytes' meaning changes. */
const CACHE_VERSION = 1;

/**
 * Loads the teachers named by their results in `dir` (e.g. "05_budget" for
 * `dir/05_budget.json` and its model), refusing any that is not an
 * official-protocol run with a saved model.
 */
export async function loadTeachers(dir: string, names: readonly string[]): Promise<Teacher[]> {
  if (names.length === 0) throw new TeacherError("distillation needs at least one teacher");
  const teachers: Teacher[] = [];
  for (const name of names) {
    const file = join(dir, `${name}.json`);
    if (!(await exists(file))) {
      throw new TeacherError(`teacher ${name}: ${file} does not exist; train it first or name another teacher`);
    }
    const result = await readResult(file);
    if (result.protocol !== "official") {
      throw new TeacherError(
        `teacher ${name} was trained under the ${result.protocol ?? "unknown"} protocol, which trains on ` +
          `test rows of the official one; only official-protocol models may teach (their test faces stay unseen)`,
      );
    }
    if (result.epochs.cutShort) {
      throw new TeacherError(`teacher ${name}'s run was cut short (${file}); finish it with --resume first`);
    }
    if (!result.modelDir) throw new TeacherError(`teacher ${name} saved no model (${file})`);
    const modelDir = join(dir, result.modelDir);
    teachers.push({ name, result, model: await loadModel(modelDir), dir: modelDir });
  }
  return teachers;
}

/** Options of {@link teacherTargets}. */
export interface TeacherTargetOptions {
  /** Each teacher's TTA ("auto": the one it records, e.g. ten-crop for a crop model). */
  tta: TtaChoice;
  /** Softens (> 1) or sharpens (< 1) the averaged distribution: p^(1/T), renormalised. */
  temperature: number;
  /** The data's fingerprint (part of the cache key). */
  dataFingerprint: string;
  /** Side of the stored images (default 48). */
  imageSize?: number;
  /** Cache folder (default {@link DEFAULT_DISTIL_CACHE_DIR}). */
  cacheDir?: string;
  /** Progress and cache notices. */
  log?: (line: string) => void;
}

/** The teachers' targets for every image, with their identity and what was averaged. */
export interface TeacherTargets {
  /** `n × K`, one row per image of the data; rows outside `rows` are uniform (never trained on). */
  probs: Float32Array;
  /** Cache key: names these targets in checkpoints and reports. */
  id: string;
  /** Whether they were read from the cache. */
  cached: boolean;
  /** Training faces they cover. */
  rows: number;
  /** Per teacher: its name and the TTA views it was shown. */
  members: { name: string; tta: string; views: number }[];
  /** The TTA the teachers were averaged under, so their test score can be taken the same way. */
  tta: TtaChoice;
  /** Share of `rows` where the teachers' top class is the true label. */
  agreement: number;
  /** Mean of the largest probability over `rows` (how sure the targets are). */
  meanConfidence: number;
}

/** The teachers' averaged, tempered distributions over `rows` of `data`, cached on disk. */
export async function teacherTargets(
  teachers: readonly Teacher[],
  data: { pixels: Uint8Array; labels: Uint8Array },
  rows: Int32Array,
  opts: TeacherTargetOptions,
): Promise<TeacherTargets> {
  const log = opts.log ?? (() => {});
  const imageSize = opts.imageSize ?? 48;
  if (!(opts.temperature > 0 && Number.isFinite(opts.temperature))) {
    throw new RangeError(`temperature must be a positive number, got ${opts.temperature}`);
  }
  const models = teachers.map((t) => t.model);
  const k = models[0].outputs[0].shape.at(-1)!;
  const members = memberViews(models, opts.tta, imageSize).map((m, i) => ({
    name: teachers[i].name,
    tta: m.tta,
    views: m.views.length,
  }));
  const id = await cacheKey(teachers, rows, opts);
  const file = join(opts.cacheDir ?? DEFAULT_DISTIL_CACHE_DIR, `${id}.f32`);
  let onRows = await readCached(file, rows.length * k);
  const cached = onRows !== undefined;
  if (onRows) log(`teachers: targets read from ${file}`);
  else {
    onRows = await predictEnsemble(models, data.pixels, rows, {
      tta: opts.tta,
      imageSize,
      onPass: logPasses(`teachers on ${rows.length} training faces`, log),
    });
    temper(onRows, k, opts.temperature);
    await Deno.mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, new Uint8Array(onRows.buffer, onRows.byteOffset, onRows.byteLength));
    log(`teachers: targets cached in ${file}`);
  }
  return {
    ...spread(onRows, rows, data.labels.length, k),
    id,
    cached,
    rows: rows.length,
    tta: opts.tta,
    members,
    ...agreementOf(onRows, rows, data.labels, k),
  };
}

/** p^(1/T), renormalised per row, in place (T = 1 leaves p as it is). */
export function temper(probs: Float32Array, k: number, temperature: number): void {
  if (temperature === 1) return;
  for (let r = 0; r < probs.length; r += k) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += probs[r + j] = Math.pow(Math.max(probs[r + j], 1e-12), 1 / temperature);
    for (let j = 0; j < k; j++) probs[r + j] /= sum;
  }
}

/** Row-of-`rows` targets placed at their image's row of an `n × k` table (uniform elsewhere). */
function spread(onRows: Float32Array, rows: Int32Array, n: number, k: number): { probs: Float32Array } {
  const probs = new Float32Array(n * k).fill(1 / k);
  rows.forEach((r, i) => probs.set(onRows.subarray(i * k, (i + 1) * k), r * k));
  return { probs };
}

function agreementOf(onRows: Float32Array, rows: Int32Array, labels: Uint8Array, k: number) {
  let agree = 0;
  let confidence = 0;
  rows.forEach((r, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (onRows[i * k + j] > onRows[i * k + best]) best = j;
    if (best === labels[r]) agree++;
    confidence += onRows[i * k + best];
  });
  return { agreement: agree / rows.length, meanConfidence: confidence / rows.length };
}

/** Digest of everything the targets depend on. */
async function cacheKey(teachers: readonly Teacher[], rows: Int32Array, opts: TeacherTargetOptions): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`ferlab-distil v${CACHE_VERSION}\n${opts.dataFingerprint}\n${hashRows(rows)}\n${opts.tta}\n`);
  hash.update(`${opts.temperature}\n`);
  for (const t of teachers) {
    hash.update(`${t.name}\n`);
    for (const f of [MODEL_JSON, WEIGHTS_BIN]) hash.update(await Deno.readFile(join(t.dir, f)));
  }
  return hash.digest("hex").slice(0, 16);
}

/** The cached targets, or undefined when absent or of the wrong length (a torn or stale file is recomputed). */
async function readCached(file: string, values: number): Promise<Float32Array | undefined> {
  if (!(await exists(file))) return undefined;
  const bytes = await Deno.readFile(file);
  if (bytes.byteLength !== values * 4) return undefined;
  return new Float32Array(bytes.buffer, bytes.byteOffset, values).slice();
}
