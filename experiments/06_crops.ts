/**
 * # Experiment 06 — the literature's FER2013 recipe: random crops and ten-crop
 *
 * Beyond the study: the recipe behind most published FER2013 results, as one long, resumable run. A VGG-style net
 * trains on random 44×44 crops of the faces (after small rotations, shifts, zooms and flips, with random erasing) for
 * up to 100 epochs, and at test time averages the ten crops: the four corners and the centre, each also mirrored.
 *
 * Result: 70.44% on PublicTest with its ten-crop (67.87% centre crop, 68.99% + mirror), NLL 0.868 ten-crop; all 100
 * epochs (early stopping restored epoch 98), 3 h 57 min of training on 2 cores (oneDNN kernels, ~400 images/s);
 * seed 42, official protocol — [reports/06_crops.md](../reports/06_crops.md).
 *
 *     deno task exp:06 --data data/fer2013.csv.gz --max-minutes 600 --resume   # the long run, in sessions
 *     deno task exp:06 --data data/fer2013.csv.gz --schedule cosine --resume     # SGDR's schedule: 06_crops_cosine
 *     deno task eval --model reports/models/06_crops --data data/fer2013.csv.gz  # scored with its ten-crop
 *     deno task exp:06 --quick                                                  # a few minutes on synthetic faces
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { choicesOf, common, num, oneOf } from "../lib/cli/args.ts";
import { AUGMENT_PRESETS } from "../lib/data/augment.ts";
import { cropAugmentation } from "../lib/data/crops.ts";
import { IMAGE_SIZE } from "../lib/data/fer2013.ts";
import { measureArchitectures } from "../lib/train/costs.ts";
import { cropsReport } from "../lib/crops/report.ts";
import { cropSchedule } from "../lib/crops/schedule.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { BUDGET_VGG, buildDeep, type DeepConfig } from "../lib/models/deep.ts";
import { setModelInput } from "../lib/models/input_spec.ts";

// 05's VGG (4 stages × 2 convs + GAP, BUDGET_VGG in lib/models/deep.ts), and twice as wide
const ARCHITECTURES: Record<"vgg" | "wide", Partial<DeepConfig>> = {
  vgg: BUDGET_VGG,
  wide: { ...BUDGET_VGG, filters: [64, 128, 256, 512] }, // 4× the FLOPs
};

// The transform before cropping: small rotations, shifts and zooms, and flips
const TRANSFORM = AUGMENT_PRESETS.standard; // rotation ±10°, shifts and zoom ±10%, flip

await runExperiment({
  name: "06_crops",
  title: "Experiment 06 — random crops and ten-crop (the literature's FER2013 recipe)",
  story: "The recipe of most published FER2013 results: random crops of the faces (44×44 unless --crop-size says " +
    "otherwise) after small rotations, shifts and zooms, flips and random erasing; a VGG-style net (4 stages × 2 " +
    "convs + GAP); SGD with Nesterov momentum and weight decay, ReduceLROnPlateau and early stopping on validation " +
    "accuracy over many epochs; the ten-crop at test time; official protocol.",
  studyAccuracy: 0.62,
  // A run that changes an ingredient names its report, in this order: `--arch wide --crop-size 40` →
  // 06_crops_wide_crop40; not --epochs: a long run extended with more epochs continues its own checkpoint.
  settings: {
    protocol: common("protocol", "official"),
    epochs: common("epochs", 100),
    arch: oneOf(choicesOf(ARCHITECTURES), "vgg", "architecture: vgg 32→256 (05's), wide 64→512", {
      ablation: (a) => a,
    }),
    cropSize: num(44, "side of the random training crops and the ten-crop (40–44 in the literature)", {
      ablation: (v) => `crop${v}`,
    }),
    lr: num(0.01, "initial SGD learning rate (Nesterov momentum 0.9)", { range: "(0, inf)" }),
    weightDecay: num(5e-4, "L2 weight decay, PyTorch-SGD style (0 = off)", { range: "[0, inf)" }),
    lrFactor: num(0.75, "ReduceLROnPlateau factor on validation accuracy", { range: "(0, 1)" }),
    lrPatience: num(5, "ReduceLROnPlateau patience in epochs", { positiveInt: true }),
    schedule: oneOf(["plateau", "cosine"], "plateau", "learning-rate schedule: ReduceLROnPlateau, or SGDR's cosine", {
      ablation: (v) => v,
    }),
    restarts: num(3, "cosine cycles over the planned epochs, each twice as long as the last (--schedule cosine)", {
      positiveInt: true,
    }),
    patience: num(20, "early-stopping patience on validation accuracy (0 = off)", { integer: true, range: "[0, inf)" }),
    labelSmoothing: num(0, "label smoothing (0 = off)", { range: "[0, 1)", ablation: (v) => `ls${v}` }),
    erasing: num(0.5, "probability of random erasing per training image (0 = off)", {
      range: "[0, 1]",
      ablation: (v) => `erase${v}`,
    }),
    mixup: num(0, "mixup's Beta(α, α) parameter, e.g. 0.2 (0 = off)", {
      range: "[0, inf)",
      ablation: (v) => `mixup${v}`,
    }),
    dropout: num(0.4, "dropout after global average pooling (0 = off)", { range: "[0, 1)" }),
    measureSteps: num(3, "time N training steps of each architecture first (0 = skip)", {
      integer: true,
      range: "[0, inf)",
    }),
  },
  quick: { epochs: 10, syntheticRows: 3000, limitTrain: 2400, bnRecalRows: 256, measureSteps: 1 },
}, async (exp) => {
  const { config: c } = exp;
  const build = (arch: keyof typeof ARCHITECTURES, seed: number) =>
    buildDeep({ ...ARCHITECTURES[arch], headDropout: c.dropout, inputSize: c.cropSize, seed });
  // Transform → random crop → random erasing, per image (made first: it checks the crop size before anything runs)
  const augment = cropAugmentation({ ...TRANSFORM, imageSize: IMAGE_SIZE, cropSize: c.cropSize, erasing: c.erasing });

  // Cost both architectures on this machine at the crop size, so the report says what each would cost
  const costs = c.measureSteps > 0
    ? await measureArchitectures({ vgg: () => build("vgg", 1), wide: () => build("wide", 1) }, {
      batchSize: c.batchSize,
      steps: c.measureSteps,
      epochImages: exp.prepared.trainRows.length,
      log: exp.log,
    })
    : [];

  // Build for crop-sized inputs; the model records how it is fed: centre crop of a 48-px face, ten-crop TTA
  const model = build(c.arch, c.seed);
  setModelInput(model, { imageSize: IMAGE_SIZE, inputSize: c.cropSize, tta: "crops" });

  // Train: SGD + Nesterov; ReduceLROnPlateau (or SGDR's cosine with warm restarts over the planned epochs) and early
  // stopping, both on validation accuracy
  const training = await exp.train(model, {
    optimizer: tf.train.momentum(c.lr, 0.9, true),
    augment,
    weightDecay: c.weightDecay,
    labelSmoothing: c.labelSmoothing,
    mixup: c.mixup,
    ...cropSchedule(c, exp.prepared.trainRows.length),
  });

  // Evaluate (centre crop), then the ten-crop; report beside 05's result and the study's 62%
  await exp.finish(
    model,
    training,
    ({ test }) => cropsReport(exp, model, { training, test, reference: "05_budget", costs, arch: c.arch }),
  );
});
