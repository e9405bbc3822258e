/**
 * Which offline backbone experiment 04 uses, measured: for each pretrained
 * network an npm package ships, feature-extraction speed and head-only
 * validation accuracy on the same small subset of the data (short runs).
 * Writes `reports/04_backbones.md`.
 *
 *     deno run -A bench/transfer_backbones.ts --data ../shared/data/fer2013-dev.csv.gz --rows 1200 --size 96
 *
 * @module
 */
import { fmtInt, mdTable, pct } from "../lib/report/markdown.ts";
import { writeFileAtomic } from "../lib/atomic_write.ts";
import { BACKBONES } from "../lib/transfer/backbone.ts";
import { runAblation } from "../lib/transfer/phases.ts";
import { parseShortRunFlags, prepareShortRuns } from "./transfer_short_runs.ts";

const a = parseShortRunFlags(
  "deno run -A bench/transfer_backbones.ts",
  "Head-only short runs of every backbone an npm package ships, on the same rows.",
);
const t0 = performance.now();
const { rows, size } = a;
const { prepared, options } = await prepareShortRuns(a);
const offline = Object.values(BACKBONES).filter((b) => b.source.kind === "npm");
const result = await runAblation(
  offline.map((b) => ({
    label: b.id,
    backbone: b.id,
    model: { size, fineTuneBlocks: 0, freezeBatchNorm: true, dropout: 0.3 },
    fineTuneEpochs: 0,
  })),
  options,
);
const md = [
  "# Experiment 04 — choosing the offline backbone",
  "",
  `Short runs: head only (20 epochs on cached features), ${fmtInt(rows)} training and ${
    fmtInt(Math.ceil(rows / 3))
  } validation rows of ${prepared.dataFacts.source} (study split, seed 42), input ${size}×${size}, ` +
  `backend ${prepared.backend.name}, ${navigator.hardwareConcurrency} shared cores (other jobs were running: ` +
  `speeds are comparable only within this table). ${new Date().toISOString()}, ` +
  `${((performance.now() - t0) / 1000).toFixed(0)} s in all.`,
  "",
  mdTable(
    ["backbone", "format", "trained on", "features img/s", "head-only val acc", "peak RSS"],
    result.map((r) => {
      const b = BACKBONES[r.backbone];
      return [
        b.description,
        b.format,
        b.trainedOn,
        r.extractImagesPerSec.toFixed(1),
        pct(r.headValAcc, 1),
        `${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
      ];
    }),
  ),
  "",
].join("\n");
await writeFileAtomic(`${a.out}/04_backbones.md`, md);
console.log(md);
Deno.exit(0);
