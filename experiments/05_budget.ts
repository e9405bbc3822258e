/**
 * # Experiment 05 — the most accuracy per CPU-hour
 *
 * Beyond the study: the best model a wall-clock budget buys. The run times the training step, then sizes the epochs and
 * a one-cycle schedule to end inside the budget; the recipe is native PyTorch's yardstick (65.0% on PublicTest in 38
 * minutes). Each ingredient has a flag; a run that switches one off is an ablation with its own report.
 *
 * Result: 65.06% on PublicTest (65.56% with flip TTA), NLL 0.963, ECE 4.2%; 13 epochs, done after 86.7 of its 120
 * minutes on 2 cores (wasm); seed 42, official protocol — [reports/05_budget.md](../reports/05_budget.md).
 *
 *     deno task exp:05 --data data/fer2013.csv.gz                        # 120-minute budget, official protocol
 *     deno task exp:05 --data … --budget-minutes 15 --label-smoothing 0   # an ablation: 05_budget_15min_ls0
 *     deno task exp:05 --quick                                             # a few minutes on synthetic faces
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { choicesOf, common, num, oneOf } from "../lib/cli/args.ts";
import { AUGMENT_PRESETS } from "../lib/data/augment.ts";
import { BUDGET_SETTINGS, planBudgetedRun } from "../lib/budget/plan.ts";
import { budgetReport } from "../lib/budget/report.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { BUDGET_VGG, buildDeep } from "../lib/models/deep.ts";
import { getLearningRate } from "../lib/train/learning_rate.ts";

await runExperiment({
  name: "05_budget",
  title: "Experiment 05 — the most accuracy in a time budget",
  story: "A wall-clock budget sizes the epochs and a one-cycle schedule after timing the step; the recipe is the " +
    "native yardstick's (VGG 4×2 convs + GAP, SGD Nesterov + weight decay, label smoothing, augmentation, flip TTA).",
  studyAccuracy: 0.62,
  // Every ingredient can be switched off (an ablation, named in this order: `05_budget_15min_ls0`).
  settings: {
    protocol: common("protocol", "official"),
    ...BUDGET_SETTINGS,
    nesterov: oneOf(["yes", "no"], "yes", "Nesterov momentum (no = classical momentum)", {
      ablation: () => "nonesterov",
    }),
    weightDecay: num(5e-4, "L2 weight decay, PyTorch-SGD style (0 = off)", { ablation: (v) => `wd${v}` }),
    labelSmoothing: num(0.1, "label smoothing (0 = off)", { ablation: (v) => `ls${v}` }),
    augment: oneOf(choicesOf(AUGMENT_PRESETS), "yardstick", "augmentation preset", { ablation: (a) => `aug-${a}` }),
    dropout: num(0.4, "dropout after global average pooling (0 = off)", { ablation: (v) => `drop${v}` }),
  },
  quick: { syntheticRows: 1500, limitTrain: 640, budgetMinutes: 2, bnRecalRows: 256 },
}, async (exp) => {
  const { config: c } = exp;
  // 4 VGG stages of 2 × (conv 3×3 → BN → ReLU), max-pool; global average pooling → dropout → softmax
  // (BUDGET_VGG in lib/models/deep.ts, which the bench times too)
  const build = (seed: number) => buildDeep({ ...BUDGET_VGG, headDropout: c.dropout, seed });
  const optimizer = () => tf.train.momentum(c.peakLr, 0.9, c.nesterov === "yes");
  const recipe = { augment: c.augment, labelSmoothing: c.labelSmoothing, weightDecay: c.weightDecay };

  // Time the step, then size epochs and schedule to the budget (a --resume reads the plan back instead)
  const usageRows = exp.prepared.split.test.length + exp.prepared.split.val.length;
  const budget = await planBudgetedRun(exp, {
    build: () => build(1),
    optimizer,
    budgetMinutes: c.budgetMinutes,
    schedule: c.schedule,
    peakLr: c.peakLr,
    warmupFraction: c.warmup,
    ...recipe,
    finalEvalImages: 3 * usageRows, // exp.finish, then each Usage plain and mirrored
    ...(c.quick ? { warmSteps: 2, timedSteps: 3 } : {}),
  });

  const model = build(c.seed);
  const opt = optimizer();
  const training = await exp.train(model, {
    optimizer: opt,
    lrSchedule: budget.schedule,
    callbacks: [budget.replanner], // re-sizes the epochs from each warm-up epoch's measured time
    ...recipe,
  });

  // Evaluate on PublicTest (and PrivateTest when present), plain and with flip TTA; report against the budget,
  // beside the ablations and every other experiment's accuracy per training minute
  const finalLr = getLearningRate(opt);
  await exp.finish(model, training, await budgetReport(exp, model, { budget, training, finalLr }));
});
