/**
 * # Experiment 02 — a tuned 3-block CNN with global average pooling
 *
 * The study's second model, whose sizes, dropout rates and learning rate KerasTuner chose: here a Hyperband search
 * (R = 9 epochs, η = 3: 22 trials) on a 6,000-image subset, then the winner retrained on the full training split.
 * The study reported 53.01% test accuracy on FER2013.
 *
 * Result: 58.49% test accuracy, NLL 1.131, ECE 6.3%; search 1 h 05 min, then the winner's 30 epochs 1 h 07 min on 2
 * cores (wasm); seed 42, study protocol — [reports/02_tuned.md](../reports/02_tuned.md).
 *
 *     deno task exp:02 --data data/fer2013.csv --max-minutes 170      # the full run (--resume replays finished trials)
 *     deno task exp:02 --quick                                        # a few-minute smoke run
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { choicesOf, num, oneOf } from "../lib/cli/args.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { buildTuned } from "../lib/models/tuned.ts";
import { EarlyStopping } from "../lib/train/callbacks.ts";
import { hyperband, randomSearch } from "../lib/tuner/oracles.ts";
import { searchReport } from "../lib/tuner/report.ts";
import { search } from "../lib/tuner/search.ts";
import { hp, type Values } from "../lib/tuner/space.ts";

// ## The search space: what KerasTuner chose in the study. Each trial builds conv blocks of filters1-2-3 → GAP →
// dense → softmax from it.
const SPACE = {
  filters1: hp.int(16, 64, { step: 16 }),
  filters2: hp.int(32, 128, { step: 32 }),
  filters3: hp.int(64, 256, { step: 64 }),
  convDropout: hp.float(0, 0.4, { step: 0.1 }),
  dense: hp.int(64, 512, { step: 64 }),
  denseDropout: hp.float(0, 0.5, { step: 0.1 }),
  batchNorm: hp.boolean(),
  lr: hp.float(1e-4, 1e-2, { sampling: "log" }),
};

/** The tuned 3-block GAP CNN of one trial's values (lib/models/tuned.ts). */
const build = (v: Values<typeof SPACE>, seed: number) =>
  buildTuned({ ...v, filters: [v.filters1, v.filters2, v.filters3], seed });

// What `--oracle` picks from: Hyperband's brackets, or a fixed number of random trials.
const ORACLES = {
  hyperband: (epochs: number, _trials: number, seed: number) =>
    hyperband(SPACE, { maxEpochs: epochs, factor: 3, seed }),
  random: (epochs: number, trials: number, seed: number) =>
    randomSearch(SPACE, { maxTrials: trials || 20, epochs, seed }),
};

await runExperiment({
  name: "02_tuned",
  title: "Experiment 02 — tuned 3-block GAP CNN",
  story: "The study's tuned model: 3 conv blocks with max-pooling, global average pooling, dense + softmax; " +
    "KerasTuner chose filters, dropout rates, dense units and a log-scale learning rate.",
  studyAccuracy: 0.5301,
  settings: {
    oracle: oneOf(choicesOf(ORACLES), "hyperband", "search strategy"),
    searchEpochs: num(9, "Hyperband's R (most epochs of a trial); epochs of a random trial", { positiveInt: true }),
    searchRows: num(6000, "training images per trial (0 = all)"),
    maxTrials: num(0, "stop after N trials (0 = the oracle's own end; random search: 20)"),
    patience: num(8, "early-stopping patience of the final training (0 = off)"),
  },
  quick: { epochs: 3, syntheticRows: 2500, limitTrain: 1500, searchEpochs: 3, searchRows: 600 },
}, async (exp) => {
  const { config } = exp;
  const trialRows = exp.sampleTrainRows(config.searchRows, "search");
  const dir = `${config.out}/tuner/${exp.name}`;
  if (!config.resume) await Deno.remove(dir, { recursive: true }).catch(() => {}); // a fresh search

  // Search: each trial trains on the subset, early stopping on val accuracy after 3 flat epochs
  const result = await search({
    oracle: ORACLES[config.oracle](config.searchEpochs, config.maxTrials, config.seed),
    objective: { name: "valAcc", direction: "max" },
    maxTrials: config.maxTrials || undefined,
    dir,
    shouldStop: () => exp.outOfTime(),
    runTrial: async (values, { number, epochs }) => {
      const model = build(values, config.seed);
      const optimizer = tf.train.adam(values.lr);
      try {
        const training = await exp.train(model, {
          optimizer,
          trainRows: trialRows,
          epochs,
          checkpoint: false,
          rngLabel: `trial${number}`,
          callbacks: [new EarlyStopping({ monitor: "valAcc", patience: 3 })],
        });
        return training.history.map((h) => ({ ...h }));
      } finally {
        model.dispose(); // 22 trials must not pile up weights and Adam moments
        optimizer.dispose();
      }
    },
  });
  const extras = searchReport(result, SPACE, { name: exp.name, title: "Experiment 02" });
  if (!result.complete) return void await exp.reportUnfinished("the search was cut short by --max-minutes.", extras);

  // Retrain the winner on the full training split; early stopping restores its best epoch
  const model = build(result.best.values, config.seed);
  const training = await exp.train(model, {
    optimizer: tf.train.adam(result.best.values.lr),
    callbacks: config.patience > 0
      ? [new EarlyStopping({ monitor: "valLoss", patience: config.patience, restoreBestWeights: true })]
      : [],
  });
  await exp.finish(model, training, extras);
});
