/**
 * Splits cached on disk, keyed by the data's fingerprint and the split
 * settings, so that every experiment on the same data trains and tests on the
 * very same rows (as the original study did) and nobody recomputes them.
 *
 * File format (`<key>.split`, little-endian):
 *
 *     bytes 0–7   magic "FERSPLT1"
 *     bytes 8–11  uint32 header length H
 *     12 … 12+H   UTF-8 JSON header (see {@link SplitCacheHeader})
 *     padding     zero bytes up to a multiple of 4
 *     int32 × (train + val + test)   the row indices, part after part
 *
 * Files are written to a temporary name and renamed into place, so a reader
 * never sees half a file; a file that fails validation is rebuilt.
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../atomic_write.ts";
import type { Fer2013 } from "./fer2013.ts";
import { fingerprint as computeFingerprint } from "./fingerprint.ts";
import { makeSplit, type Split, type SplitSettings, validateSplitSettings } from "./split.ts";

/** Where splits are cached unless told otherwise (relative to the working directory). */
export const DEFAULT_SPLIT_CACHE_DIR = ".cache/splits";

const MAGIC = "FERSPLT1";
const FORMAT_VERSION = 1;

/** The JSON header of a cached split file. */
export interface SplitCacheHeader {
  format: "ferlab-split";
  version: number;
  key: string;
  fingerprint: string;
  settings: SplitSettings;
  /** Rows in the data set the split indexes. */
  n: number;
  counts: { train: number; val: number; test: number };
  notes: string[];
}

/** Options of {@link loadOrMakeSplit}. */
export interface SplitCacheOptions {
  /** Cache folder, created if missing (default {@link DEFAULT_SPLIT_CACHE_DIR}). */
  cacheDir?: string;
  /** The data's fingerprint if already known (saves hashing the pixels again). */
  fingerprint?: string;
}

/** What {@link loadOrMakeSplit} hands back. */
export interface CachedSplit {
  split: Split;
  /** The cache key: fingerprint and settings, readable in a file name. */
  key: string;
  /** True when the split was read from the cache, false when it was (re)built. */
  cached: boolean;
  /** The cache file. */
  path: string;
}

/**
 * The cache key for a data fingerprint and split settings, e.g.
 * `3f2a9c0d1e4b5a67-study-0.8_0.1_0.1-s42`. Readable on purpose: a glance at
 * the cache folder says which splits exist.
 */
export function splitKey(fingerprint: string, settings: SplitSettings): string {
  const f = settings.fractions;
  const raw = `${fingerprint}-${settings.protocol}-${f.train}_${f.val}_${f.test}-s${settings.seed}`;
  return raw.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Returns the split of `data` for `settings`, from the cache when a valid
 * file exists, otherwise made with {@link makeSplit} and written to the cache.
 * A cache file that is corrupt or does not match is rebuilt, and the returned
 * notes say so; failing to write the cache is also reported in the notes
 * rather than failing the run.
 */
export async function loadOrMakeSplit(
  data: Fer2013,
  settings: SplitSettings,
  options: SplitCacheOptions = {},
): Promise<CachedSplit> {
  validateSplitSettings(settings);
  const fp = options.fingerprint ?? computeFingerprint(data);
  const key = splitKey(fp, settings);
  const dir = options.cacheDir ?? DEFAULT_SPLIT_CACHE_DIR;
  const path = join(dir, `${key}.split`);

  let problem: string | null = null;
  let bytes: Uint8Array | null = null;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      problem = `unreadable: ${errorText(err)}`;
    }
  }
  if (bytes) {
    const decoded = decodeSplit(bytes);
    if (typeof decoded === "string") {
      problem = decoded;
    } else {
      problem = checkAgainst(decoded.header, key, fp, settings, data.n) ??
        checkIndices(decoded.split, data.n);
      if (problem === null) {
        return { split: decoded.split, key, cached: true, path };
      }
    }
  }

  const split = makeSplit(data, settings);
  if (problem !== null) {
    split.notes.push(`split cache ${path} was ${problem}; rebuilt it`);
  }
  const header: SplitCacheHeader = {
    format: "ferlab-split",
    version: FORMAT_VERSION,
    key,
    fingerprint: fp,
    settings: structuredClone(settings),
    n: data.n,
    counts: {
      train: split.train.length,
      val: split.val.length,
      test: split.test.length,
    },
    // Notes about this rebuild belong to this run, not to later cache hits.
    notes: split.notes.filter((note) => !note.startsWith("split cache ")),
  };
  try {
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(path, encodeSplit(header, split));
  } catch (err) {
    split.notes.push(`could not write split cache ${path}: ${errorText(err)}`);
  }
  return { split, key, cached: false, path };
}

