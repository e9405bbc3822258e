/**
 * Vega-Lite chart specs for ferlab reports.
 *
 * Every function here is pure: it takes plain numbers and returns a
 * self-contained Vega-Lite v6 spec with the data inlined, so a `.vl.json`
 * file written next to a report can be reopened in any Vega editor years
 * later without the run that produced it. Rendering lives in `render.ts`.
 *
 * Numbers that JSON cannot hold (NaN, ±Infinity, e.g. an exploded loss) are
 * stored as `null`, which Vega-Lite treats as a missing point, so a spec
 * survives a JSON round trip unchanged.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";

/** A Vega-Lite v6 top-level spec, as every chart function returns. */
export type ChartSpec = TopLevelSpec;

/** The schema URL stamped on every spec (an identifier, never fetched). */
export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** Default plot width in pixels. */
export const CHART_WIDTH = 480;
/** Default plot height in pixels. */
export const CHART_HEIGHT = 300;

/** One epoch of training history, as the training loop records it. */
export interface EpochRecord {
  /** Epoch number (1-based by convention, but any number plots). */
  epoch: number;
  /** Mean training loss. */
  loss: number;
  /** Training accuracy in [0, 1]. */
  acc: number;
  /** Validation loss, when a validation split was evaluated. */
  valLoss?: number;
  /** Validation accuracy in [0, 1]. */
  valAcc?: number;
  /** Learning rate used during the epoch. */
  lr?: number;
}

/** Options shared by the chart functions. */
export interface TitleOption {
  /** Chart title; each function has a sensible default. */
  title?: string;
}

/** JSON cannot hold NaN or ±Infinity; `null` is Vega-Lite's "no value". */
function finiteOrNull(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? x : null;
}

/** Long-format row of a learning curve, one per (epoch, metric, split). */
interface CurvePoint {
  epoch: number;
  metric: "loss" | "accuracy" | "learning rate";
  split: "train" | "val";
  value: number | null;
}

/**
 * Loss and accuracy against epoch, train and validation as coloured lines.
 *
 * The history is folded into long format (`epoch, metric, split, value`) so
 * one line mark per panel draws both splits. Validation lines appear only
 * when some epoch has validation values; a third panel shows the learning
 * rate schedule (log scale) when any epoch records `lr`.
 *
 * @throws RangeError when the history is empty or an epoch is not finite.
 */
export function learningCurves(
  history: readonly EpochRecord[],
  { title = "Learning curves" }: TitleOption = {},
): ChartSpec {
  if (history.length === 0) {
    throw new RangeError("learningCurves: history is empty");
  }
  const values: CurvePoint[] = [];
  let hasLr = false;
  history.forEach((h, i) => {
    if (!Number.isFinite(h.epoch)) {
      throw new RangeError(
        `learningCurves: history[${i}].epoch is ${h.epoch}, not a finite number`,
      );
    }
    const { epoch } = h;
    values.push(
      { epoch, metric: "loss", split: "train", value: finiteOrNull(h.loss) },
      { epoch, metric: "accuracy", split: "train", value: finiteOrNull(h.acc) },
    );
    // Omitting absent validation points (rather than storing nulls) keeps the
    // legend free of a "val" entry for runs without a validation split.
    if (h.valLoss !== undefined) {
      values.push({
        epoch,
        metric: "loss",
        split: "val",
        value: finiteOrNull(h.valLoss),
      });
    }
    if (h.valAcc !== undefined) {
      values.push({
        epoch,
        metric: "accuracy",
        split: "val",
        value: finiteOrNull(h.valAcc),
      });
    }
    if (h.lr !== undefined) {
      hasLr = true;
      values.push({
        epoch,
        metric: "learning rate",
        split: "train",
        value: finiteOrNull(h.lr),
      });
    }
  });

  // A fixed domain keeps train/val colours stable across reports; "val"
  // joins it only when present so its legend entry never dangles.
  const splits = values.some((v) => v.split === "val") ? ["train", "val"] : ["train"];
  const epochAxis = {
    field: "epoch",
    type: "quantitative",
    title: "epoch",
    axis: { tickMinStep: 1 },
    scale: { zero: false, nice: false },
  } as const;
  const color = {
    field: "split",
    type: "nominal",
    title: "split",
    scale: { domain: splits },
  } as const;
  const panel = (
    metric: CurvePoint["metric"],
    y: Record<string, unknown>,
    height: number,
    withColor: boolean,
  ) => ({
    title: metric,
    width: CHART_WIDTH,
    height,
    transform: [{ filter: { field: "metric", equal: metric } }],
    mark: { type: "line", point: true },
    encoding: {
      x: epochAxis,
      y: { field: "value", type: "quantitative", ...y },
      ...(withColor ? { color } : {}),
    },
  });

  const panels = [
    panel("loss", { title: "loss", scale: { zero: false } }, 200, true),
    panel(
      "accuracy",
      { title: "accuracy", axis: { format: ".0%" }, scale: { zero: false } },
      200,
      true,
    ),
  ];
  if (hasLr) {
    panels.push(
      panel(
        "learning rate",
        {
          title: "learning rate",
          scale: { type: "log" },
          axis: { format: ".0e", tickCount: 3 },
        },
        120,
        false,
      ),
    );
  }
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    data: { values },
    vconcat: panels,
    resolve: { scale: { color: "shared" } },
  } as ChartSpec;
}

