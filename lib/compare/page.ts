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
import { comparisonChart, withTooltips } from "./charts.ts";
import { benchTable, type ComparisonInput, comparisonTable, ensembleNote, epochsCell } from "./comparison.ts";
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
  const blocks: Block[] = [
    { kind: "heading", text: "ferlab: the comparison", level: 1 },
    {
      kind: "paragraph",
      text: "Every experiment's test accuracy beside the student study's number, rebuilt by `deno task report` " +
        "from the result files beside this page. Hover a chart for its values. Markdown version: [README.md](README.md).",
    },
  ];
  if (results.some((r) => r.data.kind === "synthetic")) {
    blocks.push({
      kind: "paragraph",
      text: "Some results are on ferlab's **synthetic** faces: not comparable with the study's FER2013 numbers.",
    });
  }
  if (results.length) {
    const t = comparisonTable(results, ensemble);
    blocks.push(
      { kind: "table", headers: t.headers, align: t.align, rows: t.rows },
      { kind: "paragraph", text: ensembleNote(ensemble) },
      {
        kind: "chart",
        id: "comparison",
        spec: withTooltips(comparisonChart(results, ensemble.ok ? ensemble.ensemble : undefined)),
      },
    );
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
  for (const r of results) {
    blocks.push(
      { kind: "heading", text: r.title },
      {
        kind: "paragraph",
        text: `Test accuracy **${pct(r.testAccuracy)}**${r.split.test ? ` on ${fmtInt(r.split.test)} images` : ""}` +
          (r.studyAccuracy !== undefined ? ` (study: ${pct(r.studyAccuracy)})` : "") +
          `; data ${r.data.source ?? "?"}; epochs ${epochsCell(r)}. Full report: [${r.name}.md](${r.name}.md).`,
      },
      ...experimentCharts(r).map((c): Block => ({ kind: "chart", ...c })),
    );
  }
  return blocks;
}
