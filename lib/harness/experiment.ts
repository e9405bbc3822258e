/**
 * The seam every experiment script stands on. A script declares what it is
 * (name, title, story, the study's number, its config defaults and flags),
 * builds its model in plain sight, and leaves the rest here:
 *
 * - {@link runExperiment} parses the flags, picks the backend, loads and
 *   splits the data, and hands the script an {@link Experiment};
 * - {@link Experiment.train} trains with the run's epochs, batch size, seed,
 *   checkpoints, `--resume` and `--max-minutes`;
 * - {@link Experiment.finish} evaluates on the test (and validation) rows,
 *   saves the model, and writes the report, charts and JSON — one call.
 *
 * @example
 * ```ts
 * await runExperiment({
 *   name: "05_tiny", title: "Experiment 05 — tiny CNN", story: "…", studyAccuracy: 0.5,
 *   settings: { epochs: common("epochs", 20), lr: num(1e-3, "Adam learning rate") },
 *   quick: { epochs: 2 },
 * }, async (exp) => {
 *   const model = tf.sequential({ layers: [ … ] });
 *   const training = await exp.train(model, { optimizer: tf.train.adam(exp.config.lr) });
 *   await exp.finish(model, training);
 * });
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { kernelsLabel } from "../backend/select.ts";
import {
  COMMON_DEFAULTS,
  COMMON_SETTINGS,
  type CommonConfig,
  type ConfigOf,
  defaultsOf,
  resolveConfig,
  type Settings,
} from "../cli/args.ts";
import { runCli } from "../cli/shell.ts";
import { augmentBatch, augmentPreset, type AugmentPresetName } from "../data/augment.ts";
import type { BatchAugment } from "../data/crops.ts";
import { evaluate, type ProbabilisticEvaluation } from "../eval/metrics.ts";
import { countFlops } from "../models/flops.ts";
import { saveModel } from "../models/io.ts";
import { makeRng, type Rng, shuffleInPlace } from "../rng.ts";
import type { Callback } from "../train/callbacks.ts";
import { train, type TrainResult } from "../train/loop.ts";
import type { LrSchedule } from "../train/lr_schedule.ts";
import type { SoftTargets } from "../train/soft_targets.ts";
import { log, prepare, type Prepared } from "./prepare.ts";
import { type ReportExtras, writeExperimentReport, writeUnfinishedReport } from "./report.ts";

/** What an experiment script declares about itself. */
export interface ExperimentSpec<S extends Settings = Settings> {
  /** File stem of the report, the saved model and the checkpoint, e.g. "01_baseline". */
  name: string;
  /** Report title. */
  title: string;
  /** One paragraph for the report: what the experiment is and what the study did. */
  story: string;
  /** The study's test accuracy on FER2013 (stated here and nowhere else). */
  studyAccuracy: number;
  /**
   * The settings beyond the common ones, each declared once (`common(...)`
   * gives a common one this experiment's default). A setting with an
   * `ablation` suffix names a run whose value differs from its default,
   * `name_<suffix>_<suffix>` in this table's order, so an ablation's report,
   * model and checkpoint do not overwrite the main run's; `--quick`'s own
   * values are defaults there, not ablations.
   */
  settings: S;
  /** What `--quick` changes. */
  quick: Partial<ExperimentConfig<S>>;
}

/** The resolved config of an experiment: the common settings and its own. */
export type ExperimentConfig<S extends Settings> = CommonConfig & ConfigOf<S>;

