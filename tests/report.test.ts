import assert from "node:assert/strict";
import { join } from "node:path";
import { compile } from "vega-lite";
import { EMOTIONS } from "../lib/data/fer2013.ts";
import {
  barChart,
  type ChartSpec,
  confusionChart,
  learningCurves,
  perClassBars,
  reliabilityDiagram,
} from "../lib/report/charts.ts";
import { reliabilityBins } from "../lib/eval/calibration.ts";
import {
  configBlock,
  fmtInt,
  fmtNumber,
  fmtOverconfidence,
  fmtSeconds,
  imageLink,
  mdTable,
  pct,
} from "../lib/report/markdown.ts";
import { compileSpec, RenderError, renderSvg } from "../lib/report/render.ts";
import { chartFile, chartRef, writeReport } from "../lib/report/write.ts";

const HISTORY = [1, 2, 3, 4].map((epoch) => ({
  epoch,
  loss: 2 / epoch,
  acc: 0.2 + epoch / 10,
  valLoss: 2.2 / epoch,
  valAcc: 0.15 + epoch / 10,
  lr: 1e-3 / epoch,
}));

/** Rows×cols of distinctive counts: 100+10t+p never repeats. */
const MATRIX = EMOTIONS.map((_, t) => EMOTIONS.map((_, p) => 100 + 10 * t + p));

