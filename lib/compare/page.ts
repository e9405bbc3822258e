/**
 * The blocks of the HTML view (`index.html`): the comparison as in the
 * Markdown page, then a section per experiment with its interactive charts.
 *
 * @module
 */
import { EMOTIONS } from "../data/fer2013.ts";
import { type ChartSpec, confusionChart, learningCurves, reliabilityDiagram } from "../report/charts.ts";
import type { Block } from "../report/html.ts";
import { fmtInt, pct } from "../report/markdown.ts";
import { comparisonChart, hasComparisonChart, okEnsembles, withTooltips } from "./charts.ts";
import {
  ABLATIONS_NOTE,
  ablationTable,
  benchTable,
  type ComparisonInput,
  comparisonTable,
  ensembleNotes,
  epochsCell,
  splitRuns,
} from "./comparison.ts";
import type { ExperimentResult } from "./results.ts";

/** Chart ids must start with a letter; result names start with digits. */
const chartId = (name: string, chart: string) => `x${name}-${chart}`;

/** The charts of one experiment, interactive, by id. */
export function experimentCharts(r: ExperimentResult): { id: string; spec: ChartSpec }[] {
  const charts: { id: string; spec: ChartSpec }[] = [];
  if (r.history.length) {
    charts.push({
      id: chartId(r.name, "curves"),
      spec: withTooltips(learningCurves(r.history, { title: `${r.title}: learning curves` })),
    });
  }
  if (r.confusion && r.confusion.length === EMOTIONS.length) {
    charts.push(
      {
        id: chartId(r.name, "confusion"),
        spec: withTooltips(confusionChart(r.confusion, EMOTIONS, { title: "test confusion (counts)" })),
      },
      {
        id: chartId(r.name, "recall"),
        spec: withTooltips(
          confusionChart(r.confusion, EMOTIONS, { normalize: true, title: "test confusion (row-normalised recall)" }),
        ),
      },
    );
  }
  if (r.calibration?.bins?.length) {
    charts.push({
      id: chartId(r.name, "reliability"),
      spec: reliabilityDiagram(r.calibration.bins, { title: "test reliability (15 bins)" }),
    });
  }
  return charts;
}

/** The whole page, top to bottom. */
export function comparisonBlocks(input: ComparisonInput): Block[] {
  const { results, problems, pending, ensemble, bench } = input;
  const runs = splitRuns(results, pending);
  const blocks: Block[] = [
    { kind: "heading", text: "ferlab: the comparison", level: 1 },
    {
      kind: "paragraph",
      text: "Every experiment's test accuracy beside the student study's number, rebuilt by `deno task report` " +
        "from the result files beside this page: one row per experiment (its main run), then the ensembles; the " +
        "ablations follow in their own section. Hover a chart for its values. Markdown version: [README.md](README.md).",
    },
  ];
  if (results.some((r) => r.data.kind === "synthetic")) {
    blocks.push({
      kind: "paragraph",
      text: "Some results are on ferlab's **synthetic** faces: not comparable with the study's FER2013 numbers.",
    });
  }
  if (results.length) {
    const t = comparisonTable(runs, ensemble);
    blocks.push(
      { kind: "table", headers: t.headers, align: t.align, rows: t.rows },
      ...ensembleNotes(ensemble).map((text): Block => ({ kind: "paragraph", text })),
    );
    if (hasComparisonChart(runs, ensemble)) {
      blocks.push({
        kind: "chart",
        id: "comparison",
        spec: withTooltips(comparisonChart(runs, okEnsembles(ensemble))),
      });
    }
    if (runs.ablations.length) {
      const a = ablationTable(runs);
      blocks.push(
        { kind: "heading", text: "Ablations" },
        { kind: "paragraph", text: ABLATIONS_NOTE },
        { kind: "table", headers: a.headers, align: a.align, rows: a.rows },
      );
    }
  } else {
    blocks.push({ kind: "paragraph", text: "No experiment results yet: run `deno task main`." });
  }
  if (pending.length) blocks.push({ kind: "paragraph", text: `Not run yet: ${pending.join(", ")}.` });
  if (problems.length) blocks.push({ kind: "paragraph", text: "Left out:" }, { kind: "list", items: problems });
  blocks.push({ kind: "heading", text: "Speed" });
  if ("problem" in bench) {
    blocks.push({ kind: "paragraph", text: `No speed summary: ${bench.problem}.` });
  } else {
    const t = benchTable(bench);
    blocks.push(
      { kind: "paragraph", text: `From [bench.md](bench.md)${bench.date ? ` (measured ${bench.date})` : ""}.` },
      { kind: "table", headers: t.headers, align: t.align, rows: t.rows },
    );
  }
  for (const r of runs.mains) {
    blocks.push(
      { kind: "heading", text: r.title },
      runParagraph(r, r.studyAccuracy !== undefined ? ` (study: ${pct(r.studyAccuracy)})` : ""),
      ...experimentCharts(r).map((c): Block => ({ kind: "chart", ...c })),
    );
  }
  if (runs.ablations.length) blocks.push({ kind: "heading", text: "Ablations, run by run" });
  for (const { result: r, main, mainResult: m, suffix } of runs.ablations) {
    blocks.push(
      { kind: "heading", text: `${r.title} — ablation ${suffix}`, level: 3 },
      runParagraph(r, ` (main run ${main}: ${m ? pct(m.testAccuracy) : "not run yet"})`),
      ...experimentCharts(r).map((c): Block => ({ kind: "chart", ...c })),
    );
  }
  return blocks;
}

/** A run's headline above its charts; `beside` is the number it is set against. */
function runParagraph(r: ExperimentResult, beside: string): Block {
  return {
    kind: "paragraph",
    text: `Test accuracy **${pct(r.testAccuracy)}**${r.split.test ? ` on ${fmtInt(r.split.test)} images` : ""}` +
      `${beside}; data ${r.data.source ?? "?"}; epochs ${epochsCell(r)}. Full report: [${r.name}.md](${r.name}.md).`,
  };
}
