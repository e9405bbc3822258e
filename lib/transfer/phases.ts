/**
 * The two phases of transfer learning as experiment 04 runs them, plus the
 * short ablation runs, so the script reads as an outline:
 *
 * 1. {@link headPhase}: backbone features computed once per image (cached on
 *    disk), a new head trained on them; resumable (a finished phase 1 is
 *    reloaded, not redone).
 * 2. Fine-tuning runs through the shared training loop (`lib/train/loop.ts`)
 *    because the transfer model takes the same 48×48 batches as any model.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { exists, writeFileAtomic } from "../atomic_write.ts";
import type { Fer2013 } from "../data/fer2013.ts";
import { loadModel, saveModel } from "../models/io.ts";
import { makeRng } from "../rng.ts";
import type { EpochLog } from "../train/callbacks.ts";
import { train } from "../train/loop.ts";
import { evaluateLoss } from "../train/validate.ts";
import { loadBackbone, type LoadedBackbone } from "./backbone.ts";
import { cachedFeatures, computeFeatures, type FeatureCache } from "./features.ts";
import { headAccuracy, type HeadResult, trainHead } from "./head.ts";
import { MemoryMonitor, type MemorySample } from "./memory.ts";
import { buildTransferModel, type TransferModel, type TransferModelOptions } from "./model.ts";

/** Memory after a number of images went through the backbone. */
export interface MemoryPoint extends MemorySample {
  images: number;
}

/** What phase 1 produced (saved as JSON, so a resumed run can report it). */
export interface HeadPhaseResult {
  /** Feature extraction: images, seconds, images/s; `cached` when read from disk. */
  extract: { images: number; seconds: number; imagesPerSec: number; cached: boolean };
  head: HeadResult;
  valAcc: number;
  testAcc: number;
  /** Memory as extraction went on (flat = no full-set tensor). */
  memoryCurve: MemoryPoint[];
  peak: MemorySample;
}

/** Options of {@link headPhase}. */
export interface HeadPhaseOptions {
  t: TransferModel;
  data: Fer2013;
  rows: { train: Int32Array; val: Int32Array; test: Int32Array };
  /** Feature cache file (null = keep in memory only). */
  cachePath: string | null;
  /** Where the trained head and phase1.json go; reloaded from there on resume. */
  dir: string;
  resume: boolean;
  epochs: number;
  /** Images per backbone forward pass. */
  batchSize: number;
  /** Head batch (features are cheap: large batches keep the per-step overhead down). */
  headBatchSize: number;
  lr: number;
  seed: number;
  log: (line: string) => void;
}

