/**
 * # Experiment 06 — the literature's FER2013 recipe: random crops and ten-crop
 *
 * Beyond the study: the recipe behind most published FER2013 results, as one long, resumable run. Training sees
 * random 44×44 crops of the 48×48 faces (after a small random rotation, shift and zoom, and a flip), with random
 * erasing; at test time the model averages the literature's ten crops — the four corners and the centre, each also
 * of the mirrored face. A VGG-style net (4 stages × 2 convs + global average pooling, as in 05) trains with SGD,
 * Nesterov momentum 0.9 and weight decay 5e-4, batch 64, ReduceLROnPlateau on validation accuracy (factor 0.75,
 * patience 5) and early stopping with the best epoch's weights (patience 20), for up to 100 epochs, under the
 * official protocol (PublicTest is the test split when the data has no PrivateTest; 10% of Training validates).
 *
 * Result: not yet run on FER2013.
 *
 * Why 44-pixel crops: the literature uses 40–44. At 44 every one of the ten test views keeps the whole face (a
 * corner crop loses 4 pixels, 8% of one side; at 40 it loses 8, enough to cut into the chin or the brows of
 * FER2013's tightly cropped faces), the 5×5 crop positions add ±2 pixels of jitter to the ±10% shifts, and each image
 * costs 16% fewer FLOPs than at 48 (44² / 48²). `--crop-size 40` is the other end of that range.
 *
 * Why the `vgg` architecture by default: the long run is paid in CPU-hours. `wide` (64-128-256-512) costs four times
 * the FLOPs of `vgg` (32-64-128-256): 0.75 against 0.19 GFLOP per 44-pixel image, 4.7 M against 1.2 M parameters, and
 * it trained 2.2–2.8× slower here (3-epoch quick runs of each, interleaved, on 2 shared cores under a load of 3–5:
 * `vgg` 111–232 images/s, `wide` 42–94; oneDNN kernels). At that price 100 epochs of `wide` buy about 250 of `vgg`,
 * and 05 got 65% from `vgg` in 13 epochs, so the long run spends its hours on epochs; `--arch wide` is the other
 * choice. Every run times both in its first minute and its report states the numbers. mixup (`--mixup 0.2`) is off
 * by default: it is cheap, but no FER2013 run here has shown that it helps. Label smoothing is off too (05 used 0.1):
 * 03's paired ablation found it worth 0.7 points, within noise, at the price of a model 5 points underconfident, and
 * averaging ten crops lowers confidence further.
 *
 *     deno task exp:06 --data data/fer2013.csv.gz --max-minutes 600 --resume   # the long run, in sessions
 *     deno task eval --model reports/models/06_crops --data data/fer2013.csv.gz  # scored with its ten-crop
 *     deno task exp:06 --quick                                                  # a few minutes on synthetic faces
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { COMMON_DEFAULTS, type CommonConfig } from "../lib/cli/args.ts";
import { AUGMENT_PRESETS } from "../lib/data/augment.ts";
import { cropAugmentation } from "../lib/data/crops.ts";
import { IMAGE_SIZE } from "../lib/data/fer2013.ts";
import { measureArchitectures } from "../lib/train/costs.ts";
import { cropsReport } from "../lib/crops/report.ts";
import { runExperiment } from "../lib/harness/experiment.ts";
import { BUDGET_VGG, buildDeep, type DeepConfig } from "../lib/models/deep.ts";
import { setModelInput } from "../lib/models/input_spec.ts";
import { EarlyStopping, ReduceLROnPlateau } from "../lib/train/callbacks.ts";

// ## The architectures: 05's VGG (4 stages × 2 convs + GAP, BUDGET_VGG in lib/models/deep.ts), and twice as wide
const ARCHITECTURES: Record<"vgg" | "wide", Partial<DeepConfig>> = {
  vgg: BUDGET_VGG,
  wide: { ...BUDGET_VGG, filters: [64, 128, 256, 512] }, // 4× the FLOPs
};

// ## The transform before cropping: small rotations, shifts and zooms, and flips
const TRANSFORM = AUGMENT_PRESETS.standard; // rotation ±10°, shifts and zoom ±10%, flip

interface Config extends CommonConfig {
  arch: keyof typeof ARCHITECTURES;
  cropSize: number;
  lr: number;
  weightDecay: number;
  lrFactor: number;
  lrPatience: number;
  patience: number;
  labelSmoothing: number;
  erasing: number;
  mixup: number;
  dropout: number;
  measureSteps: number;
}

await runExperiment<Config>({
  name: "06_crops",
  title: "Experiment 06 — random crops and ten-crop (the literature's FER2013 recipe)",
  story: "The recipe of most published FER2013 results: random crops of the faces (44×44 unless --crop-size says " +
    "otherwise) after small rotations, shifts and zooms, flips and random erasing; a VGG-style net (4 stages × 2 " +
    "convs + GAP); SGD with Nesterov momentum and weight decay, ReduceLROnPlateau and early stopping on validation " +
    "accuracy over many epochs; the ten-crop at test time; official protocol.",
  studyAccuracy: 0.62,
  defaults: {
    ...COMMON_DEFAULTS,
    protocol: "official",
    epochs: 100,
    batchSize: 64,
    arch: "vgg",
    cropSize: 44,
    lr: 0.01,
    weightDecay: 5e-4,
    lrFactor: 0.75,
    lrPatience: 5,
    patience: 20,
    labelSmoothing: 0,
    erasing: 0.5,
    mixup: 0,
    dropout: 0.4,
    measureSteps: 3,
  },
  quick: { epochs: 10, syntheticRows: 3000, limitTrain: 2400, bnRecalRows: 256, measureSteps: 1 },
  flags: {
    arch: { type: "string", help: "architecture: vgg 32→256 (05's), wide 64→512", choices: ["vgg", "wide"] },
    cropSize: { type: "number", help: "side of the random training crops and the ten-crop (40–44 in the literature)" },
    lr: { type: "number", help: "initial SGD learning rate (Nesterov momentum 0.9)", range: "(0, inf)" },
    weightDecay: { type: "number", help: "L2 weight decay, PyTorch-SGD style (0 = off)", range: "[0, inf)" },
    lrFactor: { type: "number", help: "ReduceLROnPlateau factor on validation accuracy", range: "(0, 1)" },
    lrPatience: { type: "number", help: "ReduceLROnPlateau patience in epochs", positiveInt: true },
    patience: {
      type: "number",
      help: "early-stopping patience on validation accuracy (0 = off)",
      integer: true,
      range: "[0, inf)",
    },
    labelSmoothing: { type: "number", help: "label smoothing (0 = off)", range: "[0, 1)" },
    erasing: { type: "number", help: "probability of random erasing per training image (0 = off)", range: "[0, 1]" },
    mixup: { type: "number", help: "mixup's Beta(α, α) parameter, e.g. 0.2 (0 = off)", range: "[0, inf)" },
    dropout: { type: "number", help: "dropout after global average pooling (0 = off)", range: "[0, 1)" },
    measureSteps: {
      type: "number",
      help: "time N training steps of each architecture first (0 = skip)",
      integer: true,
      range: "[0, inf)",
    },
  },
  // A run that changes an ingredient names its report, e.g. `--arch wide --crop-size 40` → 06_crops_wide_crop40;
  // not --epochs: a long run extended with more epochs continues its own checkpoint.
  ablations: {
    arch: (c) => c.arch,
    cropSize: (c) => `crop${c.cropSize}`,
    labelSmoothing: (c) => `ls${c.labelSmoothing}`,
    erasing: (c) => `erase${c.erasing}`,
    mixup: (c) => `mixup${c.mixup}`,
  },
}, async (exp) => {
  const { config: c } = exp;
  const build = (arch: Config["arch"], seed: number) =>
    buildDeep({ ...ARCHITECTURES[arch], headDropout: c.dropout, inputSize: c.cropSize, seed });
  // Transform → random crop → random erasing, per image (made first: it checks the crop size before anything runs)
  const augment = cropAugmentation({ ...TRANSFORM, imageSize: IMAGE_SIZE, cropSize: c.cropSize, erasing: c.erasing });

  // ## 1. Cost both architectures on this machine at the crop size, so the report says what each would cost
  const costs = c.measureSteps > 0
    ? await measureArchitectures({ vgg: () => build("vgg", 1), wide: () => build("wide", 1) }, {
      batchSize: c.batchSize,
      steps: c.measureSteps,
      epochImages: exp.prepared.trainRows.length,
      log: exp.log,
    })
    : [];

  // ## 2. Build for crop-sized inputs; the model records how it is fed: centre crop of a 48-px face, ten-crop TTA
  const model = build(c.arch, c.seed);
  setModelInput(model, { imageSize: IMAGE_SIZE, inputSize: c.cropSize, tta: "crops" });

  // ## 3. Train: SGD + Nesterov, plateau schedule and early stopping on validation accuracy
  const training = await exp.train(model, {
    optimizer: tf.train.momentum(c.lr, 0.9, true),
    augment,
    weightDecay: c.weightDecay,
    labelSmoothing: c.labelSmoothing,
    mixup: c.mixup,
    callbacks: [
      new ReduceLROnPlateau({ monitor: "valAcc", factor: c.lrFactor, patience: c.lrPatience, minLr: 1e-5 }),
      ...(c.patience > 0
        ? [new EarlyStopping({ monitor: "valAcc", patience: c.patience, restoreBestWeights: true })]
        : []),
    ],
  });

  // ## 4. Evaluate (centre crop), then the ten-crop; report beside 05's result and the study's 62%
  await exp.finish(
    model,
    training,
    ({ test }) => cropsReport(exp, model, { training, test, reference: "05_budget", costs, arch: c.arch }),
  );
});
