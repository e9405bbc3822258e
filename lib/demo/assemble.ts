/**
 * Putting the browser demo together beside `demo.html`: the page's code
 * bundled with face-api's browser build (`deno bundle`), TF.js's wasm
 * binaries, face-api's two detectors' weights and the emotion model, all
 * copied from `node_modules/` and `reports/models/` into a `demo/` folder
 * that git ignores, plus the `manifest.json` the page starts from. Nothing
 * third-party is committed; a fresh clone gets the same folder from
 * `deno task demo` after `deno install`.
 *
 * @example
 * ```ts
 * const manifest = await assembleDemo({ reports: "reports", out: "reports", model: { dir: "reports/models/05_budget" } });
 * // reports/demo/{demo.js, manifest.json, wasm/, face-api/, models/05_budget/}
 * ```
 *
 * @module
 */
import { basename, join, relative, resolve } from "node:path";
import { TTA_CHOICES } from "../eval/tta.ts";
import { UserError } from "../errors.ts";
import { DEFAULT_MIN_SCORE, DETECTORS } from "../predict/fer_crop.ts";
import type { DemoConfig, DemoManifest } from "./manifest.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const NODE_MODULES = join(ROOT, "node_modules");
/** The page's source module, bundled into `demo/demo.js`. */
export const PAGE_SOURCE = join(ROOT, "lib/demo/page.ts");
/** The committed page, copied beside its folder when the demo is assembled elsewhere. */
export const PAGE_HTML = join(ROOT, "reports/demo.html");
/** The folder beside `demo.html` that holds everything it loads. */
export const ASSETS = "demo";
/** Which model, TTA and detector the page runs: `reports/demo.json`. */
export const CONFIG_FILE = "demo.json";

const WASM_DIR = join(NODE_MODULES, "@tensorflow/tfjs-backend-wasm/dist");
const WASM_FILES = ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"];
const FACE_API = join(NODE_MODULES, "@vladmandic/face-api");
/** face-api's weights the page loads (its landmark, recognition and expression models are not used). */
const DETECTOR_WEIGHTS = ["ssd_mobilenetv1_model", "tiny_face_detector_model"];

/** The demo cannot be put together (missing packages, a bad config, a model that is not there). */
export class DemoError extends UserError {}

const DEFAULT_CONFIG: DemoConfig = { model: "auto", tta: "auto", detector: "both" };

/** Reads `reports/demo.json` (the defaults where it is absent), naming a bad field. */
export async function readConfig(reports: string): Promise<DemoConfig> {
  const file = join(reports, CONFIG_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { ...DEFAULT_CONFIG };
    throw new DemoError(`${file}: ${(e as Error).message}`);
  }
  const config = { ...DEFAULT_CONFIG, ...raw } as DemoConfig;
  if (typeof config.model !== "string" || config.model === "") {
    throw new DemoError(`${file}: "model" must be a model folder under ${reports} or "auto"`);
  }
  if (!(TTA_CHOICES as readonly string[]).includes(config.tta)) {
    throw new DemoError(`${file}: "tta" must be one of ${TTA_CHOICES.join(", ")}, got ${JSON.stringify(config.tta)}`);
  }
  if (!(DETECTORS as readonly string[]).includes(config.detector)) {
    throw new DemoError(
      `${file}: "detector" must be one of ${DETECTORS.join(", ")}, got ${JSON.stringify(config.detector)}`,
    );
  }
  return config;
}

/** The model the page runs: a saved model folder, and what its result says about it. */
export interface DemoModel {
  dir: string;
  title?: string;
  testAccuracy?: number;
}

/** Options of {@link assembleDemo}. */
export interface AssembleOptions {
  /** The results folder, where `demo.json` is. */
  reports: string;
  /** Where `demo.html` is served from; `demo/` is (re)made inside it. */
  out: string;
  /** The model: the config's, resolved by the caller (`auto` is predict's default, which compare/ knows). */
  model: DemoModel;
  /** How to start Deno for `deno bundle` (default `deno`). */
  deno?: string;
}

async function copy(from: string, to: string): Promise<number> {
  try {
    await Deno.copyFile(from, to);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const hint = from.startsWith(NODE_MODULES) ? " (the npm packages are missing: run `deno install`)" : "";
      throw new DemoError(`${from} not found${hint}`);
    }
    throw e;
  }
  return (await Deno.stat(to)).size;
}

/** Copies a TF.js weights manifest (`*.json`) and the shards it lists; returns the bytes copied. */
async function copyWithShards(json: string, dir: string, shards: (parsed: unknown) => string[]): Promise<number> {
  let bytes = await copy(json, join(dir, basename(json)));
  const from = join(json, "..");
  for (const p of shards(JSON.parse(await Deno.readTextFile(json)))) bytes += await copy(join(from, p), join(dir, p));
  return bytes;
}

