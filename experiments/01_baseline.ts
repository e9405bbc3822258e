/**
 * # Experiment 01 — the study's baseline CNN
 *
 * The student study's first model: four conv blocks (3×3 conv → batch norm → ReLU → 2×2 max-pool → dropout growing
 * with depth, filters 32-64-128-128), a 256-unit dense layer and a softmax over the 7 emotions, trained with Adam.
 * The study reported 53.43% test accuracy on FER2013.
 *
 * What this script gets: 62.36% test accuracy on FER2013 (dev file, study protocol, seed 42) after all 30 epochs
 * (macro-F1 58.67%, NLL 0.993, ECE 2.6%); an epoch takes about 1 min 50 s on 2 idle cores (wasm), so the full run is
 * about an hour. `--quick` is a 2-minute smoke run on the synthetic faces.
 *
 *     deno task exp:01 --data data/fer2013.csv          # the full run
 *     deno task exp:01 --quick                          # a smoke run on whatever data is found
 *
 * Steps: load → split → augment → build → train → evaluate → report.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { COMMON_DEFAULTS, type CommonConfig } from "../lib/cli/args.ts";
import type { AugmentPresetName } from "../lib/data/augment.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { buildBaseline } from "../lib/models/baseline.ts";
import { EarlyStopping } from "../lib/train/callbacks.ts";

// ## Config — defaults in one place; `--quick` and flags override them.
interface Config extends CommonConfig {
  lr: number;
  augment: AugmentPresetName;
  patience: number;
}
const DEFAULTS: Config = { ...COMMON_DEFAULTS, epochs: 30, batchSize: 64, lr: 1e-3, augment: "flip", patience: 8 };

await runExperiment({
  name: "01_baseline",
  title: "Experiment 01 — baseline CNN",
  story: "The study's 4-block baseline: conv 3×3 → batch norm → ReLU → max-pool → dropout " +
    "(filters 32-64-128-128, dropout 0.1→0.4), dense 256 → dropout 0.5 → softmax, Adam.",
  studyAccuracy: 0.5343,
  defaults: DEFAULTS,
  quick: { epochs: 4, syntheticRows: 3500, limitTrain: 2800 },
  flags: {
    lr: { type: "number", help: "Adam learning rate" },
    augment: { type: "string", help: "augmentation preset", choices: ["none", "flip", "standard", "strong"] },
    patience: { type: "number", help: "early-stopping patience in epochs (0 = off)" },
  },
}, async (exp) => {
  const { config } = exp;
  // ## 1–2. Load and split: done by runExperiment (backend, data, cached split) — see exp.prepared.

  // ## 3–4. Build the study's 4-block CNN (augmentation: `config.augment`, applied per batch while training)
  const model = buildBaseline({
    filters: [32, 64, 128, 128], // one block each: conv 3×3 "same" → BN → ReLU → max-pool 2×2 → dropout
    dropout: [0.1, 0.2, 0.3, 0.4],
    dense: 256, // flatten → dense → BN → ReLU → dropout → softmax
    denseDropout: 0.5,
    batchNorm: true,
    kernelInit: "glorotUniform",
    inputSize: 48,
    numClasses: 7,
    seed: config.seed,
  });

  // ## 5. Train — early stopping on val loss restores the best epoch's weights, as Keras users do
  const training = await exp.train(model, {
    optimizer: tf.train.adam(config.lr),
    augment: config.augment,
    callbacks: config.patience > 0
      ? [new EarlyStopping({ monitor: "valLoss", patience: config.patience, restoreBestWeights: true })]
      : [],
  });

  // ## 6–7. Evaluate on the held-out test rows, save the model, write the report
  await exp.finish(model, training);
});