/** Options for {@link confusionChart}. */
export interface ConfusionChartOptions extends TitleOption {
  /**
   * Colour and label cells by row-normalized recall (share of each true
   * class predicted as each column) instead of raw counts.
   */
  normalize?: boolean;
}

/**
 * Confusion-matrix heatmap: true label on y, predicted label on x, each
 * cell labelled with its count (or, with `normalize`, the row-normalized
 * recall as a percentage). `matrix[t][p]` counts samples of true class `t`
 * predicted as `p`; both axes keep the order of `labels`.
 *
 * Cell text is precomputed into the data rather than formatted by Vega so
 * the `.vl.json` shows exactly what the report shows.
 *
 * @throws RangeError when the matrix is not square, does not match
 *   `labels`, or holds a negative or non-finite count.
 */
export function confusionChart(
  matrix: readonly (readonly number[])[],
  labels: readonly string[],
  { normalize = false, title }: ConfusionChartOptions = {},
): ChartSpec {
  const k = labels.length;
  if (k === 0) throw new RangeError("confusionChart: no labels");
  if (new Set(labels).size !== k) {
    throw new RangeError(
      `confusionChart: labels are not unique: ${labels.join(", ")}`,
    );
  }
  if (matrix.length !== k) {
    throw new RangeError(
      `confusionChart: matrix has ${matrix.length} rows but ${k} labels`,
    );
  }
  const values: {
    actual: string;
    predicted: string;
    count: number;
    recall: number;
    text: string;
  }[] = [];
  matrix.forEach((row, t) => {
    if (row.length !== k) {
      throw new RangeError(
        `confusionChart: row ${t} (${labels[t]}) has ${row.length} cells, expected ${k}`,
      );
    }
    row.forEach((c, p) => {
      if (!Number.isFinite(c) || c < 0) {
        throw new RangeError(
          `confusionChart: cell [${t}][${p}] is ${c}, not a non-negative count`,
        );
      }
    });
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      // A class absent from the evaluation set has no recall: show a dash
      // instead of a misleading 0%.
      const recall = total > 0 ? count / total : 0;
      const text = normalize ? (total > 0 ? `${(recall * 100).toFixed(1)}%` : "–") : String(count);
      values.push({
        actual: labels[t],
        predicted: labels[p],
        count,
        recall,
        text,
      });
    });
  });

  const field = normalize ? "recall" : "count";
  const max = Math.max(0, ...values.map((v) => v[field]));
  const domain = [...labels];
  const cell = Math.max(24, Math.min(56, Math.floor(CHART_HEIGHT / k) + 8));
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: title ??
      (normalize ? "Confusion matrix (row-normalized recall)" : "Confusion matrix"),
    data: { values },
    width: { step: cell },
    height: { step: cell },
    encoding: {
      x: {
        field: "predicted",
        type: "nominal",
        title: "predicted",
        sort: domain,
        scale: { domain },
        axis: { labelAngle: -45, orient: "top" },
      },
      y: {
        field: "actual",
        type: "nominal",
        title: "true",
        sort: domain,
        scale: { domain },
      },
    },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 1 },
        encoding: {
          color: {
            field,
            type: "quantitative",
            title: normalize ? "recall" : "count",
            scale: {
              scheme: "blues",
              domain: [0, normalize ? 1 : Math.max(1, max)],
            },
            legend: normalize ? { format: ".0%" } : {},
          },
        },
      },
      {
        mark: { type: "text", fontSize: 11 },
        encoding: {
          text: { field: "text", type: "nominal" },
          // Dark cells get white text; the threshold is half the colour range.
          color: {
            condition: {
              test: `datum.${field} > ${(normalize ? 1 : Math.max(1, max)) / 2}`,
              value: "white",
            },
            value: "black",
          },
        },
      },
    ],
    config: { axis: { grid: false, domain: false, ticks: false } },
  } as ChartSpec;
}

