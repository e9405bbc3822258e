/**
 * The settings experiment 04 adds to the common ones, and their flags.
 *
 * @module
 */
import type { CommonConfig, Flag } from "../cli/args.ts";

/** Experiment 04's config (its defaults live in the script). */
export interface TransferConfig extends CommonConfig {
  /** Registry id (see `BACKBONES`), TF.js model directory or URL. */
  backbone: string;
  /** Side the faces are resized to, per batch. */
  size: number;
  /** Top blocks fine-tuned in phase 2. */
  fineTuneBlocks: number;
  /** Batch norm during fine-tuning: inference mode, or TF.js's batch statistics. */
  bn: "frozen" | "live";
  headEpochs: number;
  /** Phase 1 batch (cached features are cheap: big batches keep per-step overhead down). */
  headBatchSize: number;
  headLr: number;
  /** Phase 2 learning rate. */
  lr: number;
  /** Micro-batch of phase 2 (gradient accumulation bounds activation memory). */
  microBatch: number;
  dropout: number;
  patience: number;
  /** Training rows of each short ablation run (0 = no ablation). */
  ablationRows: number;
}

/** Flags of {@link TransferConfig} beyond the common ones. */
export const TRANSFER_FLAGS: Record<string, Flag> = {
  backbone: { type: "string", help: "backbone: registry id, TF.js model dir or URL" },
  size: { type: "number", help: "backbone input side (faces are resized per batch)" },
  fineTuneBlocks: { type: "number", help: "top backbone blocks fine-tuned in phase 2 (0 = head only)" },
  bn: { type: "string", help: "batch norm while fine-tuning: frozen|live" },
  headEpochs: { type: "number", help: "phase 1 epochs (head on cached features)" },
  headBatchSize: { type: "number", help: "phase 1 batch size" },
  headLr: { type: "number", help: "phase 1 Adam learning rate" },
  lr: { type: "number", help: "phase 2 Adam learning rate" },
  microBatch: { type: "number", help: "phase 2 micro-batch (gradient accumulation)" },
  dropout: { type: "number", help: "dropout before the new dense layer" },
  patience: { type: "number", help: "phase 2 early-stopping patience (epochs)" },
  ablationRows: { type: "number", help: "training rows of each short ablation run (0 = none)" },
};
