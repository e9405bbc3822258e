/**
 * What the demo page is told to run: the assembled `demo/manifest.json`
 * (written by `deno task demo` from `reports/demo.json`), read by the page at
 * start-up. The model is named here rather than in the page so that a new
 * model (experiment 07's distilled one) is a one-line change.
 *
 * @module
 */
import type { DetectorChoice } from "../predict/fer_crop.ts";
import type { TtaChoice } from "../eval/tta.ts";

/** `reports/demo.json`: what a user edits. */
export interface DemoConfig {
  /** A model folder relative to `reports/` (`models/05_budget`), or `auto`: `deno task predict`'s default. */
  model: string;
  /** Test-time augmentation; `auto` is the model's own (as `predict --tta auto`). */
  tta: TtaChoice;
  /** The detectors run on a photo or a camera frame. */
  detector: DetectorChoice;
}

/** `demo/manifest.json`: the config resolved to files the page loads. */
export interface DemoManifest extends DemoConfig {
  /** The model's `model.json`, relative to the page. */
  modelUrl: string;
  /** The model folder's name (`05_budget`). */
  name: string;
  /** Its experiment's title and test accuracy, when a result names it. */
  title?: string;
  testAccuracy?: number;
  /** Minimum detection score. */
  minScore: number;
  /** The folder of face-api's detector weights, relative to the page. */
  detectorWeights: string;
  /** TF.js's wasm binaries, relative to the page, by file name. */
  wasm: Record<string, string>;
  /** The TF.js version bundled in the page (face-api's copy, checked against the project's at assembly). */
  tfjs: string;
}
