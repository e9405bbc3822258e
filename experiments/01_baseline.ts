/**
 * # Experiment 01 — the study's baseline CNN
 *
 * The student study's first model: four conv blocks (3×3 conv → batch norm →
 * ReLU → 2×2 max-pool → dropout growing with depth, filters 32-64-128-128),
 * a 256-unit dense layer and a softmax over the 7 emotions, trained with Adam.
 * It reached **53.43%** test accuracy on FER2013. This script reproduces it:
 *
 *     deno task exp:01 --data data/fer2013.csv          # the full run
 *     deno task exp:01 --quick                          # a smoke run on whatever data is found
 *
 * Steps: load → split → augment → build → train → evaluate → report.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { COMMON_DEFAULTS, type CommonConfig, resolveConfig } from "../lib/cli/args.ts";
import { augmentBatch, augmentPreset, type AugmentPresetName } from "../lib/data/augment.ts";
import { evaluate } from "../lib/eval/metrics.ts";
import { runMain } from "../lib/cli/main.ts";
import { log, prepare } from "../lib/harness/prepare.ts";
import { writeExperimentReport } from "../lib/harness/report.ts";
import { saveModel } from "../lib/models/io.ts";
import { buildBaseline, DEFAULT_BASELINE } from "../lib/models/baseline.ts";
import { countFlops } from "../lib/models/flops.ts";
import { makeRng, type Rng } from "../lib/rng.ts";
import { EarlyStopping } from "../lib/train/callbacks.ts";
import { train } from "../lib/train/loop.ts";

const NAME = "01_baseline";

// ## Config — defaults in one place; `--quick` and flags override them.
interface Config extends CommonConfig {
  lr: number;
  augment: AugmentPresetName;
  patience: number;
  bnRecalRows: number;
}
const DEFAULTS: Config = {
  ...COMMON_DEFAULTS,
  epochs: 30,
  batchSize: 64,
  lr: 1e-3,
  augment: "flip",
  patience: 8,
  bnRecalRows: 2048,
};
const QUICK: Partial<Config> = { epochs: 4, syntheticRows: 3500, limitTrain: 2800 };

await runMain(async () => {
  const t0 = performance.now();
  const config = resolveConfig(Deno.args, "exp:01", DEFAULTS, QUICK, {
    lr: { type: "number", help: "Adam learning rate" },
    augment: { type: "string", help: "augmentation preset: none|flip|standard|strong" },
    patience: { type: "number", help: "early-stopping patience in epochs (0 = off)" },
    bnRecalRows: {
      type: "number",
      help: "re-estimate batch-norm statistics on N training images before validation (0 = off)",
    },
  });
  if (!config) return;
  log(`${NAME}: ${JSON.stringify(config)}`);

  // ## 1–2. Load and split (backend, data and split cache are shared by every experiment)
  const prepared = await prepare(config);
  const { data, split, trainRows } = prepared;

  // ## 3. Augment — per batch, on the tensor backend, seeded from the run's rng
  const augmentConfig = augmentPreset(config.augment);
  const augment = config.augment === "none"
    ? undefined
    : (x: tf.Tensor4D, rng: Rng) => augmentBatch(x, augmentConfig, rng);

  // ## 4. Build the study's 4-block CNN
  const model = buildBaseline({ ...DEFAULT_BASELINE, seed: config.seed });
  const summary: string[] = [];
  model.summary(100, undefined, (line: string) => summary.push(line));

  // ## 5. Train — early stopping on val loss restores the best epoch's weights, as Keras users do
  const callbacks = config.patience > 0
    ? [new EarlyStopping({ monitor: "valLoss", patience: config.patience, restoreBestWeights: true })]
    : [];
  const training = await train({
    model,
    optimizer: tf.train.adam(config.lr),
    data,
    trainRows,
    valRows: split.val,
    epochs: config.epochs,
    batchSize: config.batchSize,
    augment,
    rng: makeRng(`${config.seed}:train`),
    callbacks,
    checkpoint: { dir: `${config.out}/checkpoints/${NAME}` },
    resume: config.resume,
    maxSeconds: config.maxMinutes > 0 ? config.maxMinutes * 60 : undefined,
    bnRecalibrationRows: config.bnRecalRows,
  });

  callbacks.forEach((c) => c.dispose());

  // ## 6. Evaluate on the held-out test rows (never seen by training or early stopping)
  const test = await evaluate(model, data, split.test);
  const val = split.val.length ? await evaluate(model, data, split.val) : undefined;
  const vsStudy = prepared.dataFacts.kind === "synthetic" ? "synthetic data, not comparable with" : "study:";
  log(`test accuracy ${(100 * test.accuracy).toFixed(2)}% on ${test.n} images (${vsStudy} 53.43%)`);

  // ## 7. Report and save
  const modelDir = `models/${NAME}`;
  await saveModel(model, `${config.out}/${modelDir}`);
  const files = await writeExperimentReport(config.out, {
    name: NAME,
    title: "Experiment 01 — baseline CNN",
    story: "The study's 4-block baseline: conv 3×3 → batch norm → ReLU → max-pool → dropout " +
      "(filters 32-64-128-128, dropout 0.1→0.4), dense 256 → dropout 0.5 → softmax, Adam. " +
      "The study reported 53.43% test accuracy on FER2013.",
    studyAccuracy: 0.5343,
    config,
    prepared,
    model: { params: model.countParams(), flopsPerImage: countFlops(model), summary },
    training,
    test,
    val,
    wallSeconds: (performance.now() - t0) / 1000,
    modelDir,
  });
  log(`wrote ${files.join(", ")}`);
});