/** Serializes a split and its header into the cache file format. */
export function encodeSplit(
  header: SplitCacheHeader,
  split: Split,
): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerEnd = 12 + json.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const total = split.train.length + split.val.length + split.test.length;
  const bytes = new Uint8Array(dataStart + 4 * total);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, json.length, true);
  bytes.set(json, 12);
  let at = dataStart;
  for (const part of [split.train, split.val, split.test]) {
    for (let i = 0; i < part.length; i++, at += 4) {
      view.setInt32(at, part[i], true);
    }
  }
  return bytes;
}

/**
 * Parses a cache file. Returns the header and split, or a string saying what
 * is wrong with the bytes (never throws on bad input).
 */
export function decodeSplit(
  bytes: Uint8Array,
): { header: SplitCacheHeader; split: Split } | string {
  if (bytes.length < 12) return `truncated (${bytes.length} bytes)`;
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    return "not a split file (bad magic)";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) return "truncated inside its header";
  let header: SplitCacheHeader;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(12, 12 + headerLength),
    ));
  } catch {
    return "corrupt (header is not valid JSON)";
  }
  if (header?.format !== "ferlab-split") return "not a split file (bad header)";
  if (header.version !== FORMAT_VERSION) {
    return `format version ${header.version}, expected ${FORMAT_VERSION}`;
  }
  const c = header.counts;
  if (
    ![c?.train, c?.val, c?.test].every((k) => Number.isInteger(k) && k >= 0)
  ) {
    return "corrupt (bad counts in header)";
  }
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  const expected = dataStart + 4 * (c.train + c.val + c.test);
  if (bytes.length !== expected) {
    return `corrupt (${bytes.length} bytes, header implies ${expected})`;
  }
  let at = dataStart;
  const read = (k: number): Int32Array => {
    const out = new Int32Array(k);
    for (let i = 0; i < k; i++, at += 4) out[i] = view.getInt32(at, true);
    return out;
  };
  const train = read(c.train);
  const val = read(c.val);
  const test = read(c.test);
  const notes = Array.isArray(header.notes) ? header.notes.map(String) : [];
  return { header, split: { train, val, test, notes } };
}

function checkAgainst(
  header: SplitCacheHeader,
  key: string,
  fp: string,
  settings: SplitSettings,
  n: number,
): string | null {
  if (header.key !== key || header.fingerprint !== fp) {
    return `for other data or settings (key ${header.key})`;
  }
  if (
    JSON.stringify(normalize(header.settings)) !==
      JSON.stringify(normalize(settings))
  ) {
    return "made with other settings";
  }
  if (header.n !== n) return `made for ${header.n} rows, the data has ${n}`;
  return null;
}

function normalize(s: SplitSettings) {
  const f = s?.fractions;
  return [s?.protocol, f?.train, f?.val, f?.test, s?.seed];
}

/** Checks that every index is in range and that no row is in two parts (or twice in one). */
function checkIndices(split: Split, n: number): string | null {
  const seen = new Uint8Array(n);
  for (
    const [name, part] of Object.entries({
      train: split.train,
      val: split.val,
      test: split.test,
    })
  ) {
    for (const r of part) {
      if (r < 0 || r >= n) {
        return `corrupt (${name} holds row ${r}, data has ${n} rows)`;
      }
      if (seen[r]) return `corrupt (row ${r} appears twice)`;
      seen[r] = 1;
    }
  }
  return null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