/** Options of {@link Experiment.train}; the run's config supplies the rest. */
export interface ExperimentTrainOptions {
  /** The optimizer, e.g. `tf.train.adam(1e-3)`. */
  optimizer: tf.Optimizer;
  /** Keras-style callbacks; disposed when training returns. */
  callbacks?: Callback[];
  /**
   * Augmentation of every training batch: a preset's name, or a batch
   * augmentation of the script's own (e.g. `cropAugmentation(…)`, whose crops
   * the model is built for) (default none).
   */
  augment?: AugmentPresetName | BatchAugment;
  /** Label smoothing of the one-hot targets (default 0). */
  labelSmoothing?: number;
  /** mixup's Beta(α, α) parameter (default 0: off). */
  mixup?: number;
  /** Knowledge distillation: teachers' distributions mixed into the labels (default none; see `soft_targets.ts`). */
  softTargets?: SoftTargets;
  /** Learning rate per optimizer step from the global step (default none: the optimizer's, callbacks'). */
  lrSchedule?: LrSchedule;
  /** L2 weight decay added to the gradients, as PyTorch's SGD does (default 0). */
  weightDecay?: number;
  /** Micro-batch: gradients accumulated over batch/microBatch slices, bounding activation memory (default none). */
  microBatch?: number;
  /** Training rows (default: the run's, `--limit-train` applied). */
  trainRows?: Int32Array;
  /** Epochs (default `config.epochs`). */
  epochs?: number;
  /**
   * Checkpoint folder name under `<out>/checkpoints/` (default the experiment's name); false for none, which
   * also exempts the run from `--max-minutes` (a run that cannot resume must not be cut short).
   */
  checkpoint?: string | false;
  /** Seed label of the training rng (default "train": `${seed}:train`). */
  rngLabel?: string;
  /** Live progress line (default true). */
  progress?: boolean;
}

/** What {@link Experiment.finish} produced. */
export interface Finished extends Evaluated {
  /** Files written (report, JSON, charts). */
  files: string[];
}

/**
 * Report additions, or a function that makes them from the final evaluations
 * (for sections that quote the test accuracy).
 */
export type ExtrasOf = ReportExtras | ((results: Evaluated) => ReportExtras | Promise<ReportExtras>);

/** The final evaluations {@link Experiment.finish} makes. */
export interface Evaluated {
  test: ProbabilisticEvaluation;
  val?: ProbabilisticEvaluation;
}

/** A running experiment: its resolved config, data and split, and the train/finish steps. */
export class Experiment<C extends CommonConfig> {
  private readonly t0 = performance.now();
  /** File stem of this run's report, model and checkpoint: see {@link runName}. */
  readonly name: string;

  constructor(readonly spec: ExperimentSpec, readonly config: C, readonly prepared: Prepared) {
    this.name = runName(spec, config);
  }

  /** `<out>/checkpoints/<path>`: where this run keeps what `--resume` continues from (`path` defaults to its name). */
  checkpointPath(path: string = this.name): string {
    return `${this.config.out}/checkpoints/${path}`;
  }

  /** The values of the settings an ablation can switch (e.g. `{ labelSmoothing: "0.1" }`), to compare runs by. */
  ablationSettings(): Record<string, string> {
    const config: Record<string, unknown> = this.config;
    return Object.fromEntries(
      Object.entries(this.spec.settings).filter(([, s]) => s.ablation).map(([k]) => [k, String(config[k])]),
    );
  }

  /** True when training on ferlab's synthetic stand-in rather than FER2013. */
  get synthetic(): boolean {
    return this.prepared.dataFacts.kind === "synthetic";
  }

  /** A generator seeded from the run's seed and `label`, e.g. `rng("init")`. */
  rng(label: string): Rng {
    return makeRng(`${this.config.seed}:${label}`);
  }

  /** Logs to stderr (stdout stays free for machine-readable output). */
  readonly log = (line: string): void => log(line);