/** Precision, recall and F1 of one class. */
export interface PerClassRow {
  /** Class name. */
  label: string;
  /** Precision in [0, 1]. */
  precision: number;
  /** Recall in [0, 1]. */
  recall: number;
  /** F1 score in [0, 1]. */
  f1: number;
}

/**
 * Grouped bars of precision, recall and F1 per class, classes on x in the
 * given order, scores on a 0–100% y axis.
 *
 * @throws RangeError when `rows` is empty or labels repeat.
 */
export function perClassBars(
  rows: readonly PerClassRow[],
  { title = "Per-class precision, recall and F1" }: TitleOption = {},
): ChartSpec {
  if (rows.length === 0) throw new RangeError("perClassBars: no rows");
  const labels = rows.map((r) => r.label);
  if (new Set(labels).size !== labels.length) {
    throw new RangeError(`perClassBars: labels repeat: ${labels.join(", ")}`);
  }
  const metrics = ["precision", "recall", "f1"] as const;
  const values = rows.flatMap((r) =>
    metrics.map((metric) => ({
      label: r.label,
      metric,
      value: finiteOrNull(r[metric]),
    }))
  );
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    data: { values },
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    mark: "bar",
    encoding: {
      x: {
        field: "label",
        type: "nominal",
        title: "class",
        sort: labels,
        axis: { labelAngle: 0 },
      },
      xOffset: { field: "metric", type: "nominal", sort: [...metrics] },
      y: {
        field: "value",
        type: "quantitative",
        title: "score",
        scale: { domain: [0, 1] },
        axis: { format: ".0%" },
      },
      color: {
        field: "metric",
        type: "nominal",
        title: "metric",
        scale: { domain: [...metrics] },
      },
      tooltip: [
        { field: "label", type: "nominal" },
        { field: "metric", type: "nominal" },
        { field: "value", type: "quantitative", format: ".2%" },
      ],
    },
  } as ChartSpec;
}

/** One bar of {@link barChart}. */
export interface BarRow {
  /** Category the bar belongs to (one axis position). */
  name: string;
  /** Bar length. */
  value: number;
  /** Optional series; bars of different groups sit side by side. */
  group?: string;
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  /** Chart title. */
  title: string;
  /** Title of the category axis. */
  xTitle: string;
  /** Title of the value axis. */
  yTitle: string;
  /** Log-scaled value axis, for values spanning orders of magnitude. */
  log?: boolean;
  /** d3-format string for the value labels; default `",.4~r"`. */
  format?: string;
}

/**
 * Generic horizontal bar chart with a value label at each bar's end, used
 * for benchmark throughput per backend and for comparing experiments.
 *
 * Horizontal bars keep long experiment names readable. Categories and
 * groups keep their input order (callers sort deliberately). `xTitle`
 * names the categories and `yTitle` the values, whatever the orientation.
 *
 * @throws RangeError when `rows` is empty, a value is not finite, or
 *   `log` is set and a value is not positive.
 */
