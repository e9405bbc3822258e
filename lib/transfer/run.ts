/**
 * Experiment 04's steps at the height the script reads them: each takes the
 * resolved config and the prepared data, and derives the paths, rows and
 * options the mechanics in `phases.ts` need.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { augmentBatch, augmentPreset } from "../data/augment.ts";
import type { Prepared } from "../harness/prepare.ts";
import { log } from "../harness/prepare.ts";
import { makeRng } from "../rng.ts";
import { EarlyStopping } from "../train/callbacks.ts";
import { train, type TrainResult } from "../train/loop.ts";
import type { TransferConfig } from "./config.ts";
import { featureKey } from "./features.ts";
import { type MaterialisedCost, materialisedCost, MemoryMonitor, type MemorySample } from "./memory.ts";
import type { TransferModel } from "./model.ts";
import { type AblationRow, ablationVariants, headPhase, type HeadPhaseResult, runAblation } from "./phases.ts";

/** Phase 1 with its feature cache under `.cache/transfer/` and its head under the run's checkpoints. */
export function runHeadPhase(t: TransferModel, p: Prepared, c: TransferConfig, name: string): Promise<HeadPhaseResult> {
  const key = featureKey({ backbone: c.backbone, size: c.size, data: p.dataFacts.fingerprint, rows: p.trainRows });
  return headPhase({
    t,
    data: p.data,
    rows: { train: p.trainRows, val: p.split.val, test: p.split.test },
    cachePath: `.cache/transfer/${key}.bin`,
    dir: `${c.out}/checkpoints/${name}/head`,
    resume: c.resume,
    epochs: c.headEpochs,
    batchSize: c.batchSize,
    headBatchSize: c.headBatchSize,
    lr: c.headLr,
    seed: c.seed,
    log,
  });
}

/** What phase 2 returns. */
export interface FineTuneResult {
  training: TrainResult;
  peak: MemorySample;
  callbacks: EarlyStopping[];
}

/**
 * Phase 2 through the shared loop: Adam at the low `lr`, flip augmentation,
 * early stopping on validation loss, per-epoch checkpoints, and the run's
 * `--max-minutes` counted from `t0` (the script's start). With
 * `fineTuneBlocks` 0 there is nothing to fine-tune and the phase is skipped.
 */
export async function runFineTunePhase(
  t: TransferModel,
  p: Prepared,
  c: TransferConfig,
  name: string,
  t0: number,
): Promise<FineTuneResult> {
  const monitor = new MemoryMonitor().start();
  if (c.fineTuneBlocks <= 0) {
    const reason = "head only: --fine-tune-blocks 0, no fine-tuning";
    log(reason);
    return {
      training: { history: [], stoppedEarly: true, cutShort: false, reason, wallSeconds: 0 },
      peak: monitor.stop(),
      callbacks: [],
    };
  }
  const callbacks = [new EarlyStopping({ monitor: "valLoss", patience: c.patience, restoreBestWeights: true })];
  const flip = augmentPreset("flip");
  const training = await train({
    model: t.model,
    optimizer: tf.train.adam(c.lr),
    data: p.data,
    trainRows: p.trainRows,
    valRows: p.split.val,
    epochs: c.epochs,
    batchSize: c.batchSize,
    microBatch: c.microBatch,
    augment: (x, rng) => augmentBatch(x, flip, rng),
    rng: makeRng(`${c.seed}:train`),
    callbacks,
    checkpoint: { dir: `${c.out}/checkpoints/${name}/finetune` },
    resume: c.resume,
    maxSeconds: c.maxMinutes > 0 ? Math.max(60, c.maxMinutes * 60 - (performance.now() - t0) / 1000) : undefined,
  });
  return { training, peak: monitor.stop(), callbacks };
}

/**
 * The study's way measured (256 images materialised at 224×224×3, then
 * extrapolated) and the short ablation runs (skipped when `ablationRows` is
 * 0 or the main run was cut short, so a resumed run does them at its end).
 */
export async function runStudyChecks(
  c: TransferConfig,
  p: Prepared,
  training: TrainResult,
): Promise<{ materialised: MaterialisedCost; ablation: AblationRow[] }> {
  const sample = tf.randomUniform([256, 48, 48, 1]) as tf.Tensor4D;
  const materialised = await materialisedCost(sample, 224);
  sample.dispose();
  if (c.ablationRows <= 0 || training.cutShort) return { materialised, ablation: [] };
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
    log,
  });
  return { materialised, ablation };
}
