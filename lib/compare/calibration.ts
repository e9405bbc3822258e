/**
 * Calibration side by side: the test accuracy, NLL and ECE of results already
 * written to the same output folder, so that an experiment's report sets its
 * calibration beside the others' (03's against 01 and 02).
 *
 * @example
 * ```ts
 * const section = await calibrationComparison("reports", ["01_baseline", "02_tuned", "03_deep"]);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { overconfidence, type ReliabilityBin } from "../eval/calibration.ts";
import { fmtNumber, fmtOverconfidence, mdTable, pct } from "../report/markdown.ts";
import { readResultJson, ResultFileError } from "./results.ts";

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
    let r: ReportJson & { unfinished?: string } | undefined;
    try {
      r = await readResultJson(path) as typeof r;
    } catch (e) {
      if (!(e instanceof ResultFileError)) throw e;
      missing.push(`${name} (unreadable: ${path} is not valid JSON)`);
      continue;
    }
    if (r === undefined) {
      missing.push(`${name} (no report here)`);
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
