/**
 * Decides where the data comes from and loads it: an explicit `--data` path
 * (CSV, CSV.GZ or image folder), else the conventional places under the
 * project's `data/`, else the built-in synthetic faces — loudly, so nobody
 * mistakes synthetic results for FER2013 numbers.
 *
 * @module
 */
import { join } from "node:path";
import { DataError, type Fer2013 } from "./fer2013.ts";
import { loadFer2013Csv } from "./csv.ts";
import { loadFer2013Folder } from "./folder.ts";
import { describeSkipped, type SkippedRow } from "./load_result.ts";

/** Printed whenever the synthetic set stands in for FER2013. */
export const SYNTHETIC_NOTICE = "NOTE: no FER2013 found (--data, data/fer2013.csv[.gz], data/fer2013/); " +
  "using the built-in synthetic faces. Results are NOT FER2013 numbers.";

/** Where {@link loadData} looks, in order, relative to the project root. */
export const DEFAULT_DATA_PATHS = [
  "data/fer2013.csv",
  "data/fer2013.csv.gz",
  "data/fer2013",
] as const;

/** Which kind of source was used. */
export type DataKind = "csv" | "folder" | "synthetic";

/** Options of {@link loadData}. */
export interface LoadDataOptions {
  /** `--data PATH`: a CSV / CSV.GZ file or an image folder. */
  data?: string;
  /** Project root holding `data/` (default: the current directory). */
  root?: string;
  /** Skip bad rows/images instead of failing (they are logged). */
  skipBad?: boolean;
  /** Makes the stand-in data set when no FER2013 is found. */
  synthetic: () => Fer2013;
  /** Where notices go (default: stderr, keeping stdout for results). */
  log?: (msg: string) => void;
  /** Progress of the loader: bytes (CSV) or images (folder) done of total. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link loadData} found and loaded. */
export interface DataChoice {
  data: Fer2013;
  kind: DataKind;
  /** The file or folder read (absent for synthetic data). */
  path?: string;
  /** Notes from the loader and the locator, already logged. */
  notes: string[];
  /** Rows or images skipped under `skipBad`, already logged. */
  skipped: SkippedRow[];
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new DataError(path, null, `cannot read: ${(e as Error).message}`);
  }
}

/**
 * Picks the data source without loading it: the `--data` path (which must
 * exist), else the first of {@link DEFAULT_DATA_PATHS} under `root`, else
 * synthetic. `notes` mentions default paths that were present but passed over.
 */
export async function locateData(
  opts: { data?: string; root?: string },
): Promise<{ kind: DataKind; path?: string; notes: string[] }> {
  if (opts.data !== undefined) {
    const info = await statOrNull(opts.data);
    if (info === null) {
      throw new DataError(
        opts.data,
        null,
        "not found (given by --data; expected a .csv or .csv.gz file or an image folder)",
      );
    }
    return {
      kind: info.isDirectory ? "folder" : "csv",
      path: opts.data,
      notes: [],
    };
  }
  const root = opts.root ?? ".";
  const found: { path: string; info: Deno.FileInfo }[] = [];
  for (const rel of DEFAULT_DATA_PATHS) {
    const path = join(root, rel);
    const info = await statOrNull(path);
    if (info !== null) found.push({ path, info });
  }
  if (found.length === 0) return { kind: "synthetic", notes: [] };
  const [first, ...rest] = found;
  return {
    kind: first.info.isDirectory ? "folder" : "csv",
    path: first.path,
    notes: rest.map((r) => `also found ${r.path}; using ${first.path}.`),
  };
}

/**
 * Finds and loads the data set (see {@link locateData}), logging notes, the
 * synthetic-data notice and any skipped rows. Bad input throws
 * {@link DataError}.
 */
export async function loadData(opts: LoadDataOptions): Promise<DataChoice> {
  const log = opts.log ?? ((msg: string) => console.error(msg));
  const where = await locateData(opts);
  if (where.kind === "synthetic") {
    log(SYNTHETIC_NOTICE);
    return {
      data: opts.synthetic(),
      kind: "synthetic",
      notes: [SYNTHETIC_NOTICE],
      skipped: [],
    };
  }
  const path = where.path as string;
  const loadOpts = { skipBad: opts.skipBad, onProgress: opts.onProgress };
  const loaded = where.kind === "folder"
    ? await loadFer2013Folder(path, loadOpts)
    : await loadFer2013Csv(path, loadOpts);
  const notes = [...where.notes, ...loaded.notes];
  for (const note of notes) log(`NOTE: ${note}`);
  if (loaded.skipped.length > 0) log(describeSkipped(path, loaded.skipped));
  const { pixels, labels, usage, n, source } = loaded;
  return {
    data: { pixels, labels, usage, n, source },
    kind: where.kind,
    path,
    notes,
    skipped: loaded.skipped,
  };
}
