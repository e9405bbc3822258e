/**
 * The comparison's layout: one row per experiment (its main run) and the
 * ensembles lead, the ablations follow beside their main runs, and only main
 * runs and ensembles are charted.
 */
import assert from "node:assert/strict";
import { comparisonChart } from "../lib/compare/charts.ts";
import {
  ablationTable,
  type ComparisonInput,
  comparisonMarkdown,
  comparisonTable,
  splitRuns,
  type TableCell,
} from "../lib/compare/comparison.ts";
import type { EnsembleOutcome } from "../lib/compare/ensemble_row.ts";
import { comparisonBlocks } from "../lib/compare/page.ts";
import { type ExperimentResult, isReplica, mainRunOf } from "../lib/compare/results.ts";

function result(name: string, testAccuracy: number, splitKey = "study"): ExperimentResult {
  return {
    file: `${name}.json`,
    name,
    number: name.slice(0, 2),
    title: `Experiment ${name.slice(0, 2)}`,
    studyAccuracy: 0.62,
    testAccuracy,
    protocol: "study",
    data: { kind: "fer2013", fingerprint: "f00d" },
    split: { cacheKey: splitKey, test: 10 },
    epochs: { ran: 1, planned: 1, cutShort: false, stoppedEarly: false },
    config: {},
    history: [],
  };
}

const RESULTS = [
  result("01_baseline", 0.6236),
  result("03_deep", 0.6186),
  result("03_deep_12ep", 0.5511),
  result("03_deep_ls0_12ep", 0.544),
  result("03_deepish", 0.5), // another experiment whose name happens to start alike
  result("05_budget", 0.6506, "official"),
  result("05_budget_15min", 0.2953, "official"),
  result("05_budget_15min_ls0", 0.4845, "other"),
  result("06_next_ls0", 0.4), // its main run 06_next has not run yet
];

const ENSEMBLE: EnsembleOutcome = {
  ok: true,
  cached: true,
  ensemble: {
    format: "ferlab-ensemble",
    version: 2,
    key: "k",
    members: ["01_baseline", "03_deep"],
    modelDirs: ["models/01_baseline", "models/03_deep"],
    data: { fingerprint: "f00d", kind: "fer2013" },
    split: { cacheKey: "study", protocol: "study", seed: 42, test: 10 },
    backend: "wasm (2 threads)",
    scores: [
      {
        tta: "none",
        views: ["identity"],
        accuracy: 0.6434,
        n: 10,
        macroF1: 0.6,
        nll: 1,
        ece: 0.05,
        overconfidence: 0,
        recall: {},
      },
    ],
    seconds: 1,
  },
};

const text = (c: TableCell) => (typeof c === "string" ? c : c.text);

Deno.test("mainRunOf: the shortest run the name extends by _suffix; none for a main run or a lookalike", () => {
  const names = RESULTS.map((r) => r.name);
  assert.equal(mainRunOf("05_budget_15min_ls0", names), "05_budget");
  assert.equal(mainRunOf("03_deep_ls0_12ep", names), "03_deep");
  assert.equal(mainRunOf("03_deep", names), undefined);
  assert.equal(mainRunOf("03_deepish", names), undefined);
  assert.equal(mainRunOf("06_next_ls0", names), undefined);
  assert.equal(mainRunOf("06_next_ls0", [...names, "06_next"]), "06_next");
});

Deno.test("isReplica: the main run's recipe with another seed alone", () => {
  assert.ok(isReplica("06_crops_seed43", "06_crops"));
  assert.ok(isReplica("06_crops_seed-1", "06_crops"));
  assert.ok(!isReplica("06_crops_wide_seed43", "06_crops"), "an ablation drawn with another seed");
  assert.ok(!isReplica("06_crops_seed43x", "06_crops"));
  assert.ok(!isReplica("06_crops", "06_crops"));
  assert.ok(!isReplica("07_crops_seed43", "06_crops"));
});

Deno.test("splitRuns: main runs in name order; each ablation with its main run, one still to come counted", () => {
  const runs = splitRuns(RESULTS, ["06_next"]);
  assert.deepEqual(runs.mains.map((r) => r.name), ["01_baseline", "03_deep", "03_deepish", "05_budget"]);
  assert.deepEqual(
    runs.ablations.map((a) => [a.result.name, a.main, a.mainResult?.name, a.suffix]),
    [
      ["03_deep_12ep", "03_deep", "03_deep", "12ep"],
      ["03_deep_ls0_12ep", "03_deep", "03_deep", "ls0_12ep"],
      ["05_budget_15min", "05_budget", "05_budget", "15min"],
      ["05_budget_15min_ls0", "05_budget", "05_budget", "15min_ls0"],
      ["06_next_ls0", "06_next", undefined, "ls0"],
    ],
  );
});

