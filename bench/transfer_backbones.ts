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
import { parseArgs } from "node:util";
import { COMMON_DEFAULTS } from "../lib/cli/args.ts";
import { log, prepare } from "../lib/harness/prepare.ts";
import { fmtInt, mdTable, pct } from "../lib/report/markdown.ts";
import { writeFileAtomic } from "../lib/atomic_write.ts";
import { BACKBONES } from "../lib/transfer/backbone.ts";
import { runAblation } from "../lib/transfer/phases.ts";

const a = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string", default: "" },
    rows: { type: "string", default: "1200" },
    size: { type: "string", default: "96" },
    out: { type: "string", default: "reports" },
  },
}).values;
const t0 = performance.now();
const rows = Number(a.rows), size = Number(a.size);
const prepared = await prepare({ ...COMMON_DEFAULTS, data: a.data!, backend: "wasm" });
const offline = Object.values(BACKBONES).filter((b) => b.source.kind === "npm");
const result = await runAblation(
  offline.map((b) => ({
    label: b.id,
    backbone: b.id,
    model: { size, fineTuneBlocks: 0, freezeBatchNorm: true, dropout: 0.3 },
    fineTuneEpochs: 0,
  })),
  {
    data: prepared.data,
    trainRows: prepared.trainRows.slice(0, rows),
    valRows: prepared.split.val.slice(0, Math.ceil(rows / 3)),
    headEpochs: 20,
    headBatchSize: 64,
    batchSize: 32,
    microBatch: 32,
    headLr: 1e-3,
    lr: 1e-4,
    seed: 42,
    log,
  },
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
