/**
 * # Experiment 04 — transfer learning that fits in memory and works
 *
 * The study upsampled every 48×48 face to 224×224×3 up front (≈16 GiB for 28,709 images), ran out of RAM, trained
 * unstably and concluded that transfer "did not work" (no number). Here the resize happens per batch inside the
 * model, the backbone keeps its own preprocessing and batch norm stays in inference mode; phase 1 trains a new head on
 * features computed once per image, phase 2 fine-tunes the top blocks with a low learning rate.
 *
 *     deno task exp:04 --data data/fer2013.csv --size 96      # a real run (224, the study's size, is the default)
 *     deno task exp:04 --quick                                 # offline smoke run on synthetic faces
 *
 * @module
 */
import { COMMON_DEFAULTS, resolveConfig } from "../lib/cli/args.ts";
import { evaluate } from "../lib/eval/metrics.ts";
import { runMain } from "../lib/cli/main.ts";
import { log, prepare } from "../lib/harness/prepare.ts";
import { loadBackbone } from "../lib/transfer/backbone.ts";
import { TRANSFER_FLAGS, type TransferConfig } from "../lib/transfer/config.ts";
import { buildTransferModel } from "../lib/transfer/model.ts";
import { reportTransfer } from "../lib/transfer/report.ts";
import { runFineTunePhase, runHeadPhase, runStudyChecks } from "../lib/transfer/run.ts";

const NAME = "04_transfer";

// ## Config — defaults in one place; `--quick` and flags override them.
const DEFAULTS: TransferConfig = {
  ...COMMON_DEFAULTS,
  backbone: "nsfwjs-mobilenet-v2-mid", // MobileNetV2 α 1.4, shipped in npm nsfwjs (see the report for its training data)
  size: 224,
  fineTuneBlocks: 5, // blocks 13–16 and the last 1×1 conv
  bn: "frozen",
  headEpochs: 20,
  headBatchSize: 256,
  headLr: 1e-3,
  epochs: 8,
  lr: 1e-4,
  batchSize: 32,
  microBatch: 16,
  dropout: 0.3,
  patience: 3,
  ablationRows: 0,
};
const QUICK: Partial<TransferConfig> = {
  size: 64,
  headEpochs: 8,
  headBatchSize: 32,
  epochs: 1,
  syntheticRows: 900,
  limitTrain: 500,
  ablationRows: 200,
};

await runMain(async () => {
  const t0 = performance.now();
  const config = resolveConfig(Deno.args, "exp:04", DEFAULTS, QUICK, TRANSFER_FLAGS);
  if (!config) return;
  log(`${NAME}: ${JSON.stringify(config)}`);

  // ## 1–2. Load and split, as every experiment does
  const prepared = await prepare(config);

  // ## 3. Build: 48×48 grey → per-batch resize to size×size RGB → pretrained backbone → pool → dropout → softmax(7)
  const backbone = await loadBackbone(config.backbone);
  const t = await buildTransferModel(backbone, {
    size: config.size,
    fineTuneBlocks: config.fineTuneBlocks,
    freezeBatchNorm: config.bn === "frozen",
    dropout: config.dropout,
    numClasses: 7,
    seed: config.seed,
  });

  // ## 4. Phase 1 — backbone features once per image (cached on disk), then the new head alone
  const phase1 = await runHeadPhase(t, prepared, config, NAME);

  // ## 5. Phase 2 — fine-tune the top blocks at a low learning rate (flip augmentation, early stopping)
  const { training, peak, callbacks } = await runFineTunePhase(t, prepared, config, NAME, t0);

  // ## 6. Evaluate on the held-out test rows
  const test = await evaluate(t.model, prepared.data, prepared.split.test);
  log(
    `test accuracy: head only ${(100 * phase1.testAcc).toFixed(2)}%, fine-tuned ${(100 * test.accuracy).toFixed(2)}%`,
  );

  // ## 7. The study's way measured (materialised, extrapolated) and the ablation (short runs)
  const { materialised, ablation } = await runStudyChecks(config, prepared, training);

  // ## 8. Report, and the whole model (~17 MB) saved beside it
  const files = await reportTransfer({
    name: NAME,
    config,
    prepared,
    t,
    backbone,
    phase1,
    training,
    phase2Peak: peak,
    test,
    materialised,
    ablation,
    callbacks,
    t0,
  });
  log(`wrote ${files.join(", ")}`);
});
