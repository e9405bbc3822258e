/**
 * Experiment 04's report sections from hand-made numbers: the fine-tuning
 * row gives the final model's validation accuracy (early stopping may have
 * restored an earlier epoch) and the median epoch's speed, the table beside
 * the other experiments names each run's protocol and ablation, and the batch
 * norm conclusion compares ablations on one backbone and weighs the gap
 * against the noise of the validation rows.
 */
import assert from "node:assert/strict";
import { BACKBONES } from "../lib/transfer/backbone.ts";
import type { AblationRow } from "../lib/transfer/phases.ts";
import { transferMarkdown, type TransferReport } from "../lib/transfer/report.ts";

const epoch = (epoch: number, valAcc: number, imagesPerSec: number) => ({
  epoch,
  loss: 1,
  acc: 0.5,
  valLoss: 1,
  valAcc,
  lr: 1e-4,
  seconds: 100,
  imagesPerSec,
});
const sample = { rssBytes: 2 ** 30, wasmHeapBytes: 2 ** 27, tensorBytes: 2 ** 24 };
const tuned = (backbone: string, freezeBatchNorm: boolean, valAcc: number): AblationRow => ({
  label: `${backbone} ${freezeBatchNorm}`,
  backbone,
  model: { size: 96, fineTuneBlocks: 5, freezeBatchNorm, dropout: 0.3 },
  fineTuneEpochs: 1,
  trainRows: 2000,
  valRows: 667,
  headValAcc: 0.35,
  valAcc,
  extractImagesPerSec: 100,
  fineTuneImagesPerSec: 50,
  seconds: 60,
  peakRssBytes: 2 ** 30,
});

function report(ablation: AblationRow[]): TransferReport {
  return {
    backbone: BACKBONES["nsfwjs-mobilenet-v2-mid"],
    size: 96,
    featureDim: 1792,
    backboneParams: 4e6,
    trainableBackboneParams: 3e6,
    fineTuneBlocks: 5,
    freezeBatchNorm: true,
    phase1: {
      extract: { images: 100, seconds: 10, imagesPerSec: 10, cached: false },
      head: { history: [], bestEpoch: 1, seconds: 1, imagesPerSec: 1000 },
      valAcc: 0.43,
      testAcc: 0.4303,
      memoryCurve: [{ images: 100, ...sample }],
      peak: sample,
    },
    // epoch 1 shared the machine (10 img/s); the last epoch has the best val acc, but epoch 2's weights were kept
    phase2: [epoch(1, 0.47, 10), epoch(2, 0.575, 90), epoch(3, 0.585, 80)],
    testAcc: 0.5793,
    valAcc: 0.5754,
    protocol: "study",
    materialised: {
      images: 256,
      size: 224,
      tensorBytes: 256 * 602112,
      rssBytes: 2 ** 29,
      bytesPerImage: 602112,
      target: 28709,
      targetBytes: 28709 * 602112,
    },
    ablation,
    others: [
      { name: "01_baseline", title: "Experiment 01", protocol: "study", study: 0.5343, acc: 0.6236 },
      { name: "05_budget", title: "Experiment 05", protocol: "official", study: 0.62, acc: 0.6506 },
      { name: "05_budget_15min", title: "Experiment 05", protocol: "official", study: 0.62, acc: 0.2953 },
    ],
    synthetic: false,
  };
}

Deno.test("04's phase table: the final model's val accuracy and the median epoch's speed", () => {
  const md = transferMarkdown(report([]));
  assert.match(
    md,
    /\| 2\. fine-tuning \(96×96\) \| top 5 blocks \(3,000,000 params\) \+ head \| 80\.0 \| 5m 00s \| 57\.54% \(final model\) \|/,
  );
  assert.doesNotMatch(md, /58\.50%/, "not the last epoch's val accuracy");
});

Deno.test("04 beside the others: protocol per row, ablations of one script told apart", () => {
  const md = transferMarkdown(report([]));
  assert.match(md, /\| Experiment 01 \| study \| 53\.43% \| 62\.36% \|/);
  assert.match(md, /\| Experiment 05 \| official \| 62\.00% \| 65\.06% \|/);
  assert.match(md, /\| Experiment 05 \(15min\) \| official \| 62\.00% \| 29\.53% \|/);
  assert.match(md, /\| 04 transfer, fine-tuned \| study \| failed \(no number\) \| 57\.93% \|/);
});

Deno.test("04's batch-norm conclusion: same backbone only, and a gap inside the noise is said to settle nothing", () => {
  const other = tuned("nsfwjs-mobilenet-v2-mid", true, 0.385); // another backbone: must not be the comparison
  const close = transferMarkdown(report([
    other,
    tuned("nsfwjs-mobilenet-v2", true, 0.343),
    tuned("nsfwjs-mobilenet-v2", false, 0.321),
  ]));
  // √(0.343 · 0.657 / 667) = 1.84 points; the 2.2-point gap is inside 2√2 of them
  assert.match(
    close,
    /\(nsfwjs-mobilenet-v2\), .* reached 34\.3% .* 32\.1%: a gap of 2\.2 points .* about 1\.8 points/,
  );
  assert.match(close, /does not settle it\./);
  const wide = transferMarkdown(
    report([tuned("nsfwjs-mobilenet-v2", true, 0.45), tuned("nsfwjs-mobilenet-v2", false, 0.3)]),
  );
  assert.match(wide, /a gap of 15\.0 points/);
  assert.doesNotMatch(wide, /does not settle/);
});
