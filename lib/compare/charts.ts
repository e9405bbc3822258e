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
import { REPLICA_SUFFIX } from "./results.ts";

/** "01_baseline" → "01 baseline". */
export function shortName(name: string): string {
  return name.replace(/_/g, " ");
}

/** A member in an ensemble's label: its experiment's number, and a replica's seed ("06_crops_seed43" → "06s43"). */
export function memberLabel(name: string): string {
  const seed = REPLICA_SUFFIX.exec(name);
  return `${name.slice(0, 2)}${seed ? `s${seed[1]}` : ""}`;
}

/**
 * Label of an ensemble score, e.g. "ensemble 01+03, flip TTA"; with
 * `protocol`, led by its protocol ("official ensemble 05+06, crops TTA"),
 * which tells the rows apart where ensembles of several protocols stand together.
 */
export function ensembleLabel(e: EnsembleResult, tta: string, protocol = false): string {
  const who = e.members.map(memberLabel).join("+");
  return `${protocol ? `${e.split.protocol} ` : ""}ensemble ${who}${tta === "none" ? "" : `, ${tta} TTA`}`;
}

/** One ensemble's outcome or several, as the comparison takes them. */
export type Ensembles = EnsembleOutcome | readonly EnsembleOutcome[];

/** The outcomes of `e`, as a list. */
export function ensembleList(e: Ensembles): readonly EnsembleOutcome[] {
  return Array.isArray(e) ? e : [e as EnsembleOutcome];
}

/** Whether the labels of `ensembles` need their protocol: when more than one protocol is shown. */
export function labelProtocols(ensembles: readonly EnsembleResult[]): boolean {
  return new Set(ensembles.map((e) => e.split.protocol)).size > 1;
}

/**
 * Test accuracy of each experiment's main run (ours) beside the study's, plus
 * the ensembles' scores when there are any; never the ablations, whose short or
 * crippled runs would stand beside the study's numbers as if they were results.
 *
 * @throws RangeError when there is nothing to plot.
 */
export function comparisonChart(runs: Runs, ensemble?: EnsembleResult | readonly EnsembleResult[]): ChartSpec {
  const rows: BarRow[] = [];
  for (const r of runs.mains) {
    if (r.studyAccuracy !== undefined) rows.push({ name: shortName(r.name), value: r.studyAccuracy, group: "study" });
    rows.push({ name: shortName(r.name), value: r.testAccuracy, group: "ours" });
  }
  const ensembles = ensemble === undefined ? [] : Array.isArray(ensemble) ? ensemble : [ensemble as EnsembleResult];
  const protocol = labelProtocols(ensembles);
  for (const e of ensembles) {
    for (const s of e.scores) rows.push({ name: ensembleLabel(e, s.tta, protocol), value: s.accuracy, group: "ours" });
  }
  return barChart(rows, {
    title: "Test accuracy: ours beside the study's",
    xTitle: "experiment",
    yTitle: "test accuracy",
    format: ".2%",
  });
}

/** The ensembles that have rows, for {@link comparisonChart}. */
export function okEnsembles(e: Ensembles): EnsembleResult[] {
  return ensembleList(e).flatMap((o) => (o.ok ? [o.ensemble] : []));
}

/** Whether {@link comparisonChart} has bars to draw: none when only ablations have run. */
export function hasComparisonChart(runs: Runs, ensemble: Ensembles): boolean {
  return runs.mains.length > 0 || ensembleList(ensemble).some((o) => o.ok);
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
