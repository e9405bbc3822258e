/**
 * Side-by-side numbers of experiment reports already written to the same
 * output folder, read from their JSON: used by an experiment to set its
 * result beside others' (e.g. 03's calibration against 01 and 02).
 *
 * @example
 * ```ts
 * const section = await calibrationComparison("reports", ["01_baseline", "02_tuned", "03_deep"]);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { exists } from "../atomic_write.ts";
import { listMatching, RESULT_RE } from "../compare/results.ts";
import { overconfidence, type ReliabilityBin } from "../eval/calibration.ts";
import { fmtNumber, fmtOverconfidence, mdTable, pct } from "../report/markdown.ts";

/**
 * The names of the ablation reports of experiment `name` in `outDir` (e.g. "03_deep_ls0_10ep" for "03_deep"),
 * sorted; an ablation is a result file `<name>_<suffix>.json` whose own `name` field says so.
 *
 * @example
 * ```ts
 * const ablations = await ablationReports("reports", "03_deep"); // ["03_deep_10ep", "03_deep_ls0_10ep"]
 * ```
 */
export async function ablationReports(outDir: string, name: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of await listMatching(outDir, RESULT_RE)) {
    const stem = file.replace(/\.json$/, "");
    if (!stem.startsWith(`${name}_`)) continue;
    const r = await readJson<{ name?: unknown }>(join(outDir, file));
    if (r?.name === stem) found.push(stem);
  }
  return found;
}

/** A JSON file's value, or undefined when it does not parse: a broken neighbour must not sink a finished run. */
async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/** The fields of a report's JSON this comparison reads. */
interface ReportJson {
  name: string;
  testAccuracy: number;
  config: { epochs: number; labelSmoothing?: number };
  data: { kind: string; source: string };
  training: { history: unknown[]; cutShort: boolean };
  test: { n: number; calibration?: { nll: number; ece: number; bins?: ReliabilityBin[] } };
}

/**
 * A Markdown section comparing test accuracy, NLL and ECE of the named
 * reports found in `outDir` (missing, unfinished or unreadable ones are listed as such), or null when
 * none is there. Reports on different data are flagged: their numbers do not
 * compare.
 */
export async function calibrationComparison(outDir: string, names: string[]): Promise<string | null> {
  const rows: string[][] = [];
  const missing: string[] = [];
  for (const name of names) {
    const path = join(outDir, `${name}.json`);
    if (!await exists(path)) {
      missing.push(`${name} (no report here)`);
      continue;
    }
    const r = await readJson<ReportJson & { unfinished?: string }>(path);
    if (!r) {
      missing.push(`${name} (unreadable: ${path} is not valid JSON)`);
      continue;
    }
    // An unfinished run (e.g. a search cut short by --max-minutes) has no test evaluation to compare.
    if (!r.test) {
      missing.push(`${name} (unfinished${r.unfinished ? `: ${r.unfinished}` : ""})`);
      continue;
    }
    const c = r.test.calibration;
    rows.push([
      name,
      `${r.data.kind === "synthetic" ? "synthetic" : r.data.source}`,
      `${r.training.history.length} of ${r.config.epochs}${r.training.cutShort ? " (cut short)" : ""}`,
      String(r.config.labelSmoothing ?? 0),
      pct(r.testAccuracy),
      c ? fmtNumber(c.nll, 4) : "not recorded",
      c ? pct(c.ece) : "not recorded",
      c?.bins ? fmtOverconfidence(overconfidence(c.bins)) : "not recorded",
    ]);
  }
  if (rows.length === 0) return null;
  return [
    "## Calibration beside the other experiments",
    "",
    "Test-set numbers from the reports in this folder (lower NLL and ECE = better calibrated; confidence − accuracy " +
    "says which way a model is off: over- or underconfident). Only rows on the same data compare.",
    "",
    mdTable(["report", "data", "epochs", "label smoothing", "test acc", "NLL", "ECE", "confidence − accuracy"], rows),
    missing.length ? `\nNot compared: ${missing.join(", ")}.` : "",
  ].join("\n");
}
