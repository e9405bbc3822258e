/**
 * # Experiment 04 — transfer learning that fits in memory and works
 *
 * The study upsampled every face to 224×224×3 up front (≈16 GiB), ran out of RAM and concluded that transfer "did not
 * work" (no number). Here the resize happens per batch inside the model: phase 1 trains a new head on a pretrained
 * MobileNetV2's features computed once per image, phase 2 fine-tunes its top blocks at a low learning rate.
 *
 * Result: 57.93% test accuracy (MobileNetV2 at 96×96; its head alone 43.03%), NLL 1.133, ECE 5.7%; 8 fine-tuning
 * epochs, 1 h 33 min on 2 cores (wasm); seed 42, study protocol — [reports/04_transfer.md](../reports/04_transfer.md).
 *
 *     deno task exp:04 --data data/fer2013.csv --size 96 --micro-batch 32 --ablation-rows 2000   # the reported run
 *     deno task exp:04 --data data/fer2013.csv        # at 224×224, the study's size (the default)
 *     deno task exp:04 --quick                        # offline smoke run on synthetic faces
 *
 * @module
 */
import { runExperiment } from "../lib/harness/experiment.ts";
import { IMAGE_SIZE } from "../lib/data/fer2013.ts";
import { setModelInput } from "../lib/models/input_spec.ts";
import { loadBackbone } from "../lib/transfer/backbone.ts";
import { TRANSFER_SETTINGS } from "../lib/transfer/config.ts";
import { buildTransferModel } from "../lib/transfer/model.ts";
import { transferExtras } from "../lib/transfer/report.ts";
import { runFineTunePhase, runHeadPhase, runStudyChecks } from "../lib/transfer/run.ts";

await runExperiment({
  name: "04_transfer",
  title: "Experiment 04 — transfer learning",
  story: "The study upsampled FER2013 to 224×224 RGB for ImageNet backbones, ran out of RAM, trained unstably " +
    "and gave up. This run resizes per batch inside the model, keeps the backbone's preprocessing and batch norm " +
    "in inference mode, trains a new head on features cached once per image (phase 1), then fine-tunes the top " +
    "blocks with a low learning rate (phase 2, whose history is below).",
  studyAccuracy: NaN, // the study's transfer attempt gave no number
  settings: TRANSFER_SETTINGS,
  quick: {
    size: 64,
    headEpochs: 8,
    headBatchSize: 32,
    epochs: 1,
    syntheticRows: 900,
    limitTrain: 500,
    ablationRows: 200,
  },
}, async (exp) => {
  const c = exp.config;
  // Build: 48×48 grey face (or its 44×44 crop) → per-batch resize to size×size RGB → pretrained backbone → pool →
  // dropout → softmax(7); a crop model records that it sees the centre crop and is scored with the ten-crop
  const backbone = await loadBackbone(c.backbone);
  const side = c.augment === "crops" ? c.cropSize : IMAGE_SIZE;
  const t = await buildTransferModel(backbone, {
    size: c.size,
    fineTuneBlocks: c.fineTuneBlocks,
    freezeBatchNorm: c.bn === "frozen",
    dropout: c.dropout,
    numClasses: 7,
    seed: c.seed,
    inputSide: side,
  });
  if (c.augment === "crops") setModelInput(t.model, { imageSize: IMAGE_SIZE, inputSize: side, tta: "crops" });

  // Phase 1 — backbone features once per image (cached on disk), then the new head alone
  const phase1 = await runHeadPhase(t, exp);

  // Phase 2 — fine-tune the top blocks at a low learning rate (flips or random crops, early stopping)
  const { training, peak } = await runFineTunePhase(t, exp);

  // The study's way measured (materialised, extrapolated) and the ablation (short runs)
  const { materialised, ablation } = await runStudyChecks(exp, training);

  // Evaluate on the held-out test rows, save the whole model (~17 MB), report with the transfer sections
  await exp.finish(
    t.model,
    training,
    transferExtras({ exp, t, backbone, phase1, training, phase2Peak: peak, materialised, ablation }),
  );
});
