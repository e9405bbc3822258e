/**
 * Charts of the comparison and of the HTML view: ours beside the study's
 * accuracy, the reliability diagram, and tooltips for interactive viewing.
 * Pure functions returning Vega-Lite specs with inline data.
 *
 * @module
 */
import { barChart, type BarRow, CHART_WIDTH, type ChartSpec, VEGA_LITE_SCHEMA } from "../report/charts.ts";
import type { EnsembleResult } from "./ensemble_row.ts";
import type { CalibrationSummary, ExperimentResult } from "./results.ts";

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
 * Test accuracy of each experiment (ours) beside the study's, plus the
 * ensemble's scores when there are any.
 *
 * @throws RangeError when there is nothing to plot.
 */
export function comparisonChart(results: readonly ExperimentResult[], ensemble?: EnsembleResult): ChartSpec {
  const rows: BarRow[] = [];
  for (const r of results) {
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

/**
 * The reliability diagram: accuracy against mean confidence per confidence
 * bin (bars sized by count in the tooltip), with the diagonal of perfect
 * calibration.
 */
export function reliabilityDiagram(
  bins: NonNullable<CalibrationSummary["bins"]>,
  { title = "Reliability diagram" }: { title?: string } = {},
): ChartSpec {
  const values = bins.filter((b) => b.count > 0).map((b) => ({
    lo: b.lo,
    hi: b.hi,
    confidence: b.confidence,
    accuracy: b.accuracy,
    count: b.count,
  }));
  const unit = { type: "quantitative" as const, scale: { domain: [0, 1] }, axis: { format: ".0%" } };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: CHART_WIDTH * 0.6,
    height: CHART_WIDTH * 0.6,
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: "line", color: "#999", strokeDash: [4, 4] },
        encoding: { x: { field: "x", ...unit, title: "confidence" }, y: { field: "y", ...unit, title: "accuracy" } },
      },
      {
        data: { values },
        mark: { type: "rect", opacity: 0.75 },
        encoding: {
          x: { field: "lo", ...unit },
          x2: { field: "hi" },
          y: { datum: 0, type: "quantitative" as const },
          y2: { field: "accuracy" },
          tooltip: [
            { field: "lo", type: "quantitative", format: ".2f", title: "from" },
            { field: "hi", type: "quantitative", format: ".2f", title: "to" },
            { field: "confidence", type: "quantitative", format: ".1%" },
            { field: "accuracy", type: "quantitative", format: ".1%" },
            { field: "count", type: "quantitative" },
          ],
        },
      },
    ],
  } as unknown as ChartSpec;
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
