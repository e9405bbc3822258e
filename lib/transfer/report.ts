/**
 * The transfer-specific part of experiment 04's report: the backbone and
 * what it was trained on, speed and memory per phase, the study's way of
 * materialising the upsampled set, the ablation, and the study's conclusion
 * checked against this run. Added to the standard experiment report as its
 * extras.
 *
 * @module
 */
import { join } from "node:path";
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
  materialised: MaterialisedCost;
  ablation: AblationRow[];
  /** Other experiments' reports found beside this one: the study's and our test accuracy. */
  others: { name: string; title: string; study: number; acc: number }[];
  synthetic: boolean;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** The Markdown of the transfer sections. */
export function transferMarkdown(r: TransferReport): string {
  const p1 = r.phase1;
  const p2ips = r.phase2.length ? r.phase2.reduce((a, h) => a + h.imagesPerSec, 0) / r.phase2.length : NaN;
  const p2s = r.phase2.reduce((a, h) => a + h.seconds, 0);
  const lastVal = r.phase2.at(-1)?.valAcc ?? NaN;
  const phases = mdTable(["phase", "what trains", "images/s", "time", "val acc"], [
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
      Number.isFinite(lastVal) ? pct(lastVal) : "–",
    ],
  ]);
  const curve = mdTable(
    ["images through the backbone", "process RSS", "wasm heap", "TF.js tensors"],
    p1.memoryCurve.map((m) => [fmtInt(m.images), mb(m.rssBytes), mb(m.wasmHeapBytes), mb(m.tensorBytes)]),
  );
  const m = r.materialised;
  const ablation = r.ablation.length ? ablationTable(r.ablation) : "_No ablation in this run (see `--ablation-rows`)._";
  const ab = r.ablation[0];
  const others = mdTable(
    ["experiment", "study", "ferlab"],
    [
      ...r.others.map((o) => [o.title, Number.isFinite(o.study) ? pct(o.study) : "no number", pct(o.acc)]),
      ["04 transfer, head only", "failed (no number)", pct(p1.testAcc)],
      ["04 transfer, fine-tuned", "failed (no number)", r.phase2.length ? pct(r.testAcc) : "not run yet"],
    ],
  );
  return [
    "## Transfer learning",
    "",
    `**Backbone:** ${r.backbone.description} (\`${r.backbone.id}\`, ${r.backbone.format} format, ` +
    `${fmtInt(r.backbone.id ? r.backboneParams : 0)} parameters). **Trained on:** ${r.backbone.trainedOn}. ` +
    `Input: the 48×48 grey face resized per batch to ${r.size}×${r.size}, replicated to 3 channels, ` +
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
  const bn = r.ablation.filter((a) => a.fineTuneEpochs > 0);
  const frozen = bn.find((a) => a.model.freezeBatchNorm), live = bn.find((a) => !a.model.freezeBatchNorm);
  const lines = [
    `The study concluded that transfer learning "did not work": it ran out of memory and trained unstably. ` +
    `Here the upsampled set never exists (memory above stays flat), the backbone's own preprocessing is used, ` +
    `a head is trained first on cached features (head-only test accuracy ${pct(r.phase1.testAcc)}), ` +
    (r.phase2.length
      ? `then the top blocks are fine-tuned with a low learning rate (test accuracy ${pct(r.testAcc)}).`
      : "and fine-tuning of the top blocks has not run yet in this report."),
  ];
  if (frozen && live) {
    lines.push(
      `With batch norm in inference mode the short fine-tuning run reached ${
        pct(frozen.valAcc, 1)
      } validation accuracy; ` +
        `with TF.js's default batch statistics it reached ${pct(live.valAcc, 1)}.`,
    );
  }
  return lines.join(" ");
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
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^(\d\d_[a-z0-9_]+)\.json$/.exec(e.name);
      if (!m || m[1] === self) continue;
      const j = JSON.parse(await Deno.readTextFile(join(dir, e.name)));
      if (typeof j.testAccuracy !== "number") continue;
      const study = typeof j.studyAccuracy === "number" ? j.studyAccuracy : NaN; // NaN is written as null
      out.push({ name: m[1], title: String(j.title ?? m[1]), study, acc: j.testAccuracy });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((x, y) => x.name.localeCompare(y.name));
}

/**
 * Experiment 04's additions to the standard report, made from the final
 * evaluation: the transfer sections (after the results), the model's FLOPs
 * as the graph counts them, and their numbers under `transfer` in the JSON.
 */
export function transferExtras(r: TransferRunInputs): (e: Evaluated) => Promise<ReportExtras> {
  return async ({ test }) => {
    const { config } = r.exp;
    const sections: TransferReport = {
      backbone: r.backbone.spec,
      size: config.size,
      featureDim: r.t.featureDim,
      backboneParams: r.t.features.countParams(),
      trainableBackboneParams: r.t.trainableBackboneParams,
      fineTuneBlocks: config.fineTuneBlocks,
      freezeBatchNorm: config.bn === "frozen",
      phase1: r.phase1,
      phase2: r.training.history,
      phase2Peak: r.phase2Peak,
      testAcc: test.accuracy,
      materialised: r.materialised,
      ablation: r.ablation,
      others: await otherResults(config.out, r.exp.name),
      synthetic: r.exp.synthetic,
    };
    const { blockOf: _b, source: _s, ...spec } = sections.backbone;
    return { sections: [transferMarkdown(sections)], json: { transfer: { ...sections, backbone: spec } } };
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
