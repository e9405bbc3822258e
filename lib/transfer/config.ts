/**
 * Experiment 04's settings, each declared once: the common ones it
 * re-defaults, then its own.
 *
 * @module
 */
import { common, type CommonConfig, type ConfigOf, num, oneOf, text } from "../cli/args.ts";

/** Experiment 04's settings beyond (and re-defaulting) the common ones. */
export const TRANSFER_SETTINGS = {
  // MobileNetV2 α 1.4, shipped in npm nsfwjs (the report says what it was trained on)
  backbone: text("nsfwjs-mobilenet-v2-mid", "backbone: registry id (see BACKBONES), TF.js model dir or URL"),
  size: num(224, "backbone input side (faces are resized per batch)"),
  // blocks 13–16 and the last 1×1 conv
  fineTuneBlocks: num(5, "top backbone blocks fine-tuned in phase 2 (0 = head only)"),
  bn: oneOf(["frozen", "live"], "frozen", "batch norm while fine-tuning: inference mode, or TF.js's batch statistics"),
  // batch norm is frozen: its population statistics are the backbone's, never re-estimated
  bnRecalRows: common("bnRecalRows", 0),
  headEpochs: num(20, "phase 1 epochs (head on cached features)"),
  // cached features are cheap: big batches keep per-step overhead down
  headBatchSize: num(256, "phase 1 batch size"),
  headLr: num(1e-3, "phase 1 Adam learning rate"),
  epochs: common("epochs", 8),
  lr: num(1e-4, "phase 2 Adam learning rate"),
  batchSize: common("batchSize", 32),
  microBatch: num(16, "phase 2 micro-batch (gradient accumulation bounds activation memory)"),
  dropout: num(0.3, "dropout before the new dense layer"),
  // flip is the committed 96-px run's; crops is experiment 06's recipe (transform, random crops, erasing, ten-crop)
  augment: oneOf(["flip", "crops"], "flip", "phase 2 augmentation: left-right flips, or 06's random-crop recipe"),
  cropSize: num(44, "side of the random training crops and the ten-crop, with --augment crops", {
    positiveInt: true,
  }),
  erasing: num(0.5, "probability of random erasing per training image, with --augment crops", { range: "[0, 1]" }),
  monitor: oneOf(["valLoss", "valAcc"], "valLoss", "what phase 2's early stopping and plateau schedule watch"),
  patience: num(3, "phase 2 early-stopping patience (epochs)"),
  lrPatience: num(0, "phase 2 ReduceLROnPlateau patience in epochs (0 = constant learning rate)", {
    integer: true,
    range: "[0, inf)",
  }),
  lrFactor: num(0.5, "phase 2 ReduceLROnPlateau factor", { range: "(0, 1)" }),
  ablationRows: num(0, "training rows of each short ablation run (0 = none)"),
};

/** Experiment 04's resolved config. */
export type TransferConfig = CommonConfig & ConfigOf<typeof TRANSFER_SETTINGS>;
