/**
 * # Experiment 01 — the study's baseline CNN
 *
 * The student study's first model, a plain Keras CNN (its layers are the story below), trained with Adam on left–right
 * flipped faces with early stopping on validation loss. The study reported 53.43% test accuracy on FER2013.
 *
 * Result: 62.36% test accuracy, NLL 0.993, ECE 2.6%; all 30 epochs, about 1 min 50 s each on 2 idle cores (wasm);
 * seed 42, study protocol — [reports/01_baseline.md](../reports/01_baseline.md).
 *
 *     deno task exp:01 --data data/fer2013.csv          # the full run, about an hour
 *     deno task exp:01 --quick                          # a 2-minute smoke run (synthetic faces without FER2013)
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { choicesOf, num, oneOf } from "../lib/cli/args.ts";
import { AUGMENT_PRESETS } from "../lib/data/augment.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { EarlyStopping } from "../lib/train/callbacks.ts";

await runExperiment({
  name: "01_baseline",
  title: "Experiment 01 — baseline CNN",
  story: "The study's 4-block baseline: conv 3×3 → batch norm → ReLU → max-pool → dropout " +
    "(filters 32-64-128-128, dropout 0.1→0.4), dense 256 → dropout 0.5 → softmax, Adam.",
  studyAccuracy: 0.5343,
  settings: {
    lr: num(1e-3, "Adam learning rate"),
    augment: oneOf(choicesOf(AUGMENT_PRESETS), "flip", "augmentation preset"),
    patience: num(8, "early-stopping patience in epochs (0 = off)"),
  },
  quick: { epochs: 4, syntheticRows: 3500, limitTrain: 2800 },
}, async (exp) => {
  const { config } = exp;
  const model = buildBaseline({
    filters: [32, 64, 128, 128],
    dropout: [0.1, 0.2, 0.3, 0.4],
    dense: 256,
    denseDropout: 0.5,
    batchNorm: true,
    kernelInit: "glorotUniform",
    inputSize: 48,
    numClasses: 7,
    seed: config.seed,
  });

  // Early stopping on validation loss restores the best epoch's weights, as Keras users do
  const training = await exp.train(model, {
    optimizer: tf.train.adam(config.lr),
    augment: config.augment,
    callbacks: config.patience > 0
      ? [new EarlyStopping({ monitor: "valLoss", patience: config.patience, restoreBestWeights: true })]
      : [],
  });
  await exp.finish(model, training);
});