Deno.test("comparison table: one row per main run, then the ensemble; the ablations beside their main runs", () => {
  const runs = splitRuns(RESULTS, ["06_next"]);
  const main = comparisonTable(runs, ENSEMBLE);
  assert.deepEqual(main.rows.map((r) => [text(r[0]), text(r[2])]), [
    ["Experiment 01", "62.36%"],
    ["Experiment 03", "61.86%"],
    ["Experiment 03", "50.00%"],
    ["Experiment 05", "65.06%"],
    ["ensemble 01+03 (1 view × 2 models)", "64.34%"],
  ]);
  assert.ok(main.rows.every((r) => r.length === main.headers.length));

  const abl = ablationTable(runs);
  assert.deepEqual(abl.headers.slice(0, 5), ["main run", "ablation", "main run's acc", "ablation's acc", "Δ"]);
  assert.ok(!abl.headers.includes("study"), "an ablation is not set beside the study's number");
  assert.deepEqual(abl.rows.map((r) => r.slice(0, 5).map(text)), [
    ["03_deep", "12ep", "61.86%", "55.11%", "−6.75 pts"],
    ["03_deep", "ls0_12ep", "61.86%", "54.40%", "−7.46 pts"],
    ["05_budget", "15min", "65.06%", "29.53%", "−35.53 pts"],
    ["05_budget", "15min_ls0", "65.06%", "48.45%", "other test split"],
    ["06_next", "ls0", "not run yet", "40.00%", "–"],
  ]);
  assert.deepEqual(abl.rows[0][0], { text: "03_deep", href: "03_deep.md" });
  assert.deepEqual(abl.rows[0].at(-1), { text: "03_deep_12ep.md", href: "03_deep_12ep.md" });
});

Deno.test("comparison chart: the main runs (ours and the study's) and the ensemble, no ablation", () => {
  const spec = comparisonChart(splitRuns(RESULTS, ["06_next"]), ENSEMBLE.ok ? ENSEMBLE.ensemble : undefined);
  const values = (spec as { data: { values: { name: string; group: string }[] } }).data.values;
  assert.deepEqual([...new Set(values.map((v) => v.name))], [
    "01 baseline",
    "03 deep",
    "03 deepish",
    "05 budget",
    "ensemble 01+03",
  ]);
  assert.equal(values.filter((v) => v.group === "ours").length, 5);
});

Deno.test("comparison page and Markdown: the ablations in their own section after the chart", () => {
  const input: ComparisonInput = {
    results: RESULTS,
    problems: [],
    pending: ["06_next"],
    ensemble: ENSEMBLE,
    bench: { problem: "none here" },
  };
  const md = comparisonMarkdown(input);
  const [lead, rest] = md.split("## Ablations");
  assert.ok(rest, "an Ablations section");
  assert.ok(lead.indexOf("![comparison](comparison.svg)") > 0, "the chart before it");
  assert.doesNotMatch(lead, /55\.11%|29\.53%|40\.00%/, "no ablation's number among the results");
  assert.match(rest, /\| \[05_budget\]\(05_budget\.md\) \| 15min \| 65\.06% \| 29\.53% \| −35\.53 pts \|/);
  assert.match(md, /Not run yet: `06_next`/);

  const blocks = comparisonBlocks(input);
  const headings = blocks.filter((b) => b.kind === "heading").map((b) => b.kind === "heading" && b.text);
  assert.deepEqual(headings, [
    "ferlab: the comparison",
    "Ablations",
    "Speed",
    "Experiment 01",
    "Experiment 03",
    "Experiment 03",
    "Experiment 05",
    "Ablations, run by run",
    "Experiment 03 — ablation 12ep",
    "Experiment 03 — ablation ls0_12ep",
    "Experiment 05 — ablation 15min",
    "Experiment 05 — ablation 15min_ls0",
    "Experiment 06 — ablation ls0",
  ]);
  const charts = blocks.filter((b) => b.kind === "chart");
  assert.equal(charts.length, 1, "the comparison chart only: these results have no curves");

  // With only ablations there are no bars to draw, and no chart is promised.
  const alone = comparisonMarkdown({
    ...input,
    results: [result("06_next_ls0", 0.4)],
    ensemble: { ok: false, reason: "x" },
  });
  assert.doesNotMatch(alone, /comparison\.svg\)/);
  assert.match(alone, /## Ablations/);
});
