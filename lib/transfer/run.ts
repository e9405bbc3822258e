/**
 * Experiment 04's steps at the height the script reads them: each takes the
 * running experiment (its config, data and split) and derives the paths,
 * rows and options the mechanics in `phases.ts` need.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { removeIfExists } from "../atomic_write.ts";
import type { Experiment } from "../harness/experiment.ts";
import { AUGMENT_PRESETS } from "../data/augment.ts";
import { cropAugmentation } from "../data/crops.ts";
import { IMAGE_SIZE } from "../data/fer2013.ts";
import { inputSide } from "../models/input_spec.ts";
import { EarlyStopping, ReduceLROnPlateau } from "../train/callbacks.ts";
import type { TrainResult } from "../train/loop.ts";
import type { TransferConfig } from "./config.ts";
import { featureKey } from "./features.ts";
import {
  type MaterialisedCost,
  materialisedCost,
  MemoryMonitor,
  type MemorySample,
  peakOverSessions,
} from "./memory.ts";
import type { TransferModel } from "./model.ts";
import { type AblationRow, ablationVariants, headPhase, type HeadPhaseResult, runAblation } from "./phases.ts";

/** Phase 1 with its feature cache under `.cache/transfer/` and its head under the run's checkpoints. */
export function runHeadPhase(t: TransferModel, exp: Experiment<TransferConfig>): Promise<HeadPhaseResult> {
  const { config: c, prepared: p } = exp;
  const side = inputSide(t.features);
  const key = featureKey({
    backbone: c.backbone,
    size: c.size,
    data: p.dataFacts.fingerprint,
    rows: p.trainRows,
    crop: side === IMAGE_SIZE ? undefined : side,
  });
  return headPhase({
    t,
    data: p.data,
    rows: { train: p.trainRows, val: p.split.val, test: p.split.test },
    cachePath: `.cache/transfer/${key}.bin`,
    dir: exp.checkpointPath(`${exp.name}/head`),
    resume: c.resume,
    epochs: c.headEpochs,
    batchSize: c.batchSize,
    headBatchSize: c.headBatchSize,
    lr: c.headLr,
    seed: c.seed,
    log: exp.log,
  });
}

/** What phase 2 returns. */
export interface FineTuneResult {
  training: TrainResult;
  peak: MemorySample;
}

/**
 * Phase 2 through the experiment's training loop: Adam at the low `lr`, flips
 * or 06's random-crop recipe, micro-batches, early stopping (and, with
 * `lrPatience`, a plateau schedule) on the monitored metric, per-epoch
 * checkpoints and the run's `--max-minutes`. With `fineTuneBlocks` 0 there
 * is nothing to fine-tune and the phase is skipped.
 */
export async function runFineTunePhase(t: TransferModel, exp: Experiment<TransferConfig>): Promise<FineTuneResult> {
  const c = exp.config;
  const monitor = new MemoryMonitor().start();
  if (c.fineTuneBlocks <= 0) {
    const reason = "head only: --fine-tune-blocks 0, no fine-tuning";
    exp.log(reason);
    return {
      training: { history: [], stoppedEarly: true, cutShort: false, reason, wallSeconds: 0 },
      peak: monitor.stop(),
    };
  }
  const augment = c.augment === "crops"
    ? cropAugmentation({ ...AUGMENT_PRESETS.standard, imageSize: IMAGE_SIZE, cropSize: c.cropSize, erasing: c.erasing })
    : "flip";
  const training = await exp.train(t.model, {
    optimizer: tf.train.adam(c.lr),
    microBatch: c.microBatch,
    augment,
    callbacks: [
      ...(c.lrPatience > 0
        ? [new ReduceLROnPlateau({ monitor: c.monitor, factor: c.lrFactor, patience: c.lrPatience, minLr: 1e-6 })]
        : []),
      new EarlyStopping({ monitor: c.monitor, patience: c.patience, restoreBestWeights: true }),
    ],
    checkpoint: `${exp.name}/finetune`,
  });
  const peak = await peakOverSessions(exp.checkpointPath(`${exp.name}/finetune/peak.json`), monitor.stop(), c.resume);
  return { training, peak };
}

/**
 * The study's way measured (256 images materialised at 224×224×3, then
 * extrapolated) and the short ablation runs (skipped when `ablationRows` is
 * 0 or the main run was cut short, so a resumed run does them at its end).
 */
export async function runStudyChecks(
  exp: Experiment<TransferConfig>,
  training: TrainResult,
): Promise<{ materialised: MaterialisedCost; ablation: AblationRow[] }> {
  const { config: c, prepared: p } = exp;
  const sample = tf.randomUniform([256, 48, 48, 1]) as tf.Tensor4D;
  const materialised = await materialisedCost(sample, 224);
  sample.dispose();
  if (c.ablationRows <= 0 || training.cutShort) return { materialised, ablation: [] };
  // A fresh run starts its ablation over; a resumed one keeps the variants already done
  const resultsPath = exp.checkpointPath(`${exp.name}/ablation.json`);
  if (!c.resume) await removeIfExists(resultsPath);
  const ablation = await runAblation(ablationVariants(c), {
    data: p.data,
    trainRows: p.trainRows.slice(0, c.ablationRows),
    valRows: p.split.val.slice(0, Math.ceil(c.ablationRows / 3)),
    headEpochs: c.headEpochs,
    headBatchSize: c.headBatchSize,
    batchSize: c.batchSize,
    microBatch: c.microBatch,
    headLr: c.headLr,
    lr: c.lr,
    seed: c.seed,
    log: exp.log,
    resultsPath,
  });
  return { materialised, ablation };
}
