/**
 * What every FER2013 loader (CSV, image folder) hands back: the data plus the
 * rows it skipped and any notes the user should see. Kept apart so the two
 * loaders and the data locator share one shape without importing each other.
 *
 * @module
 */
import type { Fer2013 } from "./fer2013.ts";

/** One input row or image that a loader skipped because `skipBad` was set. */
export interface SkippedRow {
  /** 1-based data row number (CSV) or 1-based index in the sorted file list (folder). */
  row: number;
  /** Where it is, ready to print: `row 17 (line 18)` or the image path. */
  where: string;
  /** What was wrong with it. */
  problem: string;
}

/** A loaded data set with what the loader skipped and wants the user to know. */
export type LoadResult = Fer2013 & {
  /** Rows or images left out because of `skipBad` (empty otherwise). */
  skipped: SkippedRow[];
  /** Facts about how the input was read (e.g. "no Usage column, all Training"). */
  notes: string[];
};

/** Options shared by the loaders. */
export interface LoadOptions {
  /** Skip bad rows/images (recorded in `skipped`) instead of throwing. */
  skipBad?: boolean;
  /** Called as work advances: (bytes or images done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** Formats skipped rows for a log: the count and the first `max` with their problems. */
export function describeSkipped(
  source: string,
  skipped: SkippedRow[],
  max = 5,
): string {
  const lines = [
    `skipped ${skipped.length} bad ${skipped.length === 1 ? "entry" : "entries"} of ${source}:`,
  ];
  for (const s of skipped.slice(0, max)) {
    lines.push(`  ${s.where}: ${s.problem}`);
  }
  if (skipped.length > max) {
    lines.push(`  … and ${skipped.length - max} more`);
  }
  return lines.join("\n");
}