  /**
   * Trains `model` in place on the run's training rows, validating on its
   * validation rows after every epoch; checkpoints every epoch and honours
   * `--resume` and `--max-minutes`.
   */
  async train(model: tf.LayersModel, opts: ExperimentTrainOptions): Promise<TrainResult> {
    const { config, prepared } = this;
    const callbacks = opts.callbacks ?? [];
    const augment = typeof opts.augment === "function" ? opts.augment : presetAugment(opts.augment ?? "none");
    const checkpoint = opts.checkpoint ?? this.name;
    try {
      return await train({
        model,
        optimizer: opts.optimizer,
        data: prepared.data,
        trainRows: opts.trainRows ?? prepared.trainRows,
        valRows: prepared.split.val,
        epochs: opts.epochs ?? config.epochs,
        batchSize: config.batchSize,
        microBatch: opts.microBatch,
        labelSmoothing: opts.labelSmoothing,
        mixup: opts.mixup,
        softTargets: opts.softTargets,
        lrSchedule: opts.lrSchedule,
        weightDecay: opts.weightDecay,
        augment,
        rng: this.rng(opts.rngLabel ?? "train"),
        callbacks,
        kernels: kernelsLabel(prepared.backend),
        ...(checkpoint === false ? {} : { checkpoint: { dir: this.checkpointPath(checkpoint) } }),
        resume: checkpoint !== false && config.resume,
        // Only a checkpointed run may be cut short by the budget: it can resume.
        maxSeconds: checkpoint !== false && config.maxMinutes > 0
          ? config.maxMinutes * 60 - this.elapsedSeconds()
          : undefined,
        bnRecalibrationRows: config.bnRecalRows,
        progress: opts.progress ?? true,
      });
    } finally {
      callbacks.forEach((c) => c.dispose?.());
    }
  }

  /** Seconds since the experiment started. */
  elapsedSeconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** True once `--max-minutes` (when set) has passed since the experiment started. */
  outOfTime(): boolean {
    return this.config.maxMinutes > 0 && this.elapsedSeconds() >= this.config.maxMinutes * 60;
  }

  /** A seeded random subset of `n` training rows (all of them when there are fewer), e.g. for a search. */
  sampleTrainRows(n: number, label: string): Int32Array {
    const rows = this.prepared.trainRows;
    if (n <= 0 || n >= rows.length) return rows;
    return shuffleInPlace(Int32Array.from(rows), this.rng(label)).slice(0, n);
  }

  /**
   * Writes the report of a run that ended before it had a model to evaluate
   * (e.g. a search cut short by `--max-minutes`): the story, a bold note of
   * `why`, the extras, the run facts and the resolved config.
   */
  async reportUnfinished(why: string, extras: ReportExtras = {}): Promise<string[]> {
    const { spec, config, prepared } = this;
    const files = await writeUnfinishedReport(config.out, {
      name: this.name,
      title: spec.title,
      story: spec.story,
      studyAccuracy: spec.studyAccuracy,
      config,
      prepared,
      wallSeconds: this.elapsedSeconds(),
      why,
      extras,
    });
    log(`wrote ${files.join(", ")}`);
    return files;
  }

  /**
   * Evaluates `model` on the test rows (and validation rows), saves it under
   * `<out>/models/<name>/`, and writes the report, its charts and JSON with
   * the experiment's `extras`.
   */
  async finish(model: tf.LayersModel, training: TrainResult, extrasOf: ExtrasOf = {}): Promise<Finished> {
    const { spec, config, prepared } = this;
    const test = await evaluate(model, prepared.data, prepared.split.test);
    const val = prepared.split.val.length ? await evaluate(model, prepared.data, prepared.split.val) : undefined;
    const study = Number.isFinite(spec.studyAccuracy) ? `${(100 * spec.studyAccuracy).toFixed(2)}%` : "no number";
    const vsStudy = this.synthetic ? `synthetic data, not comparable with the study's ${study}` : `study: ${study}`;
    log(
      `test accuracy ${(100 * test.accuracy).toFixed(2)}% on ${test.n} images, NLL ${
        test.calibration.nll.toFixed(4)
      }, ECE ${(100 * test.calibration.ece).toFixed(2)}% (${vsStudy})`,
    );
    const extras = typeof extrasOf === "function" ? await extrasOf({ test, val }) : extrasOf;
    const modelDir = `models/${this.name}`;
    await saveModel(model, `${config.out}/${modelDir}`);
    const summary: string[] = [];
    model.summary(100, undefined, (line: string) => summary.push(line));
    const files = await writeExperimentReport(config.out, {
      name: this.name,
      title: spec.title,
      story: spec.story,
      studyAccuracy: spec.studyAccuracy,
      config,
      prepared,
      model: { params: model.countParams(), flopsPerImage: countFlops(model), summary },
      training,
      test,
      val,
      wallSeconds: this.elapsedSeconds(),
      modelDir,
      extras,
    });
    log(`wrote ${files.join(", ")}`);
    return { test, val, files };
  }
}

