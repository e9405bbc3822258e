/**
 * A search as a report section: the space, every trial's hyper-parameters
 * and score in a table, a Vega-Lite chart of the scores, and the winner.
 *
 * @example
 * ```ts
 * const extras = searchReport(result, space, { name: "02_tuned", title: "Experiment 02" });
 * await exp.finish(model, training, extras); // section, chart and JSON land in the experiment's report
 * ```
 *
 * @module
 */
import type { ReportExtras } from "../harness/report.ts";
import { type ChartSpec, VEGA_LITE_SCHEMA } from "../report/charts.ts";
import { fmtSeconds, mdTable } from "../report/markdown.ts";
import { chartRef } from "../report/write.ts";
import { describeParam, type SearchSpace } from "./space.ts";
import { ranked, type SearchResult, type TrialRecord } from "./search.ts";

/** A value as a table cell: floats to 4 significant digits without trailing zeros (0.1, 0.004074). */
function cell(v: unknown): string {
  if (typeof v === "number" && !Number.isInteger(v)) {
    return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
  }
  return String(v);
}

/** Every trial's score against its number, coloured by its epoch budget, the hyper-parameters in the tooltip. */
export function searchChart<V>(result: SearchResult<V>, { title = "Search" }: { title?: string } = {}): ChartSpec {
  const names = Object.keys(result.trials[0]?.values ?? {});
  const values = result.trials.map((t) => ({
    trial: t.number,
    score: Number.isFinite(t.score) ? t.score : null,
    epochs: t.epochs,
    best: t.number === result.best.number ? "winner" : "trial",
    ...Object.fromEntries(names.map((n) => [n, (t.values as Record<string, unknown>)[n]])),
  }));
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    data: { values },
    width: 480,
    height: 300,
    mark: { type: "point", filled: true, size: 80 },
    encoding: {
      x: { field: "trial", type: "quantitative", title: "trial" },
      y: { field: "score", type: "quantitative", title: result.objective.name, scale: { zero: false } },
      color: { field: "epochs", type: "ordinal", title: "epochs" },
      shape: { field: "best", type: "nominal", title: null, scale: { domain: ["trial", "winner"] } },
      tooltip: [
        { field: "trial", type: "quantitative" },
        { field: "score", type: "quantitative", format: ".4f" },
        { field: "epochs", type: "quantitative" },
        ...names.map((n) => ({ field: n, type: "nominal" as const })),
      ],
    },
  } as ChartSpec;
}

/** The search's section, chart and JSON for {@link ReportExtras}. */
export function searchReport<V>(
  result: SearchResult<V>,
  space: SearchSpace,
  { name, title }: { name: string; title: string },
): ReportExtras {
  const names = Object.keys(space);
  const best = result.best;
  const row = (t: TrialRecord<V>) => [
    t.number === best.number ? `**${t.number}**` : String(t.number),
    ...names.map((n) => cell((t.values as Record<string, unknown>)[n])),
    String(t.epochs),
    `${t.history.length} (best ${t.bestEpoch})`,
    cell(t.score),
    fmtSeconds(t.seconds),
  ];
  const seconds = result.trials.reduce((a, t) => a + t.seconds, 0);
  const section = [
    "## Search",
    "",
    `${result.oracle}, objective: ${result.objective.direction}imise ${result.objective.name} (best epoch of each ` +
    `trial). ${result.trials.length} trials${
      result.complete ? "" : " — **the search was cut short**; resume it with --resume"
    }` +
    `${result.replayed ? ` (${result.replayed} read back from disk, not re-run)` : ""}; ${fmtSeconds(seconds)} of ` +
    "training in all.",
    "",
    mdTable(
      ["hyper-parameter", "space", "winner"],
      names.map((n) => [
        n,
        describeParam(space[n]),
        cell((best.values as Record<string, unknown>)[n]),
      ]),
    ),
    "",
    `Winner: trial ${best.number}, ${result.objective.name} ${cell(best.score)} after ${best.bestEpoch} of ` +
    `${best.epochs} epochs.`,
    "",
    chartRef(name, "search"),
    "",
    "Every trial, in the order run (ranked list in the JSON):",
    "",
    mdTable(["trial", ...names, "epochs", "ran", result.objective.name, "time"], result.trials.map(row)),
  ].join("\n");
  return {
    sections: [section],
    charts: { search: searchChart(result, { title: `${title}: search` }) },
    json: {
      search: {
        oracle: result.oracle,
        objective: result.objective,
        complete: result.complete,
        replayed: result.replayed,
        space,
        best: { number: best.number, values: best.values, score: best.score, epochs: best.epochs },
        ranking: ranked(result.trials, result.objective).map((t) => t.number),
        trials: result.trials,
      },
    },
  };
}
