/**
 * The transfer-specific part of experiment 04's report: the backbone and
 * what it was trained on, speed and memory per phase, the study's way of
 * materialising the upsampled set, the ablation, and the study's conclusion
 * checked against this run. Added to the standard experiment report as its
 * extras.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { distinctTitles } from "../compare/comparison.ts";
import { testSplitNote, ttaRows, ttaSection } from "../crops/report.ts";
import type { ProbabilisticEvaluation } from "../eval/metrics.ts";
import { modelInput } from "../models/input_spec.ts";
import { readResultJsons } from "../compare/results.ts";
import type { Evaluated, Experiment } from "../harness/experiment.ts";
import type { ReportExtras } from "../harness/report.ts";
import { fmtInt, fmtSeconds, mdTable, pct } from "../report/markdown.ts";
import type { EpochLog } from "../train/callbacks.ts";
import type { TrainResult } from "../train/loop.ts";
import type { BackboneSpec, LoadedBackbone } from "./backbone.ts";
import type { TransferConfig } from "./config.ts";
import type { MaterialisedCost, MemorySample } from "./memory.ts";
import type { TransferModel } from "./model.ts";
import type { AblationRow, HeadPhaseResult } from "./phases.ts";

/** Everything the transfer sections are made from. */
export interface TransferReport {
  backbone: BackboneSpec;
  size: number;
  /** Side of the model's input: 48, or the crop side of a model fine-tuned on random crops (absent in older runs). */
  inputSide?: number;
  featureDim: number;
  backboneParams: number;
  trainableBackboneParams: number;
  fineTuneBlocks: number;
  freezeBatchNorm: boolean;
  phase1: HeadPhaseResult;
  /** Phase 2 history (empty when fine-tuning did not run). */
  phase2: EpochLog[];
  phase2Peak?: { rssBytes: number; wasmHeapBytes: number; tensorBytes: number };
  testAcc: number;
  /** Validation accuracy of the final model (early stopping may have restored an earlier epoch than the last). */
  valAcc: number;
  materialised: MaterialisedCost;
  ablation: AblationRow[];
  /** Other experiments' reports found beside this one: the study's and our test accuracy. */
  others: { name: string; title: string; protocol: string; study: number; acc: number }[];
  synthetic: boolean;
  /** The split protocol of this run (only results of the same protocol share a test set). */
  protocol: string;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** The Markdown of the transfer sections. */
export function transferMarkdown(r: TransferReport): string {
  const p1 = r.phase1;
  // The median epoch: a resumed run's epochs may have shared the machine with other jobs
  const p2ips = median(r.phase2.map((h) => h.imagesPerSec));
  const p2s = r.phase2.reduce((a, h) => a + h.seconds, 0);
  const phases = mdTable(["phase", "what trains", "images/s (median epoch)", "time (summed)", "val acc"], [
    [
      `0. features (${r.size}×${r.size})`,
      "nothing (inference, once per image)",
      p1.extract.cached ? "read from cache" : p1.extract.imagesPerSec.toFixed(1),
      fmtSeconds(p1.extract.seconds),
      "–",
    ],
    [
      "1. head on cached features",
      `dense head (${fmtInt(r.featureDim * 7 + 7)} params)`,
      p1.head.imagesPerSec.toFixed(0),
      fmtSeconds(p1.head.seconds),
      pct(p1.valAcc),
    ],
    [
      `2. fine-tuning (${r.size}×${r.size})`,
      `top ${r.fineTuneBlocks} blocks (${fmtInt(r.trainableBackboneParams)} params) + head`,
      Number.isFinite(p2ips) ? p2ips.toFixed(1) : "not run",
      fmtSeconds(p2s),
      r.phase2.length && Number.isFinite(r.valAcc) ? `${pct(r.valAcc)} (final model)` : "–",
    ],
  ]);
  const curve = mdTable(
    ["images through the backbone", "process RSS", "wasm heap", "TF.js tensors"],
    p1.memoryCurve.map((m) => [fmtInt(m.images), mb(m.rssBytes), mb(m.wasmHeapBytes), mb(m.tensorBytes)]),
  );
  const m = r.materialised;
  const ablation = r.ablation.length ? ablationTable(r.ablation) : "_No ablation in this run (see `--ablation-rows`)._";
  const ab = r.ablation[0];
  const titles = distinctTitles(r.others);
  const others = mdTable(
    ["experiment", "protocol", "study", "ferlab"],
    [
      ...r.others.map((o, i) => [
        titles[i],
        o.protocol,
        Number.isFinite(o.study) ? pct(o.study) : "no number",
        pct(o.acc),
      ]),
      ["04 transfer, head only", r.protocol, "failed (no number)", pct(p1.testAcc)],
      ["04 transfer, fine-tuned", r.protocol, "failed (no number)", r.phase2.length ? pct(r.testAcc) : "not run yet"],
    ],
  );
  return [
    "## Transfer learning",
    "",
    `**Backbone:** ${r.backbone.description} (\`${r.backbone.id}\`, ${r.backbone.format} format, ` +
    `${fmtInt(r.backbone.id ? r.backboneParams : 0)} parameters). **Trained on:** ${r.backbone.trainedOn}. ` +
    `Input: ${
      (r.inputSide ?? 48) === 48
        ? "the 48×48 grey face"
        : `the ${r.inputSide}×${r.inputSide} crop of the 48×48 grey face`
    } resized per batch to ${r.size}×${r.size}, replicated to 3 channels, ` +
    `preprocessing \`${r.backbone.preprocess}\`; features ${r.featureDim}-d after global average pooling. ` +
    `Batch norm: ${
      r.freezeBatchNorm ? "kept in inference mode (moving statistics never change)" : "batch statistics (TF.js default)"
    }` +
    (r.backbone.format === "graph" ? " — in a converted graph it is folded into the convolutions." : "."),
    "",
    "### Accuracy beside the other experiments",
    "",
    others,
    r.synthetic ? "\n_This run is on synthetic data: the accuracies are not comparable with FER2013 numbers._\n" : "",
    "### Phases: speed",
    "",
    phases,
    "",
    "### Memory",
    "",
    `Peak during phase 1: process RSS ${mb(p1.peak.rssBytes)}, wasm heap ${mb(p1.peak.wasmHeapBytes)}, ` +
    `TF.js tensors ${mb(p1.peak.tensorBytes)}` +
    (r.phase2Peak
      ? `; during phase 2: RSS ${mb(r.phase2Peak.rssBytes)}, wasm heap ${mb(r.phase2Peak.wasmHeapBytes)}.`
      : "."),
    "Memory as images go through the backbone: the wasm heap and the TF.js tensors stay flat (only one batch is " +
    `ever upsampled); the process grows only by the feature cache being filled (${r.featureDim} floats = ` +
    `${fmtInt(r.featureDim * 4)} bytes per image, ${mb(r.featureDim * 4 * p1.extract.images)} in all):`,
    "",
    curve,
    "",
    `**The study's way** — the whole set upsampled up front — measured on ${fmtInt(m.images)} images at ` +
    `${m.size}×${m.size}×3 float32: ${mb(m.tensorBytes)} of tensors (${fmtInt(m.bytesPerImage)} bytes per image; ` +
    `process RSS grew ${mb(m.rssBytes)}). Extrapolated to ${fmtInt(m.target)} training images: **${
      gb(m.targetBytes)
    }** ` +
    `for the input tensor alone, before any activation — which is why the study ran out of RAM.`,
    "",
    "### Ablation",
    "",
    ab
      ? `Short runs, labelled as such: ${fmtInt(ab.trainRows)} training and ${fmtInt(ab.valRows)} validation rows, ` +
        `the same seed and rows for every variant; accuracies are on those validation rows, not the test set.\n`
      : "",
    ablation,
    "",
    "### The study's conclusion, checked",
    "",
    conclusion(r),
    "",
  ].join("\n");
}

function conclusion(r: TransferReport): string {
  const lines = [
    `The study concluded that transfer learning "did not work": it ran out of memory and trained unstably. ` +
    `Here the upsampled set never exists (memory above stays flat), the backbone's own preprocessing is used, ` +
    `a head is trained first on cached features (head-only test accuracy ${pct(r.phase1.testAcc)}), ` +
    (r.phase2.length
      ? `then the top blocks are fine-tuned with a low learning rate (test accuracy ${pct(r.testAcc)}).`
      : "and fine-tuning of the top blocks has not run yet in this report."),
  ];
  // Batch norm frozen against batch statistics, on the same (layers-format) backbone
  const tuned = r.ablation.filter((a) => a.fineTuneEpochs > 0);
  const live = tuned.find((a) => !a.model.freezeBatchNorm);
  const frozen = live && tuned.find((a) => a.model.freezeBatchNorm && a.backbone === live.backbone);
  if (frozen && live) {
    // Standard error of an accuracy near p on n rows: √(p(1−p)/n)
    const se = Math.sqrt((frozen.valAcc * (1 - frozen.valAcc)) / frozen.valRows);
    const gap = frozen.valAcc - live.valAcc;
    lines.push(
      `On the same backbone (${frozen.backbone}), one short fine-tuning epoch with batch norm in inference mode ` +
        `reached ${pct(frozen.valAcc, 1)} validation accuracy and with TF.js's default batch statistics ` +
        `${pct(live.valAcc, 1)}: a gap of ${(100 * gap).toFixed(1)} points against a standard error of about ` +
        `${(100 * se).toFixed(1)} points per accuracy on ${fmtInt(frozen.valRows)} rows` +
        (Math.abs(gap) < 2 * Math.SQRT2 * se ? ", so this short run alone does not settle it." : "."),
    );
  }
  return lines.join(" ");
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Inputs of {@link transferExtras}: what experiment 04 has at its end. */
export interface TransferRunInputs {
  exp: Experiment<TransferConfig>;
  t: TransferModel;
  backbone: LoadedBackbone;
  phase1: HeadPhaseResult;
  training: TrainResult;
  phase2Peak: MemorySample;
  materialised: MaterialisedCost;
  ablation: AblationRow[];
}

/** The study's and our test accuracies from the other experiments' JSON reports in `dir`. */
async function otherResults(dir: string, self: string): Promise<TransferReport["others"]> {
  const out: TransferReport["others"] = [];
  for (const { name, json } of await readResultJsons(dir)) {
    // deno-lint-ignore no-explicit-any
    const j = json as any;
    if (name === self || typeof j?.testAccuracy !== "number") continue;
    const study = typeof j.studyAccuracy === "number" ? j.studyAccuracy : NaN; // NaN is written as null
    const protocol = String(j.split?.protocol ?? j.config?.protocol ?? "–");
    out.push({ name, title: String(j.title ?? name), protocol, study, acc: j.testAccuracy });
  }
  return out.sort((x, y) => x.name.localeCompare(y.name));
}

/**
 * Experiment 04's additions to the standard report, made from the final
 * evaluation: the transfer sections (after the results), the model's FLOPs
 * as the graph counts them, and their numbers under `transfer` in the JSON.
 */
export function transferExtras(r: TransferRunInputs): (e: Evaluated) => Promise<ReportExtras> {
  return async ({ test, val }) => {
    const { config } = r.exp;
    const sections: TransferReport = {
      backbone: r.backbone.spec,
      size: config.size,
      inputSide: modelInput(r.t.model).inputSize,
      featureDim: r.t.featureDim,
      backboneParams: r.t.features.countParams(),
      trainableBackboneParams: r.t.trainableBackboneParams,
      fineTuneBlocks: config.fineTuneBlocks,
      freezeBatchNorm: config.bn === "frozen",
      phase1: r.phase1,
      phase2: r.training.history,
      phase2Peak: r.phase2Peak,
      testAcc: test.accuracy,
      valAcc: val?.accuracy ?? NaN,
      protocol: config.protocol,
      materialised: r.materialised,
      ablation: r.ablation,
      others: await otherResults(config.out, r.exp.name),
      synthetic: r.exp.synthetic,
    };
    const { blockOf: _b, source: _s, ...spec } = sections.backbone;
    const json = { transfer: { ...sections, backbone: spec } };
    const crops = await cropTta(r.exp, r.t.model, test);
    return crops
      ? {
        preface: [crops.preface],
        sections: [crops.section, transferMarkdown(sections)],
        json: { ...json, ...crops.json },
      }
      : { sections: [transferMarkdown(sections)], json };
  };
}

/** A crop model's test-time augmentation (centre, + mirror, ten-crop), as 06 reports it; undefined for a whole-face model. */
async function cropTta(exp: Experiment<TransferConfig>, model: tf.LayersModel, test: ProbabilisticEvaluation) {
  const input = modelInput(model);
  if (input.inputSize === input.imageSize) return undefined;
  const rows = await ttaRows(model, exp.prepared.data, exp.prepared.split, test, exp.config.protocol);
  const split = rows[0];
  return {
    preface: `Input: random ${input.inputSize}×${input.inputSize} crops of the ${input.imageSize}×${input.imageSize} ` +
      `faces while fine-tuning (06's recipe); the saved model records its input side and its default TTA ` +
      `(ten-crop). **Ten-crop test accuracy: ${pct(split.accuracy.crops)}** (centre crop alone ` +
      `${pct(split.accuracy.none)}).`,
    section: ttaSection(rows, input, testSplitNote(exp.config.protocol)),
    json: { input, tta: rows, testTenCrop: split.accuracy.crops },
  };
}

/**
 * The ablation's Markdown table, one row per variant; `withSeconds` adds each
 * variant's wall time (the standalone short run reports it).
 */
export function ablationTable(rows: readonly AblationRow[], withSeconds = false): string {
  return mdTable(
    [
      "variant",
      "backbone",
      "size",
      "BN",
      "fine-tune",
      "head-only val",
      "final val",
      "extract img/s",
      "fine-tune img/s",
      ...(withSeconds ? ["seconds"] : []),
    ],
    rows.map((a) => [
      a.label,
      a.backbone,
      String(a.model.size),
      a.model.freezeBatchNorm ? "frozen" : "batch stats",
      a.fineTuneEpochs ? `top ${a.model.fineTuneBlocks}, ${a.fineTuneEpochs} ep` : "none",
      pct(a.headValAcc, 1),
      pct(a.valAcc, 1),
      a.extractImagesPerSec.toFixed(1),
      Number.isFinite(a.fineTuneImagesPerSec) ? a.fineTuneImagesPerSec.toFixed(1) : "–",
      ...(withSeconds ? [a.seconds.toFixed(0)] : []),
    ]),
  );
}