/** The batch augmentation of a preset; undefined for "none". */
function presetAugment(preset: AugmentPresetName): BatchAugment | undefined {
  if (preset === "none") return undefined;
  const config = augmentPreset(preset);
  return (x: tf.Tensor4D, rng: Rng) => augmentBatch(x, config, rng);
}

/**
 * File stem of a run's report, model and checkpoint: the spec's name, then `_<suffix>` for each ablation setting
 * that differs from its default, then `_seed<N>` for another seed than the default. A run with another seed is a
 * replica, not an ablation: the same recipe drawn again, which `deno task report` counts as an ensemble member
 * beside the main run (with `--split-seed` they share its split) and which never overwrites the main run's files.
 *
 * @example
 * ```ts
 * runName(spec06, config); // "06_crops"; with --seed 43: "06_crops_seed43"; with --arch wide too: "06_crops_wide_seed43"
 * ```
 */
export function runName(spec: ExperimentSpec, config: CommonConfig): string {
  const replica = config.seed !== runDefaults(spec, config).seed ? `seed${config.seed}` : "";
  return [spec.name, ablationSuffix(spec, config), replica].filter(Boolean).join("_");
}

/** Every setting's default for this run: the spec's, with `--quick`'s own values where it is quick. */
function runDefaults(spec: ExperimentSpec, config: CommonConfig): Record<string, unknown> {
  const all = defaultsOf({ ...COMMON_SETTINGS, ...spec.settings });
  return config.quick ? { ...all, ...spec.quick } : all;
}

/** The suffixes of the ablation settings that differ from their defaults (with `--quick`'s), joined; "" for none. */
export function ablationSuffix(spec: ExperimentSpec, config: CommonConfig): string {
  const defaults = runDefaults(spec, config);
  const values: Record<string, unknown> = config;
  return Object.entries(spec.settings)
    .filter(([k, s]) => s.ablation && values[k] !== defaults[k])
    .map(([k, s]) => s.ablation!(values[k]))
    .join("_");
}

/** Logs the resolved config, then prepares backend, data and split. */
function prepareLogged<C extends CommonConfig>(config: C, name: string): Promise<Prepared> {
  log(`${name}: ${JSON.stringify(config)}`);
  return prepare(config);
}

/**
 * Runs an experiment script: resolves its config from `argv` (printing
 * `--help`), prepares backend, data and split, then calls `body`. User
 * errors print as one message; the process exits when `body` is done.
 */
export function runExperiment<S extends Settings>(
  spec: ExperimentSpec<S>,
  body: (exp: Experiment<ExperimentConfig<S>>) => Promise<void>,
  argv: string[] = Deno.args,
): Promise<never> {
  return runCli(async () => {
    const config = resolveConfig(argv, `exp:${spec.name.slice(0, 2)}`, spec.settings, spec.quick);
    if (!config) return;
    const prepared = await prepareLogged(config, spec.name);
    const out = outputFolder(config.out, prepared.dataFacts.kind);
    if (out !== config.out) {
      log(`note: synthetic data, so the outputs go to ${out}/ (the FER2013 results stay as they are)`);
    }
    const exp = new Experiment(spec, { ...config, out }, prepared);
    await body(exp);
  });
}

/**
 * Where a run writes: the default folder's `synthetic/` for a run on the
 * synthetic faces (so a smoke run never overwrites a committed FER2013
 * report), else the folder asked for.
 */
export function outputFolder(out: string, dataKind: Prepared["dataFacts"]["kind"]): string {
  return dataKind === "synthetic" && out === COMMON_DEFAULTS.out ? `${out}/synthetic` : out;
}