/** Phase 1: features once per image, then the new head on them. */
export async function headPhase(o: HeadPhaseOptions): Promise<HeadPhaseResult> {
  const resultPath = join(o.dir, "phase1.json");
  if (o.resume) {
    try {
      const saved = JSON.parse(await Deno.readTextFile(resultPath)) as HeadPhaseResult;
      const head = await loadModel(o.dir);
      o.t.head.setWeights(head.getWeights());
      head.dispose();
      o.log(`phase 1 already done (${resultPath}); head reloaded, val acc ${(100 * saved.valAcc).toFixed(2)}%`);
      return saved;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const all = Int32Array.from([...o.rows.train, ...o.rows.val, ...o.rows.test]);
  const monitor = new MemoryMonitor().start();
  const curve: MemoryPoint[] = [];
  const t0 = performance.now();
  let next = 0;
  const { cache, computed, seconds } = await cachedFeatures(o.cachePath, o.t.features, o.data, all, {
    batchSize: o.batchSize,
    imageSize: 48,
    onProgress: (done, total) => {
      if (done < next && done < total) return;
      next = done + Math.ceil(total / 10);
      curve.push({ images: done, ...monitor.sample() });
      const s = (performance.now() - t0) / 1000;
      o.log(
        `  features ${done}/${total} (${(done / s).toFixed(1)} img/s, ETA ${
          ((s * (total - done)) / done).toFixed(0)
        }s)`,
      );
    },
  });
  o.log(
    `features: ${all.length} images × ${cache.dim} ${computed ? "computed" : "read from cache"} in ${
      seconds.toFixed(1)
    }s`,
  );
  const head = await trainHead({
    head: o.t.head,
    cache,
    labels: o.data.labels,
    trainRows: o.rows.train,
    valRows: o.rows.val,
    epochs: o.epochs,
    batchSize: o.headBatchSize,
    lr: o.lr,
    rng: makeRng(`${o.seed}:head`),
    log: o.log,
  });
  const result: HeadPhaseResult = {
    extract: { images: all.length, seconds, imagesPerSec: all.length / seconds, cached: !computed },
    head,
    valAcc: o.rows.val.length ? (await headAccuracy(o.t.head, cache, o.data.labels, o.rows.val)).acc : NaN,
    testAcc: o.rows.test.length ? (await headAccuracy(o.t.head, cache, o.data.labels, o.rows.test)).acc : NaN,
    memoryCurve: curve,
    peak: monitor.stop(),
  };
  await saveModel(o.t.head, o.dir);
  await Deno.writeTextFile(resultPath, JSON.stringify(result, null, 1));
  return result;
}

/** One short ablation run. */
export interface AblationVariant {
  label: string;
  backbone: string;
  model: Omit<TransferModelOptions, "numClasses" | "seed">;
  /** Fine-tuning epochs after the head (0 = head only). */
  fineTuneEpochs: number;
}

/** The outcome of one {@link AblationVariant}. */
export interface AblationRow extends AblationVariant {
  trainRows: number;
  valRows: number;
  headValAcc: number;
  valAcc: number;
  extractImagesPerSec: number;
  fineTuneImagesPerSec: number;
  seconds: number;
  peakRssBytes: number;
}

/** Options of {@link runAblation}. */
export interface AblationOptions {
  data: Fer2013;
  trainRows: Int32Array;
  valRows: Int32Array;
  headEpochs: number;
  headBatchSize: number;
  batchSize: number;
  microBatch: number;
  headLr: number;
  lr: number;
  seed: number;
  log: (line: string) => void;
  /**
   * Where each finished variant's row is written as it ends; rows already
   * there for the same variant and rows are kept, not run again (a resumed
   * run's ablation continues instead of starting over).
   */
  resultsPath?: string;
}

/** The rows in `path` run on the same numbers of rows, by variant (none when there is no file). */
async function finishedRows(path: string | undefined, o: AblationOptions): Promise<Map<string, AblationRow>> {
  const done = new Map<string, AblationRow>();
  if (!path || !(await exists(path))) return done;
  const rows = JSON.parse(await Deno.readTextFile(path)) as AblationRow[];
  for (const r of rows) {
    // JSON writes NaN (a head-only variant's fine-tuning speed) as null
    const row = { ...r, fineTuneImagesPerSec: r.fineTuneImagesPerSec ?? NaN };
    if (r.trainRows === o.trainRows.length && r.valRows === o.valRows.length) done.set(variantKey(row), row);
  }
  return done;
}

/** What identifies a variant: everything that decides its result. */
const variantKey = (v: AblationVariant) =>
  JSON.stringify([
    v.label,
    v.backbone,
    v.model.size,
    v.model.fineTuneBlocks,
    v.model.freezeBatchNorm,
    v.fineTuneEpochs,
  ]);

/**
 * Runs each variant on the same (small) rows: features → head → optional
 * fine-tuning epochs, and reports validation accuracy and speed. Backbones
 * are loaded once each; with `resultsPath`, finished variants are kept.
 */
export async function runAblation(variants: AblationVariant[], o: AblationOptions): Promise<AblationRow[]> {
  const loaded = new Map<string, LoadedBackbone>();
  const finished = await finishedRows(o.resultsPath, o);
  const rows: AblationRow[] = [];
  for (const v of variants) {
    const kept = finished.get(variantKey(v));
    if (kept) {
      o.log(`ablation: ${v.label} already done (${o.resultsPath}): ${(100 * kept.valAcc).toFixed(1)}% val`);
      rows.push(kept);
      continue;
    }
    const t0 = performance.now();
    o.log(`ablation: ${v.label} (${o.trainRows.length} train / ${o.valRows.length} val rows)`);
    if (!loaded.has(v.backbone)) loaded.set(v.backbone, await loadBackbone(v.backbone));
    const monitor = new MemoryMonitor().start();
    const t = await buildTransferModel(loaded.get(v.backbone)!, { ...v.model, numClasses: 7, seed: o.seed });
    const te = performance.now();
    const cache: FeatureCache = await computeFeatures(
      t.features,
      o.data,
      Int32Array.from([...o.trainRows, ...o.valRows]),
      { batchSize: o.batchSize, imageSize: 48 },
    );
    const extractImagesPerSec = cache.rows.length / ((performance.now() - te) / 1000);
    await trainHead({
      head: t.head,
      cache,
      labels: o.data.labels,
      trainRows: o.trainRows,
      valRows: o.valRows,
      epochs: o.headEpochs,
      batchSize: o.headBatchSize,
      lr: o.headLr,
      rng: makeRng(`${o.seed}:head`),
    });
    const headValAcc = (await headAccuracy(t.head, cache, o.data.labels, o.valRows)).acc;
    let valAcc = headValAcc, fineTuneImagesPerSec = NaN;
    if (v.fineTuneEpochs > 0) {
      const opt = tf.train.adam(o.lr);
      const r = await train({
        model: t.model,
        optimizer: opt,
        data: o.data,
        trainRows: o.trainRows,
        valRows: o.valRows,
        epochs: v.fineTuneEpochs,
        batchSize: o.batchSize,
        microBatch: o.microBatch,
        rng: makeRng(`${o.seed}:ablation`),
        progress: false,
        log: o.log,
      });
      fineTuneImagesPerSec = meanImagesPerSec(r.history);
      valAcc = (await evaluateLoss(t.model, o.data, o.valRows, { batchSize: 64, imageSize: 48, numClasses: 7 })).acc;
      opt.dispose();
    }
    t.model.dispose();
    rows.push({
      ...v,
      trainRows: o.trainRows.length,
      valRows: o.valRows.length,
      headValAcc,
      valAcc,
      extractImagesPerSec,
      fineTuneImagesPerSec,
      seconds: (performance.now() - t0) / 1000,
      peakRssBytes: monitor.stop().rssBytes,
    });
    o.log(`  → head ${(100 * headValAcc).toFixed(1)}%, final ${(100 * valAcc).toFixed(1)}% val`);
    if (o.resultsPath) await writeFileAtomic(o.resultsPath, JSON.stringify(rows, null, 1));
  }
  return rows;
}

/** Mean training images/s over epochs. */
export function meanImagesPerSec(history: EpochLog[]): number {
  return history.length ? history.reduce((a, h) => a + h.imagesPerSec, 0) / history.length : NaN;
}

/**
 * The ablation of experiment 04: head only vs fine-tuned, batch norm frozen
 * vs batch statistics (on the layers-format MobileNetV2, whose batch norm is
 * not folded away), and other input sizes (head only).
 */
export function ablationVariants(
  c: { backbone: string; size: number; fineTuneBlocks: number; dropout: number; quick: boolean },
): AblationVariant[] {
  const m = { size: c.size, fineTuneBlocks: c.fineTuneBlocks, freezeBatchNorm: true, dropout: c.dropout };
  const layersBackbone = "nsfwjs-mobilenet-v2";
  const sizes = (c.quick ? [32, 96] : [64, 128, 224]).filter((s) => s !== c.size);
  return [
    { label: "head only", backbone: c.backbone, model: { ...m, fineTuneBlocks: 0 }, fineTuneEpochs: 0 },
    { label: "head + fine-tuned top blocks", backbone: c.backbone, model: m, fineTuneEpochs: 1 },
    { label: "layers MobileNetV2, BN frozen", backbone: layersBackbone, model: m, fineTuneEpochs: 1 },
    {
      label: "layers MobileNetV2, BN batch stats",
      backbone: layersBackbone,
      model: { ...m, freezeBatchNorm: false },
      fineTuneEpochs: 1,
    },
    ...sizes.map((size) => ({
      label: `head only at ${size}×${size}`,
      backbone: c.backbone,
      model: { ...m, size, fineTuneBlocks: 0 },
      fineTuneEpochs: 0,
    })),
  ];
}
