/**
 * The report sections of a distilled student (experiment 07): everything a
 * crop model reports (`crops_report.ts`: the ten-crop table, accuracy against
 * epochs and CPU-hours), then what distillation adds — the teachers and how
 * sure their targets were, how much of the teachers' ensemble accuracy the
 * student kept, and what the student costs to run beside its teachers:
 * parameters, weight bytes and milliseconds per face on this backend.
 *
 * @example
 * ```ts
 * await exp.finish(model, training, ({ test }) => distilReport(exp, model, { training, test, teachers, targets }));
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { CommonConfig } from "../cli/args.ts";
import { evaluateEnsemble } from "../eval/ensemble.ts";
import type { ProbabilisticEvaluation } from "../eval/metrics.ts";
import { inferenceSpeed, type Speed } from "../eval/speed.ts";
import { cropsReport } from "../crops/report.ts";
import type { Experiment } from "../harness/experiment.ts";
import type { ReportExtras } from "../harness/report.ts";
import { fmtInt, mdTable, pct } from "../report/markdown.ts";
import type { TrainResult } from "../train/loop.ts";
import type { Teacher, TeacherTargets } from "./teachers.ts";

/** What {@link distilReport} reports on. */
export interface DistilRun {
  training: TrainResult;
  /** The student's plain (centre-crop) evaluation of the test split, from `exp.finish`. */
  test: ProbabilisticEvaluation;
  teachers: readonly Teacher[];
  targets: TeacherTargets;
}

/** Size and speed of one model. */
export interface ModelCost {
  name: string;
  params: number;
  weightBytes: number;
  speed: Speed[];
}

/** Why 07's defaults are what they are (the crop model's report has a section of this name). */
export const WHY_DISTIL_DEFAULTS = [
  "## Why this student and these targets",
  "",
  "**Under 300K parameters**: the size of the JavaScript peers' emotion models (Human's 205K, face-api.js's 324K), " +
  "so that they compare at equal size. The student is 05's VGG at a quarter of its parameters: stages of 24-48-96-128 " +
  "filters, two convs each but one in the last (a second conv there would spend 147K parameters, half the budget, " +
  "on 5×5 maps); 274K parameters and 87 MFLOP per 44-pixel crop against 05's 1.18M and 190 MFLOP.",
  "",
  "**0.7 × teachers + 0.3 × label**: Hinton et al. found a considerably lower weight on the label term best; the " +
  "label keeps the student right where the teachers are confidently wrong. The teachers' distributions are computed " +
  "once per face, on the unaugmented face with each teacher's ten views (the best TTA measured for both), not on " +
  "every augmented batch: two teachers' forward passes per batch would cost more than the student's own step. A " +
  "crop sees less of the face than its target did; that is the price. `--teacher-weight 0` trains on the labels " +
  "alone, the ablation that says what the teachers add.",
  "",
  "**Temperature 1, a cosine schedule, no early stopping**: averaged over two models and ten views the teachers' " +
  "distributions are already soft (their mean top probability is in the teachers' section); `--temperature` softens " +
  "them further. The run's length is fixed in advance, so the learning rate warms up for two epochs and then falls " +
  "to zero along a cosine, and the last epoch's weights are the model.",
].join("\n");

/** Batches the speed is measured at: one face (a webcam frame) and a folder's worth. */
const SPEED_BATCHES = [1, 64];

