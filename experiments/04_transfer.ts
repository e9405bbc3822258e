/**
 * # Experiment 04 — transfer learning that fits in memory and works
 *
 * The study upsampled every 48×48 face to 224×224×3 up front (≈17 GB for 28,709 images), ran out of RAM, saw
 * unstable training and concluded that transfer "did not work". Here the resize happens per batch inside the model,
 * the backbone keeps its own preprocessing and batch norm stays in inference mode; phase 1 trains a new head on
 * features computed once per image, phase 2 fine-tunes the top blocks with a low learning rate.
 *
 *     deno task exp:04 --data data/fer2013.csv --size 96       # a real run (224 is the study's size and the default)
 *     deno task exp:04 --quick                                  # offline smoke run on synthetic faces
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { COMMON_DEFAULTS, resolveConfig } from "../lib/cli/args.ts";
import { augmentBatch, augmentPreset } from "../lib/data/augment.ts";
import { evaluate } from "../lib/eval/metrics.ts";
import { runMain } from "../lib/experiment/main.ts";
import { log, prepare } from "../lib/experiment/prepare.ts";
import { makeRng } from "../lib/rng.ts";
import { EarlyStopping } from "../lib/train/callbacks.ts";
import { train } from "../lib/train/loop.ts";
import { loadBackbone } from "../lib/transfer/backbone.ts";
import { TRANSFER_FLAGS, type TransferConfig } from "../lib/transfer/config.ts";
import { featureKey } from "../lib/transfer/features.ts";
import { materialisedCost, MemoryMonitor } from "../lib/transfer/memory.ts";
import { buildTransferModel } from "../lib/transfer/model.ts";
import { ablationVariants, headPhase, runAblation } from "../lib/transfer/phases.ts";
import { reportTransfer } from "../lib/transfer/report.ts";

const NAME = "04_transfer";

// ## Config — defaults in one place; `--quick` and flags override them.
type Config = TransferConfig;
const DEFAULTS: Config = {
  ...COMMON_DEFAULTS,
  backbone: "nsfwjs-mobilenet-v2-mid",
  size: 224,
  fineTuneBlocks: 5,
  bn: "frozen",
  headEpochs: 30,
  headLr: 1e-3,
  epochs: 8,
  lr: 1e-4,
  batchSize: 32,
  microBatch: 16,
  dropout: 0.3,
  patience: 3,
  ablationRows: 0,
};
const QUICK: Partial<Config> = {
  size: 64,
  headEpochs: 8,
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
  const { data, split, trainRows } = prepared;

  // ## 3. The backbone (offline default: a pretrained MobileNetV2 shipped in an npm package) and the new head
  const backbone = await loadBackbone(config.backbone);
  const t = await buildTransferModel(backbone, {
    size: config.size,
    fineTuneBlocks: config.fineTuneBlocks,
    freezeBatchNorm: config.bn === "frozen",
    dropout: config.dropout,
    numClasses: 7,
    seed: config.seed,
  });

  // ## 4. Phase 1 — features once per image (cached), then the head alone
  const phase1 = await headPhase({
    t,
    data,
    rows: { train: trainRows, val: split.val, test: split.test },
    cachePath: `.cache/transfer/${
      featureKey({
        backbone: config.backbone,
        size: config.size,
        data: prepared.dataFacts.fingerprint,
        rows: trainRows,
      })
    }.bin`,
    dir: `${config.out}/checkpoints/${NAME}/head`,
    resume: config.resume,
    epochs: config.headEpochs,
    batchSize: config.batchSize,
    headBatchSize: 256,
    lr: config.headLr,
    seed: config.seed,
    log,
  });

  // ## 5. Phase 2 — fine-tune the top blocks with a low learning rate (flip augmentation, early stopping)
  const monitor = new MemoryMonitor().start();
  const callbacks = [new EarlyStopping({ monitor: "valLoss", patience: config.patience, restoreBestWeights: true })];
  const training = await train({
    model: t.model,
    optimizer: tf.train.adam(config.lr),
    data,
    trainRows,
    valRows: split.val,
    epochs: config.epochs,
    batchSize: config.batchSize,
    microBatch: config.microBatch,
    augment: (x, rng) => augmentBatch(x, augmentPreset("flip"), rng),
    rng: makeRng(`${config.seed}:train`),
    callbacks,
    checkpoint: { dir: `${config.out}/checkpoints/${NAME}/finetune` },
    resume: config.resume,
    maxSeconds: config.maxMinutes > 0
      ? Math.max(60, config.maxMinutes * 60 - (performance.now() - t0) / 1000)
      : undefined,
  });
  const phase2Peak = monitor.stop();

  // ## 6. Evaluate on the held-out test rows
  const test = await evaluate(t.model, data, split.test);
  log(
    `test accuracy: head only ${(100 * phase1.testAcc).toFixed(2)}%, fine-tuned ${(100 * test.accuracy).toFixed(2)}%`,
  );

  // ## 7. Memory the study's way (materialised, on a few images) and the ablation (short runs)
  const sample = tf.tidy(() => tf.randomUniform([256, 48, 48, 1]) as tf.Tensor4D);
  const materialised = await materialisedCost(sample, 224);
  sample.dispose();
  const ablation = config.ablationRows > 0 && !training.cutShort
    ? await runAblation(ablationVariants(config), {
      data,
      trainRows: trainRows.slice(0, config.ablationRows),
      valRows: split.val.slice(0, Math.ceil(config.ablationRows / 3)),
      headEpochs: config.headEpochs,
      batchSize: config.batchSize,
      microBatch: config.microBatch,
      headLr: config.headLr,
      lr: config.lr,
      seed: config.seed,
      log,
    })
    : [];

  // ## 8. Report and save (the whole model is ~20 MB, so it is saved whole)
  const files = await reportTransfer({
    name: NAME,
    config,
    prepared,
    t,
    backbone,
    phase1,
    training,
    phase2Peak,
    test,
    materialised,
    ablation,
    callbacks,
    t0,
  });
  log(`wrote ${files.join(", ")}`);
});
