/**
 * # Experiment 03 — the study's deep 5-block LeakyReLU CNN
 *
 * The study's best model: five conv blocks with LeakyReLU, global average pooling and a dense layer, label smoothing
 * 0.1, Adam with ReduceLROnPlateau and early stopping on validation accuracy, strong augmentation. The study reported
 * 62%. Its filters (128→512) would take about 18 hours here, so the default `lean` narrows them to 32→512.
 *
 * Result: 61.86% test accuracy (`lean`), NLL 1.023, ECE 5.3% (5.2 points underconfident); 56 of 60 epochs (early
 * stop), 3 h 24 min on 2 cores (wasm); seed 42, study protocol — [reports/03_deep.md](../reports/03_deep.md).
 *
 *     deno task exp:03 --data data/fer2013.csv --max-minutes 300     # the full run (resume with --resume)
 *     deno task exp:03 --data data/fer2013.csv --epochs 12 --label-smoothing 0   # an ablation: 03_deep_ls0_12ep
 *     deno task exp:03 --quick
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { choicesOf, common, num, oneOf } from "../lib/cli/args.ts";
import { calibrationComparison } from "../lib/compare/calibration.ts";
import { ablationResults } from "../lib/compare/results.ts";
import { costSentence, measureArchitectures } from "../lib/train/costs.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { buildDeep, DEEP_ARCHITECTURES } from "../lib/models/deep.ts";
import { EarlyStopping, ReduceLROnPlateau } from "../lib/train/callbacks.ts";

// The architectures (lib/models/deep.ts): five blocks of conv 3×3 "same" → BN → LeakyReLU 0.1 → max-pool 2×2 →
// dropout (0.1, 0.2, 0.25, 0.3, 0.4); global average pooling → dense 512 → LeakyReLU → BN → dropout 0.5 → softmax.
// `study`: the study's filters 128→512; `lean`: 32→512.
const ARCHITECTURES = DEEP_ARCHITECTURES;

await runExperiment({
  name: "03_deep",
  title: "Experiment 03 — deep 5-block LeakyReLU CNN",
  story: "The study's deep model: 5 conv blocks (filters rising to 512, batch norm, LeakyReLU, dropout), global " +
    "average pooling, dense 512, label smoothing 0.1, Adam with ReduceLROnPlateau and early stopping on validation " +
    "accuracy, strong augmentation. The study's filters (128→512) cost about ten times the FLOPs of `lean` " +
    "(32→512), which keeps every other part of the model: on a 2-core CPU 60 epochs of the study's would take about " +
    "18 hours, of `lean` about 3. The run times both in its first minutes (below) and trains `lean` unless " +
    "`--arch study` asks. A run that changes the architecture, the label smoothing or the epochs is an ablation " +
    "with its own report, named by what it changed (`03_deep_ls0`, `03_deep_ls0_12ep`): `--label-smoothing 0` " +
    "tests the study's claim that smoothing made the model better calibrated (its calibration section sets the " +
    "runs side by side).",
  studyAccuracy: 0.62,
  // The order here is the order of an ablation's suffixes: 03_deep_ls0_12ep.
  settings: {
    arch: oneOf(choicesOf(ARCHITECTURES), "lean", "architecture", { ablation: (a) => a }),
    lr: num(1e-3, "Adam learning rate"),
    labelSmoothing: num(0.1, "label smoothing of the one-hot targets (0 = the ablation)", {
      ablation: (v) => `ls${v}`,
    }),
    epochs: common("epochs", 60, { ablation: (n) => `${n}ep` }),
    patience: num(10, "early-stopping patience on validation accuracy (0 = off)"),
    measureSteps: num(3, "time N training steps of each architecture first (0 = skip)"),
  },
  quick: { epochs: 3, batchSize: 32, syntheticRows: 2000, limitTrain: 1000, measureSteps: 1 },
}, async (exp) => {
  const { config } = exp;
  // Cost both architectures on this machine (a few steps each), so the report can say why it runs what it runs
  const costs = config.measureSteps > 0
    ? await measureArchitectures({
      study: () => buildDeep({ ...ARCHITECTURES.study, seed: 1 }),
      lean: () => buildDeep({ ...ARCHITECTURES.lean, seed: 1 }),
    }, {
      batchSize: config.batchSize,
      steps: config.measureSteps,
      epochImages: exp.prepared.split.train.length,
      log: exp.log,
    })
    : [];

  // Build, and train with the study's recipe
  const model = buildDeep({ ...ARCHITECTURES[config.arch], seed: config.seed });
  const training = await exp.train(model, {
    optimizer: tf.train.adam(config.lr),
    augment: "strong",
    labelSmoothing: config.labelSmoothing,
    callbacks: [
      new ReduceLROnPlateau({ monitor: "valAcc", factor: 0.5, patience: 3, minLr: 1e-6 }),
      ...(config.patience > 0
        ? [new EarlyStopping({ monitor: "valAcc", patience: config.patience, restoreBestWeights: true })]
        : []),
    ],
  });

  // Evaluate, save, report — with the measured costs and the calibration beside 01, 02 and the ablations
  const others = ["01_baseline", "02_tuned", "03_deep", ...await ablationResults(config.out, "03_deep")]
    .filter((n) => n !== exp.name);
  const comparison = await calibrationComparison(config.out, others);
  await exp.finish(model, training, {
    preface: [costSentence(costs, config.arch, { reference: "study", epochs: config.epochs })],
    sections: comparison ? [comparison] : [],
    json: { architectures: ARCHITECTURES, measuredCosts: costs },
  });
});