export function barChart(
  rows: readonly BarRow[],
  { title, xTitle, yTitle, log = false, format = ",.4~r" }: BarChartOptions,
): ChartSpec {
  if (rows.length === 0) throw new RangeError(`barChart "${title}": no rows`);
  rows.forEach((r, i) => {
    if (!Number.isFinite(r.value)) {
      throw new RangeError(
        `barChart "${title}": rows[${i}] (${r.name}) value is ${r.value}`,
      );
    }
    if (log && r.value <= 0) {
      throw new RangeError(
        `barChart "${title}": rows[${i}] (${r.name}) value ${r.value} cannot go on a log scale`,
      );
    }
  });
  const names = [...new Set(rows.map((r) => r.name))];
  const grouped = rows.some((r) => r.group !== undefined);
  const groups = grouped ? [...new Set(rows.map((r) => r.group ?? "(none)"))] : [];
  const values = rows.map((r) => ({
    name: r.name,
    value: r.value,
    ...(grouped ? { group: r.group ?? "(none)" } : {}),
  }));
  // Roughly constant bar thickness, but never a squashed chart for 2 bars.
  const step = grouped ? Math.max(24, 14 * groups.length + 8) : 28;
  const height = Math.max(160, step * names.length);
  // Log bars start at the scale's lower edge: put it half a decade or more
  // below the smallest value so the shortest bar stays visible.
  const minValue = Math.min(...rows.map((r) => r.value));
  const logMin = 10 ** Math.floor(Math.log10(minValue) - 0.5);
  const logMax = 10 **
    Math.ceil(Math.log10(Math.max(...rows.map((r) => r.value))));
  const groupEnc = grouped
    ? {
      yOffset: { field: "group", type: "nominal", sort: groups },
      color: {
        field: "group",
        type: "nominal",
        title: null,
        scale: { domain: groups },
      },
    }
    : {};
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    data: { values },
    width: CHART_WIDTH,
    height,
    encoding: {
      y: {
        field: "name",
        type: "nominal",
        title: xTitle,
        sort: names,
        axis: { labelLimit: 320 },
      },
      x: {
        field: "value",
        type: "quantitative",
        title: yTitle,
        // Stacking would start each bar at 0, which a log scale cannot show;
        // unstacked, Vega-Lite starts log bars at the plot's edge.
        ...(log
          ? {
            scale: { type: "log", domain: [logMin, logMax] },
            axis: { format: "~s", labelOverlap: "greedy" },
            stack: null,
          }
          : {}),
      },
      ...groupEnc,
    },
    layer: [
      { mark: "bar" },
      {
        mark: { type: "text", align: "left", dx: 3, fontSize: 10 },
        encoding: {
          text: { field: "value", type: "quantitative", format },
          color: { value: "black" },
        },
      },
    ],
  } as ChartSpec;
}

/** One bin of {@link reliabilityDiagram} (as `lib/eval/calibration.ts` computes them). */
export interface ReliabilityBinRow {
  /** Lower edge of the confidence bin. */
  lo: number;
  /** Upper edge of the confidence bin. */
  hi: number;
  /** Images in the bin. */
  count: number;
  /** Their mean top-class confidence. */
  confidence: number;
  /** Their accuracy. */
  accuracy: number;
}

/**
 * Reliability diagram (Guo et al. 2017): for each confidence bin, a bar as
 * high as the accuracy of the images in it, over the bin's width; a dot at
 * (mean confidence, accuracy) sized by the bin's count; and the diagonal of
 * perfect calibration. Bars under the diagonal mean over-confidence. Empty
 * bins draw nothing.
 *
 * @example
 * ```ts
 * const spec = reliabilityDiagram(evaluation.calibration.bins, { title: "test set" });
 * ```
 *
 * @throws RangeError when `bins` is empty or a bin's edges are not in [0, 1].
 */
