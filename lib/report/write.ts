/**
 * Writes one experiment report to disk: Markdown, charts (Vega-Lite JSON
 * plus a rendered SVG each) and the machine-readable results.
 *
 * File layout for report `name` in `outDir`:
 *
 * - `name.md`: the report text
 * - `name.json`: results as pretty JSON
 * - `name.<chart>.vl.json`: each chart's Vega-Lite spec, data inlined
 * - `name.<chart>.svg`: each chart rendered, so the Markdown displays in
 *   any viewer (link it with {@link chartRef})
 *
 * Everything is serialized and rendered before the first byte is written,
 * and each file is written to a temporary name then renamed, so a failed
 * or interrupted run never leaves a truncated file behind.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../atomic_write.ts";
import type { ChartSpec } from "./charts.ts";
import { imageLink } from "./markdown.ts";
import { renderSvg } from "./render.ts";

/** What {@link writeReport} writes. */
export interface Report {
  /** The report text (Markdown). */
  markdown: string;
  /** Charts by short name (letters, digits, `_`, `-`). */
  charts: Record<string, ChartSpec>;
  /** Machine-readable results; must survive `JSON.stringify`. */
  json: unknown;
}

/** Report names: a plain file stem, no directories. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Chart names: no dots, so `name.<chart>.svg` splits unambiguously. */
const CHART_RE = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

function checkName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new RangeError(
      `report name "${name}" must be letters, digits, "_", "-" or "." (no path separators)`,
    );
  }
}

function checkChart(chart: string): void {
  if (!CHART_RE.test(chart)) {
    throw new RangeError(
      `chart name "${chart}" must be letters, digits, "_" or "-"`,
    );
  }
}

/**
 * File name of a chart of report `name`: `chartFile("fer-cnn", "curves",
 * "svg")` → `"fer-cnn.curves.svg"`.
 */
export function chartFile(
  name: string,
  chart: string,
  ext: "svg" | "vl.json",
): string {
  checkName(name);
  checkChart(chart);
  return `${name}.${chart}.${ext}`;
}

/**
 * Markdown image link to a chart's SVG, relative to the report's folder:
 * `chartRef("fer-cnn", "curves")` → `"![curves](fer-cnn.curves.svg)"`.
 */
export function chartRef(name: string, chart: string): string {
  return imageLink(chart, chartFile(name, chart, "svg"));
}

/** Pretty JSON with a trailing newline, refusing values with no JSON form. */
function prettyJson(value: unknown, what: string): string {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) {
    throw new TypeError(`${what}: ${typeof value} has no JSON form`);
  }
  return text + "\n";
}

/**
 * Writes a report as described in the module docs and returns the paths
 * written (`outDir` joined with each file name): `name.md`, `name.json`,
 * then `.vl.json` and `.svg` per chart in `charts` order. Creates `outDir`
 * if missing; overwrites an earlier report of the same name.
 *
 * @throws RangeError for a name or chart name that is not a plain file
 *   stem, TypeError when `json` has no JSON form, RenderError when a chart
 *   fails to render; in each case before any file is written.
 */
export async function writeReport(
  outDir: string,
  name: string,
  report: Report,
): Promise<{ files: string[] }> {
  checkName(name);
  const chartNames = Object.keys(report.charts);
  chartNames.forEach(checkChart);

  const contents: [file: string, text: string][] = [
    [`${name}.md`, report.markdown],
    [`${name}.json`, prettyJson(report.json, `report "${name}" json`)],
  ];
  for (const chart of chartNames) {
    const spec = report.charts[chart];
    contents.push(
      [
        chartFile(name, chart, "vl.json"),
        prettyJson(spec, `chart "${chart}"`),
      ],
      [chartFile(name, chart, "svg"), await renderSvg(spec)],
    );
  }

  await Deno.mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const [file, text] of contents) {
    const path = join(outDir, file);
    await writeFileAtomic(path, text);
    files.push(path);
  }
  return { files };
}
