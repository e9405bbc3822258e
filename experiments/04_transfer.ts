/**
 * # Experiment 04 — transfer learning that fits in memory and works
 *
 * The study upsampled every 48×48 face to 224×224×3 up front (≈16 GiB for 28,709 images), ran out of RAM, trained
 * unstably and concluded that transfer "did not work" (no number). Here the resize happens per batch inside the
 * model, the backbone keeps its own preprocessing and batch norm stays in inference mode; phase 1 trains a new head on
 * features computed once per image, phase 2 fine-tunes the top blocks with a low learning rate.
 *
 * What this script gets: 57.93% on the study's test rows with MobileNetV2 (nsfwjs, 96×96) after 8 fine-tuning epochs
 * (early stopping kept epoch 6; head only 43.03%) — transfer works once it fits in memory, but stays below 01's plain
 * CNN (62.36%) on 48×48 faces. On 2 idle cores at 96×96 a fine-tuning epoch takes 5–6 minutes (73–95 images/s),
 * features for the head about 3 minutes (160–210 images/s, then cached): under an hour, plus about 6 minutes for the
 * ablation (`--ablation-rows 2000`).
 *
 *     deno task exp:04 --data data/fer2013.csv --size 96      # a real run (224, the study's size, is the default)
 *     deno task exp:04 --quick                                 # offline smoke run on synthetic faces
 *
 * @module
 */
import { COMMON_DEFAULTS } from "../lib/cli/args.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { loadBackbone } from "../lib/transfer/backbone.ts";
import { TRANSFER_FLAGS, type TransferConfig } from "../lib/transfer/config.ts";
import { buildTransferModel } from "../lib/transfer/model.ts";
import { transferExtras } from "../lib/transfer/report.ts";
import { runFineTunePhase, runHeadPhase, runStudyChecks } from "../lib/transfer/run.ts";

// ## Config — defaults in one place; `--quick` and flags override them.
const DEFAULTS: TransferConfig = {
  ...COMMON_DEFAULTS,
  backbone: "nsfwjs-mobilenet-v2-mid", // MobileNetV2 α 1.4, shipped in npm nsfwjs (see the report for its training data)
  size: 224,
  fineTuneBlocks: 5, // blocks 13–16 and the last 1×1 conv
  bn: "frozen",
  bnRecalRows: 0, // batch norm is frozen: its population statistics are the backbone's, never re-estimated
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

await runExperiment<TransferConfig>({
  name: "04_transfer",
  title: "Experiment 04 — transfer learning",
  story: "The study upsampled FER2013 to 224×224 RGB for ImageNet backbones, ran out of RAM, trained unstably " +
    "and gave up. This run resizes per batch inside the model, keeps the backbone's preprocessing and batch norm " +
    "in inference mode, trains a new head on features cached once per image (phase 1), then fine-tunes the top " +
    "blocks with a low learning rate (phase 2, whose history is below).",
  studyAccuracy: NaN, // the study's transfer attempt gave no number
  defaults: DEFAULTS,
  quick: {
    size: 64,
    headEpochs: 8,
    headBatchSize: 32,
    epochs: 1,
    syntheticRows: 900,
    limitTrain: 500,
    ablationRows: 200,
  },
  flags: TRANSFER_FLAGS,
}, async (exp) => {
  const c = exp.config;
  // ## 1. Build: 48×48 grey → per-batch resize to size×size RGB → pretrained backbone → pool → dropout → softmax(7)
  const backbone = await loadBackbone(c.backbone);
  const t = await buildTransferModel(backbone, {
    size: c.size,
    fineTuneBlocks: c.fineTuneBlocks,
    freezeBatchNorm: c.bn === "frozen",
    dropout: c.dropout,
    numClasses: 7,
    seed: c.seed,
  });

  // ## 2. Phase 1 — backbone features once per image (cached on disk), then the new head alone
  const phase1 = await runHeadPhase(t, exp);

  // ## 3. Phase 2 — fine-tune the top blocks at a low learning rate (flip augmentation, early stopping)
  const { training, peak } = await runFineTunePhase(t, exp);

  // ## 4. The study's way measured (materialised, extrapolated) and the ablation (short runs)
  const { materialised, ablation } = await runStudyChecks(exp, training);

  // ## 5. Evaluate on the held-out test rows, save the whole model (~17 MB), report with the transfer sections
  await exp.finish(
    t.model,
    training,
    transferExtras({ exp, t, backbone, phase1, training, phase2Peak: peak, materialised, ablation }),
  );
});