/** Text content of every `<text>` element, XML entities decoded. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1].replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
  );
}

/** Compiles with a logger that fails on any warning, and renders. */
async function check(spec: ChartSpec): Promise<string[]> {
  // vega-lite's own compile must accept the spec as written to .vl.json.
  assert.doesNotThrow(() => compile(JSON.parse(JSON.stringify(spec))));
  assert.deepEqual(compileSpec(spec).warnings, []);
  const warnings: string[] = [];
  const svg = await renderSvg(spec, { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(warnings, []);
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  return svgTexts(svg);
}

Deno.test("learningCurves renders both panels, splits and lr", async () => {
  const texts = await check(learningCurves(HISTORY));
  for (const t of ["Learning curves", "loss", "accuracy", "train", "val"]) {
    assert.ok(texts.includes(t), `missing "${t}" in ${texts.join("|")}`);
  }
  assert.ok(texts.includes("learning rate"));
  assert.ok(texts.some((t) => t.endsWith("%")), "accuracy axis is percent");
});

Deno.test("learningCurves without validation or lr omits them", async () => {
  const spec = learningCurves(
    [{ epoch: 1, loss: NaN, acc: 0.3 }, { epoch: 2, loss: 1, acc: 0.4 }],
    { title: "Plain" },
  );
  // NaN becomes null so the spec survives a JSON round trip unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
  const texts = await check(spec);
  assert.ok(texts.includes("Plain"));
  assert.ok(!texts.includes("val"));
  assert.ok(!texts.includes("learning rate"));
  assert.throws(() => learningCurves([]), RangeError);
  assert.throws(
    () => learningCurves([{ epoch: NaN, loss: 1, acc: 0 }]),
    /history\[0\]\.epoch/,
  );
});

Deno.test("confusionChart shows every count in its cell", async () => {
  const texts = await check(confusionChart(MATRIX, EMOTIONS));
  assert.ok(texts.includes("Confusion matrix"));
  for (const label of EMOTIONS) assert.ok(texts.includes(label), label);
  for (const row of MATRIX) {
    for (const c of row) assert.ok(texts.includes(String(c)), `count ${c}`);
  }
  // Cells are keyed by true label and prediction, not just present.
  const spec = confusionChart([[5, 1], [2, 7]], ["happy", "sad"]);
  const values = (spec as { data: { values: Record<string, unknown>[] } }).data
    .values;
  assert.deepEqual(
    values.map((v) => [v.actual, v.predicted, v.count]),
    [["happy", "happy", 5], ["happy", "sad", 1], ["sad", "happy", 2], [
      "sad",
      "sad",
      7,
    ]],
  );
});

Deno.test("confusionChart normalize shows row recall", async () => {
  const texts = await check(
    confusionChart([[3, 1], [0, 0]], ["happy", "sad"], { normalize: true }),
  );
  assert.ok(texts.includes("75.0%"));
  assert.ok(texts.includes("25.0%"));
  assert.ok(texts.includes("–"), "class with no samples shows a dash");
  assert.ok(texts.includes("happy"));
});

Deno.test("confusionChart rejects malformed input", () => {
  assert.throws(() => confusionChart([[1, 2]], ["a", "b"]), /1 rows but 2/);
  assert.throws(() => confusionChart([[1], [2, 3]], ["a", "b"]), /row 0/);
  assert.throws(
    () => confusionChart([[1, -1], [0, 0]], ["a", "b"]),
    /cell \[0\]\[1\]/,
  );
  assert.throws(() => confusionChart([[1, 0], [0, 1]], ["a", "a"]), /unique/);
});

Deno.test("reliabilityDiagram draws one bar and one dot per non-empty bin, and the diagonal", async () => {
  // 3 images, 2 classes: confidences 0.9 (right), 0.9 (wrong), 0.6 (right) → two non-empty bins of 15
  const bins = reliabilityBins(Float32Array.of(0.9, 0.1, 0.1, 0.9, 0.6, 0.4), [0, 0, 0], 2);
  const spec = reliabilityDiagram(bins, { title: "test reliability" });
  const texts = await check(spec);
  for (const t of ["test reliability", "confidence (top class)", "accuracy"]) {
    assert.ok(texts.includes(t), `missing "${t}" in ${texts.join("|")}`);
  }
  const layers = (spec as unknown as { layer: { data: { values: Record<string, number>[] } }[] }).layer;
  assert.deepEqual(layers[0].data.values.map((v) => [v.count, v.accuracy]), [[1, 1], [2, 0.5]]);
  assert.deepEqual(JSON.parse(JSON.stringify(layers[1].data.values)), [{ x: 0, y: 0 }, { x: 1, y: 1 }]);
  assert.throws(() => reliabilityDiagram([]), /no bins/);
});

Deno.test("perClassBars renders classes and metrics", async () => {
  const rows = EMOTIONS.map((label, i) => ({
    label,
    precision: 0.3 + i / 20,
    recall: 0.4 + i / 20,
    f1: 0.35 + i / 20,
  }));
  const texts = await check(perClassBars(rows));
  for (const t of [...EMOTIONS, "precision", "recall", "f1", "100%"]) {
    assert.ok(texts.includes(t), t);
  }
  assert.throws(() => perClassBars([]), RangeError);
});

Deno.test("barChart renders titles, names and value labels", async () => {
  const texts = await check(
    barChart([{ name: "cpu", value: 120 }, { name: "wasm", value: 15300 }], {
      title: "Throughput",
      xTitle: "backend",
      yTitle: "images/s",
      log: true,
    }),
  );
  for (const t of ["Throughput", "backend", "images/s", "cpu", "wasm"]) {
    assert.ok(texts.includes(t), t);
  }
  assert.ok(texts.includes("15,300"), "value label at bar end");

  const grouped = await check(
    barChart([
      { name: "cnn", value: 0.5, group: "val" },
      { name: "cnn", value: 0.48, group: "test" },
      { name: "resnet", value: 0.6, group: "val" },
    ], { title: "Compare", xTitle: "experiment", yTitle: "accuracy" }),
  );
  for (const t of ["Compare", "cnn", "resnet", "val", "test", "0.48"]) {
    assert.ok(grouped.includes(t), t);
  }
  const opts = { title: "T", xTitle: "x", yTitle: "y" };
  assert.throws(() => barChart([], opts), RangeError);
  assert.throws(
    () => barChart([{ name: "a", value: 0 }], { ...opts, log: true }),
    /log/,
  );
  assert.throws(() => barChart([{ name: "a", value: NaN }], opts), /NaN/);
});

Deno.test("renderSvg refuses to load data from URLs", async () => {
  const spec = {
    data: { url: "https://example.invalid/data.json" },
    mark: "point",
    encoding: { x: { field: "a", type: "quantitative" } },
  } as ChartSpec;
  const warnings: string[] = [];
  // Vega logs load failures rather than rejecting; either way nothing loads.
  await renderSvg(spec, { onWarning: (w) => warnings.push(w) }).catch(
    (e) => warnings.push(String(e)),
  );
  assert.ok(
    warnings.some((w) => w.includes("refusing")),
    warnings.join("\n"),
  );
  await assert.rejects(
    () => renderSvg({ mark: "nope" } as unknown as ChartSpec),
    RenderError,
  );
});

Deno.test("mdTable escapes pipes and aligns columns", () => {
  assert.equal(
    mdTable(["model", "acc"], [["a|b", 0.5], ["cnn", "53%"]], [
      "left",
      "right",
    ]),
    "| model | acc |\n| :--- | ---: |\n| a\\|b | 0.5 |\n| cnn | 53% |\n",
  );
  assert.equal(
    mdTable(["x"], [["line1\nline2"]], ["center"]),
    "| x |\n| :---: |\n| line1<br>line2 |\n",
  );
  assert.equal(mdTable(["a", "b"], []), "| a | b |\n| --- | --- |\n");
  assert.throws(() => mdTable(["a", "b"], [["1"]]), /row 0 has 1 cells/);
});

Deno.test("number and duration formatting", () => {
  assert.equal(pct(0.5343), "53.43%");
  assert.equal(pct(1), "100.00%");
  assert.equal(pct(0.5343, 1), "53.4%");
  assert.equal(pct(NaN), "n/a");
  assert.equal(fmtSeconds(754), "12m 34s");
  assert.equal(fmtSeconds(3725), "1h 02m 05s");
  assert.equal(fmtSeconds(45), "45s");
  assert.equal(fmtSeconds(5.25), "5.3s");
  assert.equal(fmtSeconds(59.97), "1m 00s");
  assert.equal(fmtSeconds(60), "1m 00s");
  assert.equal(fmtSeconds(Infinity), "n/a");
  assert.equal(fmtNumber(1.23456), "1.235");
  assert.equal(fmtInt(32298), "32,298");
  assert.equal(fmtInt(-1234567), "-1,234,567");
  assert.equal(fmtInt(999), "999");
  assert.equal(fmtOverconfidence(0.0214), "+2.1 pts (over)");
  assert.equal(fmtOverconfidence(-0.0518), "−5.2 pts (under)");
  assert.equal(fmtOverconfidence(0.0001), "±0.0 pts");
  assert.equal(fmtOverconfidence(NaN), "n/a");
});

Deno.test("configBlock and imageLink", () => {
  assert.equal(
    configBlock({ lr: 0.001, model: "cnn" }),
    '```json\n{\n  "lr": 0.001,\n  "model": "cnn"\n}\n```\n',
  );
  // Backticks inside the content need a longer fence.
  assert.ok(configBlock({ note: "```" }).startsWith("````json\n"));
  assert.throws(() => configBlock(undefined), TypeError);
  assert.equal(imageLink("loss", "run.curves.svg"), "![loss](run.curves.svg)");
  assert.equal(
    imageLink("a [b]", "my file (1).svg"),
    "![a \\[b\\]](my%20file%20%281%29.svg)",
  );
  assert.equal(chartRef("fer-cnn", "curves"), "![curves](fer-cnn.curves.svg)");
  assert.throws(() => chartFile("fer", "a.b", "svg"), /chart name/);
});

Deno.test("writeReport writes exactly the expected files", async () => {
  const root = await Deno.makeTempDir({ prefix: "ferlab-report-" });
  try {
    const outDir = join(root, "nested", "reports");
    const json = { accuracy: 0.5343, perClass: [{ label: "happy", f1: 0.8 }] };
    const markdown = `# Run\n\n${chartRef("run1", "cm")}\n`;
    const { files } = await writeReport(outDir, "run1", {
      markdown,
      charts: {
        curves: learningCurves(HISTORY),
        cm: confusionChart([[5, 1], [2, 7]], ["happy", "sad"]),
      },
      json,
    });
    const expected = [
      "run1.md",
      "run1.json",
      "run1.curves.vl.json",
      "run1.curves.svg",
      "run1.cm.vl.json",
      "run1.cm.svg",
    ];
    assert.deepEqual(files, expected.map((f) => join(outDir, f)));
    const listed = [];
    for await (const e of Deno.readDir(outDir)) listed.push(e.name);
    assert.deepEqual(listed.sort(), [...expected].sort(), "no temp files left");

    assert.equal(await Deno.readTextFile(join(outDir, "run1.md")), markdown);
    const back = await Deno.readTextFile(join(outDir, "run1.json"));
    assert.deepEqual(JSON.parse(back), json);
    assert.ok(back.includes('\n  "accuracy"'), "pretty-printed");
    const vl = JSON.parse(
      await Deno.readTextFile(join(outDir, "run1.cm.vl.json")),
    );
    assert.doesNotThrow(() => compile(vl));
    const svg = await Deno.readTextFile(join(outDir, "run1.cm.svg"));
    assert.ok(svgTexts(svg).includes("happy"));
    assert.ok(svgTexts(svg).includes("7"));

    // A failing input writes nothing, not even the Markdown.
    await assert.rejects(
      () =>
        writeReport(outDir, "run2", {
          markdown: "x",
          charts: {},
          json: { big: 1n },
        }),
      TypeError,
    );
    await assert.rejects(
      () =>
        writeReport(outDir, "../escape", {
          markdown: "",
          charts: {},
          json: {},
        }),
      RangeError,
    );
    const after = [];
    for await (const e of Deno.readDir(outDir)) after.push(e.name);
    assert.equal(after.length, expected.length);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