/** The crop model's sections, then the teachers', the retained accuracy and the student's cost beside theirs. */
export async function distilReport<C extends CommonConfig & { teacherWeight: number; temperature: number }>(
  exp: Experiment<C>,
  model: tf.LayersModel,
  run: DistilRun,
): Promise<ReportExtras> {
  const { prepared, config } = exp;
  const crops = await cropsReport(exp, model, {
    training: run.training,
    test: run.test,
    reference: "06_crops",
    costs: [],
    arch: "student",
    why: WHY_DISTIL_DEFAULTS,
  });
  exp.log("teachers: scoring their ensemble on the test split");
  const ensemble = await evaluateEnsemble(run.teachers.map((t) => t.model), prepared.data, prepared.split.test, {
    tta: run.targets.tta, // the views the targets were made with, so the score is the targets' own
  });
  const studentAccuracy = (crops.json?.testTenCrop as number | undefined) ?? run.test.accuracy;
  const costs = [await modelCost(exp.name, model)];
  for (const t of run.teachers) costs.push(await modelCost(t.name, t.model));
  const student = costs[0];
  const retained = studentAccuracy / ensemble.accuracy;
  return {
    preface: [
      ...(crops.preface ?? []),
      `Student: **${fmtInt(student.params)} parameters** (${(student.weightBytes / 1024).toFixed(0)} KB of weights), ` +
      `**${pct(studentAccuracy)}** on the test split with its ten-crop against **${pct(ensemble.accuracy)}** for ` +
      `its teachers' ensemble (${run.teachers.map((t) => t.name).join(" + ")}, each with its own views): it keeps ` +
      `${pct(retained, 1)} of their accuracy at ${pct(student.params / sum(costs.slice(1).map((c) => c.params)), 1)} ` +
      `of their parameters.`,
    ],
    sections: [
      ...(crops.sections ?? []),
      teachersSection(run, ensemble.accuracy, config),
      costSection(costs),
    ],
    charts: crops.charts,
    json: {
      ...crops.json,
      distil: {
        teachers: run.targets.members,
        targets: {
          id: run.targets.id,
          weight: config.teacherWeight,
          temperature: config.temperature,
          agreement: run.targets.agreement,
          meanConfidence: run.targets.meanConfidence,
        },
        teacherEnsemble: { accuracy: ensemble.accuracy, nll: ensemble.calibration.nll, ece: ensemble.calibration.ece },
        studentTenCrop: studentAccuracy,
        costs,
      },
    },
  };
}

function teachersSection(
  run: DistilRun,
  ensembleAccuracy: number,
  config: { teacherWeight: number; temperature: number },
) {
  const rows = run.teachers.map((t, i) => [
    t.name,
    run.targets.members[i].tta,
    String(run.targets.members[i].views),
    pct(t.result.testAccuracy),
    t.result.data.source ?? "?",
  ]);
  return [
    "## The teachers",
    "",
    `Each training face's target is ${config.teacherWeight} × the teachers' averaged distribution` +
    (config.temperature === 1 ? "" : ` (tempered: p^(1/${config.temperature}), renormalised)`) +
    ` + ${+(1 - config.teacherWeight).toFixed(3)} × its one-hot label. The teachers are official-protocol runs: ` +
    "they trained on Training rows only, so the test faces are unseen by them as by the student. Their targets " +
    "were computed once per training face on the unaugmented image (the student sees augmented crops of it).",
    "",
    mdTable(
      ["teacher", "TTA", "views", "its own test accuracy (plain)", "data"],
      rows,
      [undefined, undefined, "right", "right", undefined],
    ),
    "",
    `On the ${fmtInt(run.targets.rows)} training faces the teachers' top class is ` +
    `the label for ${pct(run.targets.agreement, 1)} of them, with a mean top probability of ` +
    `${pct(run.targets.meanConfidence, 1)} (they have trained on most of these faces, so they are surer here than ` +
    `on unseen ones). Their ensemble scores **${pct(ensembleAccuracy)}** on this run's test split. Targets ` +
    `\`${run.targets.id}\` (${run.targets.cached ? "read from" : "written to"} \`.cache/distil/\`).`,
  ].join("\n");
}

function costSection(costs: ModelCost[]): string {
  const ms = (c: ModelCost, b: number) => {
    const s = c.speed.find((x) => x.batch === b);
    return s ? `${s.msPerFace.toFixed(2)} (fastest ${s.msPerFaceMin.toFixed(2)})` : "–";
  };
  return [
    "## What it costs to run",
    "",
    "Milliseconds per face of one forward pass and reading its probabilities back (one view; the ten-crop costs ten), " +
    "on this run's backend: the median of the runs of at least three seconds after two untimed ones, and the fastest " +
    "run, measured at the end of the run on the machine named above (`deno task bench:peers` times the JavaScript " +
    "peers the same way: `reports/peers.md`).",
    "",
    mdTable(
      ["model", "parameters", "weights", ...SPEED_BATCHES.map((b) => `ms/face, batch ${b}`)],
      costs.map((c) => [
        c.name,
        fmtInt(c.params),
        `${(c.weightBytes / 1024).toFixed(0)} KB`,
        ...SPEED_BATCHES.map((b) => ms(c, b)),
      ]),
      [undefined, "right", "right", ...SPEED_BATCHES.map(() => "right" as const)],
    ),
  ].join("\n");
}

async function modelCost(name: string, model: tf.LayersModel): Promise<ModelCost> {
  const speed: Speed[] = [];
  for (const batch of SPEED_BATCHES) speed.push(await inferenceSpeed(model, batch, { minSeconds: 3 }));
  const weightBytes = model.getWeights().reduce((a, w) => a + w.size * 4, 0);
  return { name, params: model.countParams(), weightBytes, speed };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