type WeightGroups = { paths: string[] }[];

/** The TF.js version face-api's browser build carries, which the wasm binaries must match. */
async function bundledTfjs(): Promise<Record<string, string>> {
  const url = new URL(`file://${join(FACE_API, "dist/tfjs.version.js")}`);
  try {
    return (await import(url.href)).version;
  } catch (e) {
    throw new DemoError(`${url.pathname}: ${(e as Error).message} (run \`deno install\`)`);
  }
}

/** Runs `deno bundle` on the page's module (its npm imports resolve to their browser builds). */
async function bundle(deno: string, output: string): Promise<void> {
  const out = await new Deno.Command(deno, {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--config",
      join(ROOT, "deno.json"),
      "-o",
      output,
      PAGE_SOURCE,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new DemoError(`deno bundle ${relative(ROOT, PAGE_SOURCE)} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

/** What {@link assembleDemo} made. */
export interface Assembled {
  manifest: DemoManifest;
  /** The assets folder. */
  dir: string;
  /** Bytes copied or written, by part. */
  bytes: Record<"code" | "wasm" | "detectors" | "model", number>;
}

/**
 * Makes `out/demo/` afresh (see the module docs) and, when `out` is not
 * the folder of the committed page, copies `demo.html` there too.
 *
 * @throws DemoError when a package, the config or the model is missing or bad.
 */
export async function assembleDemo(opts: AssembleOptions): Promise<Assembled> {
  const config = await readConfig(opts.reports);
  const modelDir = opts.model.dir;
  const modelJson = join(modelDir, "model.json");
  try {
    await Deno.stat(modelJson);
  } catch {
    throw new DemoError(`${modelJson} not found: the demo's model must be a saved model folder`);
  }
  const versions = await bundledTfjs();
  const wasmPackage = JSON.parse(await Deno.readTextFile(join(WASM_DIR, "../package.json"))).version;
  if (versions["tfjs-backend-wasm"] !== wasmPackage) {
    throw new DemoError(
      `face-api's browser build carries TF.js ${versions["tfjs-backend-wasm"]}, but node_modules holds ` +
        `@tensorflow/tfjs-backend-wasm ${wasmPackage}: their wasm binaries must match (pin the same version)`,
    );
  }

  const dir = join(opts.out, ASSETS);
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const name = basename(resolve(modelDir));
  for (const sub of ["wasm", "face-api", `models/${name}`]) await Deno.mkdir(join(dir, sub), { recursive: true });

  await bundle(opts.deno ?? "deno", join(dir, "demo.js"));
  let code = (await Deno.stat(join(dir, "demo.js"))).size;
  // face-api's MIT licence travels with its bundle (TF.js's npm packages ship no licence file: Apache-2.0).
  code += await copy(join(FACE_API, "LICENSE"), join(dir, "face-api.LICENSE"));
  let wasm = 0;
  for (const f of WASM_FILES) wasm += await copy(join(WASM_DIR, f), join(dir, "wasm", f));
  let detectors = 0;
  for (const stem of DETECTOR_WEIGHTS) {
    detectors += await copyWithShards(
      join(FACE_API, "model", `${stem}-weights_manifest.json`),
      join(dir, "face-api"),
      (m) => (m as WeightGroups).flatMap((g) => g.paths),
    );
  }
  const model = await copyWithShards(
    modelJson,
    join(dir, "models", name),
    (m) => ((m as { weightsManifest: WeightGroups }).weightsManifest ?? []).flatMap((g) => g.paths),
  );

  const manifest: DemoManifest = {
    ...config,
    model: relative(opts.reports, resolve(modelDir)),
    modelUrl: `${ASSETS}/models/${name}/model.json`,
    name,
    ...(opts.model.title === undefined ? {} : { title: opts.model.title }),
    ...(opts.model.testAccuracy === undefined ? {} : { testAccuracy: opts.model.testAccuracy }),
    minScore: DEFAULT_MIN_SCORE,
    detectorWeights: `${ASSETS}/face-api/`,
    wasm: Object.fromEntries(WASM_FILES.map((f) => [f, `${ASSETS}/wasm/${f}`])),
    tfjs: versions.tfjs,
  };
  const text = JSON.stringify(manifest, null, 2) + "\n";
  await Deno.writeTextFile(join(dir, "manifest.json"), text);
  code += text.length;
  if (resolve(opts.out) !== resolve(PAGE_HTML, "..")) await copy(PAGE_HTML, join(opts.out, "demo.html"));
  return { manifest, dir, bytes: { code, wasm, detectors, model } };
}
