/**
 * Charts of the comparison and of the HTML view: ours beside the study's
 * accuracy, and tooltips for interactive viewing.
 * Pure functions returning Vega-Lite specs with inline data.
 *
 * @module
 */
import { barChart, type BarRow, type ChartSpec } from "../report/charts.ts";
import type { EnsembleOutcome, EnsembleResult } from "./ensemble_row.ts";
import type { Runs } from "./comparison.ts";

/** "01_baseline" → "01 baseline". */
export function shortName(name: string): string {
  return name.replace(/_/g, " ");
}

/** Label of an ensemble score, e.g. "ensemble 01+03, flip TTA". */
export function ensembleLabel(e: EnsembleResult, tta: string): string {
  const who = e.members.map((m) => m.slice(0, 2)).join("+");
  return `ensemble ${who}${tta === "none" ? "" : `, ${tta} TTA`}`;
}

/**
 * Test accuracy of each experiment's main run (ours) beside the study's, plus
 * the ensemble's scores when there are any; never the ablations, whose short or
 * crippled runs would stand beside the study's numbers as if they were results.
 *
 * @throws RangeError when there is nothing to plot.
 */
export function comparisonChart(runs: Runs, ensemble?: EnsembleResult): ChartSpec {
  const rows: BarRow[] = [];
  for (const r of runs.mains) {
    if (r.studyAccuracy !== undefined) rows.push({ name: shortName(r.name), value: r.studyAccuracy, group: "study" });
    rows.push({ name: shortName(r.name), value: r.testAccuracy, group: "ours" });
  }
  for (const s of ensemble?.scores ?? []) {
    rows.push({ name: ensembleLabel(ensemble!, s.tta), value: s.accuracy, group: "ours" });
  }
  return barChart(rows, {
    title: "Test accuracy: ours beside the study's",
    xTitle: "experiment",
    yTitle: "test accuracy",
    format: ".2%",
  });
}

/** Whether {@link comparisonChart} has bars to draw: none when only ablations have run. */
export function hasComparisonChart(runs: Runs, ensemble: EnsembleOutcome): boolean {
  return runs.mains.length > 0 || ensemble.ok;
}

/**
 * A copy of `spec` whose marks show the datum under the pointer in a
 * tooltip (line marks on their points, where the values are).
 */
export function withTooltips(spec: ChartSpec): ChartSpec {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== "object") return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = k === "data" ? v : walk(v);
    if ("mark" in out) {
      const mark = typeof out.mark === "string" ? { type: out.mark } : { ...(out.mark as object) };
      const m = mark as Record<string, unknown>;
      if (m.tooltip === undefined) m.tooltip = { content: "data" };
      if (m.point === true) m.point = { tooltip: { content: "data" } };
      out.mark = m;
    }
    return out;
  };
  return walk(spec) as ChartSpec;
}
