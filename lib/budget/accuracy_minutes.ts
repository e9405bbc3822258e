/**
 * Accuracy against training minutes for every experiment report in a folder
 * that has a training history: which recipe buys the most accuracy per
 * minute of CPU. Reports are other scripts' JSON, written by other versions
 * of the code, so each is read defensively: anything without a usable history
 * is skipped and named, never fatal.
 *
 * @example
 * ```ts
 * const { series, skipped } = await readHistories("reports");
 * const chart = accuracyVsMinutesChart(series);
 * ```
 *
 * @module
 */
import { readResultJsons, validationHistory } from "../compare/results.ts";
import { type ChartSpec, validationTestChart } from "../report/charts.ts";
import { fmtInt, mdTable, pct } from "../report/markdown.ts";

/** One report's validation accuracy after each epoch, against cumulative training minutes. */
export interface HistorySeries {
  /** Report name, e.g. "01_baseline". */
  name: string;
  /** "synthetic", or the data source. */
  data: string;
  protocol: string;
  points: { epoch: number; minutes: number; valAcc: number }[];
  /** Final test accuracy, when the report has one. */
  testAccuracy?: number;
  cutShort: boolean;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined;

/**
 * The series of one parsed report JSON, or a reason why it has none. Epoch
 * minutes are cumulative sums of each epoch's recorded seconds, so a resumed
 * run counts every session's training and nothing else.
 */
export function seriesOf(name: string, json: unknown): HistorySeries | string {
  const history = validationHistory(json);
  if (typeof history === "string") return history;
  const r = obj(json)!;
  const points = history.map(({ epoch, seconds, valAcc }) => ({ epoch, minutes: seconds / 60, valAcc }));
  const data = obj(r.data);
  return {
    name: typeof r.name === "string" ? r.name : name,
    data: data?.kind === "synthetic" ? "synthetic" : String(data?.source ?? "unknown"),
    protocol: String(obj(r.split)?.protocol ?? obj(r.config)?.protocol ?? "unknown"),
    points,
    testAccuracy: num(r.testAccuracy),
    cutShort: obj(r.training)?.cutShort === true,
  };
}

/**
 * Every `NN_*.json` report in `outDir` with a history, sorted by name, and the
 * files skipped with why. `current`, the run being reported (whose JSON is not
 * written yet; the same fields as a report's), replaces any older report of the
 * same name.
 */
export async function readHistories(
  outDir: string,
  current?: { name: string; json: unknown },
): Promise<{ series: HistorySeries[]; skipped: string[] }> {
  const series: HistorySeries[] = [];
  const skipped: string[] = [];
  for (const { file, name, json, error } of await readResultJsons(outDir)) {
    if (error) {
      skipped.push(`${file}: not readable JSON (${error.message})`);
      continue;
    }
    if (name === current?.name) continue;
    const s = seriesOf(name, json);
    if (typeof s === "string") skipped.push(`${file}: ${s}`);
    else series.push(s);
  }
  if (current) {
    const s = seriesOf(current.name, current.json);
    if (typeof s === "string") skipped.push(`${current.name} (this run): ${s}`);
    else series.push(s);
  }
  series.sort((a, b) => a.name.localeCompare(b.name));
  return { series, skipped };
}

/**
 * Validation accuracy against cumulative training minutes, one line per
 * report, with each report's final test accuracy as a larger point at its
 * last minute. Validation sets differ between protocols; the legend names
 * each report's data and protocol.
 */
export function accuracyVsMinutesChart(
  series: HistorySeries[],
  title = "Accuracy against training minutes",
): ChartSpec {
  const label = (s: HistorySeries) => `${s.name} (${s.data === "synthetic" ? "synthetic" : s.protocol})`;
  const values = series.flatMap((s) => [
    ...s.points.map((p) => ({ report: label(s), minutes: p.minutes, accuracy: p.valAcc, kind: "validation" })),
    ...(s.testAccuracy !== undefined
      ? [{ report: label(s), minutes: s.points.at(-1)!.minutes, accuracy: s.testAccuracy, kind: "final test" }]
      : []),
  ]);
  return validationTestChart({
    title,
    values,
    x: { field: "minutes", title: "training minutes (sum of epoch times)" },
    color: "report",
    testKind: "final test",
    tooltip: ["report"],
  });
}

/** A table of the same series: epochs, training minutes, best validation and final test accuracy. */
export function minutesTable(series: HistorySeries[]): string {
  return mdTable(
    ["report", "data", "protocol", "epochs", "training min", "best val acc", "test acc"],
    series.map((s) => [
      s.name + (s.cutShort ? " (cut short)" : ""),
      s.data,
      s.protocol,
      fmtInt(s.points.length),
      s.points.at(-1)!.minutes.toFixed(1),
      pct(Math.max(...s.points.map((p) => p.valAcc))),
      s.testAccuracy !== undefined ? pct(s.testAccuracy) : "–",
    ]),
  );
}
