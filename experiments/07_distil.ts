/**
 * # Experiment 07 — a small student distilled from the best models
 *
 * Beyond the study: the model for phones and browsers. A VGG-style student of under 300K parameters (a quarter of 05's)
 * learns from the averaged predictions of official-protocol teachers (05 and 06, each with its own test-time views) as
 * well as from the labels, on 06's random crops; it should beat the JavaScript peers' emotion models at their size.
 *
 * Result: 67.15% on PublicTest with its ten-crop (66.90% centre crop), NLL 0.887, ECE 2.2%; 274K parameters, 96% of
 * its teachers' 70.10% at 12% of their parameters; Human's 205K-parameter model 67.01% and face-api.js's 60.55% with
 * the same ten views of the same faces (65.48% and 59.54% with a flip, to 07's 67.12%; reports/peers.md);
 * all 60 epochs, 46 min of training on 2 cores (oneDNN kernels) after 14 min for the teachers' targets; seed 42,
 * official protocol — [reports/07_distil.md](../reports/07_distil.md).
 *
 *     deno task exp:07 --data data/fer2013.csv.gz --max-minutes 120 --resume  # the run, in sittings
 *     deno task exp:07 --quick                                                # a few minutes on synthetic faces
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { common, num, oneOf, text } from "../lib/cli/args.ts";
import { AUGMENT_PRESETS } from "../lib/data/augment.ts";
import { cropAugmentation } from "../lib/data/crops.ts";
import { IMAGE_SIZE } from "../lib/data/fer2013.ts";
import { TTA_CHOICES } from "../lib/eval/tta.ts";
import { distilReport } from "../lib/distil/report.ts";
import { loadTeachers, teacherTargets } from "../lib/distil/teachers.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { buildDeep } from "../lib/models/deep.ts";
import { setModelInput } from "../lib/models/input_spec.ts";
import { cosineWithWarmup } from "../lib/train/lr_schedule.ts";

await runExperiment({
  name: "07_distil",
  title: "Experiment 07 — a small student distilled from the best models",
  story: "Knowledge distillation: a student of under 300K parameters trains on targets that mix each face's label " +
    "with the averaged predictions of official-protocol teachers (05 and 06, each with its own test-time views), on " +
    "random crops with flips, small affine transforms and random erasing; SGD with Nesterov momentum and weight " +
    "decay on a cosine schedule; ten-crop at test time; official protocol, so no teacher has seen the test faces.",
  studyAccuracy: 0.62,
  settings: {
    protocol: common("protocol", "official"),
    epochs: common("epochs", 60),
    teachers: text("05_budget,06_crops", "teachers: official-protocol results, comma-separated", {
      ablation: (v) => `t${v.replaceAll(",", "+")}`,
    }),
    teacherTta: oneOf(TTA_CHOICES, "crops", "each teacher's test-time views (crops: ten, the best measured)"),
    teacherDir: text("reports", "folder of the teachers' results and models (the committed ones by default)"),
    teacherWeight: num(0.7, "the teachers' share of a target (0: labels only)", {
      range: "[0, 1]",
      ablation: (v) => `w${v}`,
    }),
    temperature: num(1, "softens (>1) the teachers' average: p^(1/T)", { range: "(0, inf)", ablation: (v) => `T${v}` }),
    cropSize: num(44, "side of the random training crops and the ten-crop", { ablation: (v) => `crop${v}` }),
    lr: num(0.05, "peak SGD learning rate (Nesterov momentum 0.9), cosine to 0", { range: "(0, inf)" }),
    warmupEpochs: num(2, "epochs of linear warm-up to the peak", { integer: true, range: "[0, inf)" }),
    weightDecay: num(5e-4, "L2 weight decay, PyTorch-SGD style (0 = off)", { range: "[0, inf)" }),
    erasing: num(0.5, "probability of random erasing per training image (0 = off)", { range: "[0, 1]" }),
    dropout: num(0.2, "dropout after global average pooling (0 = off)", { range: "[0, 1)" }),
  },
  quick: {
    epochs: 4,
    syntheticRows: 3000,
    limitTrain: 2400,
    bnRecalRows: 256,
    teachers: "05_budget",
    teacherTta: "none",
  },
}, async (exp) => {
  const { config: c, prepared } = exp;

  // ## The teachers: averaged over their own test-time views, once per training face (cached)
  const teachers = await loadTeachers(c.teacherDir, c.teachers.split(","));
  const targets = await teacherTargets(teachers, prepared.data, prepared.trainRows, {
    tta: c.teacherTta,
    temperature: c.temperature,
    dataFingerprint: prepared.dataFacts.fingerprint,
    log: exp.log,
  });

  // ## The student: 05's VGG at a quarter of its parameters (≈274K); the last stage one conv wide
  const model = buildDeep({
    filters: [24, 48, 96, 128], // conv 3×3 → BN → ReLU, ×2 per stage (×1 in the last), max-pool after each stage
    convsPerBlock: [2, 2, 2, 1],
    leakyAlpha: 0, // plain ReLU
    dropout: [0, 0, 0, 0],
    head: "globalAverage", // → dropout → softmax
    headDropout: c.dropout,
    dense: [],
    kernelInit: "heNormal",
    inputSize: c.cropSize,
    seed: c.seed,
  });
  setModelInput(model, { imageSize: IMAGE_SIZE, inputSize: c.cropSize, tta: "crops" });

  // ## Train on targets that mix the teachers' distribution with the label
  const steps = c.epochs * Math.ceil(prepared.trainRows.length / c.batchSize);
  const training = await exp.train(model, {
    optimizer: tf.train.momentum(c.lr, 0.9, true),
    lrSchedule: cosineWithWarmup({
      peak: c.lr,
      totalSteps: steps,
      warmupSteps: Math.min(steps - 1, c.warmupEpochs * Math.ceil(prepared.trainRows.length / c.batchSize)),
      warmupStart: 0.1,
    }),
    augment: cropAugmentation({
      ...AUGMENT_PRESETS.standard,
      imageSize: IMAGE_SIZE,
      cropSize: c.cropSize,
      erasing: c.erasing,
    }),
    weightDecay: c.weightDecay,
    softTargets: c.teacherWeight > 0 ? { probs: targets.probs, weight: c.teacherWeight, id: targets.id } : undefined,
  });

  // ## Evaluate with the ten-crop; report beside the teachers, 06 and the JavaScript peers, with size and speed
  await exp.finish(model, training, ({ test }) => distilReport(exp, model, { training, test, teachers, targets }));
});