export function reliabilityDiagram(
  bins: readonly ReliabilityBinRow[],
  { title = "Reliability diagram" }: TitleOption = {},
): ChartSpec {
  if (bins.length === 0) throw new RangeError("reliabilityDiagram: no bins");
  bins.forEach((b, i) => {
    if (!(b.lo >= 0 && b.hi <= 1 && b.lo < b.hi)) {
      throw new RangeError(`reliabilityDiagram: bin ${i} has edges [${b.lo}, ${b.hi}]`);
    }
  });
  const values = bins.filter((b) => b.count > 0).map((b) => ({
    lo: b.lo,
    hi: b.hi,
    count: b.count,
    confidence: b.confidence,
    accuracy: b.accuracy,
    gap: b.accuracy - b.confidence,
  }));
  const axis = { type: "quantitative" as const, scale: { domain: [0, 1] } };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: CHART_HEIGHT,
    height: CHART_HEIGHT,
    layer: [
      {
        data: { values },
        mark: { type: "rect", opacity: 0.6, stroke: "white" },
        encoding: {
          x: { field: "lo", ...axis, title: "confidence (top class)" },
          x2: { field: "hi" },
          y: { field: "accuracy", ...axis, title: "accuracy" },
          y2: { datum: 0 },
          color: { value: "#4c78a8" },
          tooltip: [
            { field: "lo", type: "quantitative", format: ".3f", title: "from" },
            { field: "hi", type: "quantitative", format: ".3f", title: "to" },
            { field: "count", type: "quantitative" },
            { field: "confidence", type: "quantitative", format: ".3f" },
            { field: "accuracy", type: "quantitative", format: ".3f" },
          ],
        },
      },
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: "line", color: "gray", strokeDash: [4, 4] },
        encoding: { x: { field: "x", ...axis }, y: { field: "y", ...axis } },
      },
      {
        data: { values },
        mark: { type: "point", filled: true, color: "#e45756" },
        encoding: {
          x: { field: "confidence", ...axis },
          y: { field: "accuracy", ...axis },
          size: { field: "count", type: "quantitative", title: "images" },
        },
      },
    ],
  } as ChartSpec;
}

/** The y encoding of the accuracy charts: a percentage axis that starts near the data, not at zero. */
export function accuracyAxis() {
  return {
    field: "accuracy",
    type: "quantitative",
    title: "accuracy",
    axis: { format: ".0%" },
    scale: { zero: false },
  };
}

/** Options of {@link validationTestChart}. */
export interface ValidationTestOptions {
  title: string;
  /** Rows with an `accuracy` and a `kind`: "validation" rows draw the lines, {@link testKind} rows the diamonds. */
  values: Record<string, unknown>[];
  /** The quantitative x field and its axis title. */
  x: { field: string; title: string };
  /** The field that names each line; also the legend's title. */
  color: string;
  testKind: string;
  /** Fields the diamonds' tooltips show before the accuracy. */
  tooltip: string[];
  /**
   * Layers drawn on top, each with data of its own. With them the rows are
   * given to each of the two layers rather than at the top, as 06's charts
   * have always been written (Vega-Lite draws both the same).
   */
  extraLayers?: object[];
}

/**
 * Validation accuracy as lines with points and final test accuracies as
 * diamonds against one x: 05's accuracy against training minutes and 06's
 * against epochs and CPU-hours, so the runs of both read alike.
 */
export function validationTestChart(o: ValidationTestOptions): ChartSpec {
  const x = { field: o.x.field, type: "quantitative", title: o.x.title };
  const y = accuracyAxis();
  const color = { field: o.color, type: "nominal", title: o.color };
  const data = { values: o.values };
  const inLayers = o.extraLayers !== undefined;
  const tooltip = [...o.tooltip.map((field) => ({ field })), { field: "accuracy", format: ".2%" }];
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: o.title,
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    ...(inLayers ? {} : { data }),
    layer: [
      {
        ...(inLayers ? { data } : {}),
        transform: [{ filter: { field: "kind", equal: "validation" } }],
        mark: { type: "line", point: true },
        encoding: { x, y, color },
      },
      {
        ...(inLayers ? { data } : {}),
        transform: [{ filter: { field: "kind", equal: o.testKind } }],
        mark: { type: "point", shape: "diamond", size: 140, filled: true },
        encoding: { x, y, color, tooltip },
      },
      ...(o.extraLayers ?? []),
    ],
  } as ChartSpec;
}
