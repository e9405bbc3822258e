/**
 * The one way ferlab scripts read their command line: every flag is declared
 * once with its type, help text and (optionally) its allowed values; values
 * start from typed defaults, then an optional `--quick` profile, then the
 * flags given. Experiments, `tools/` and `bench/` all use {@link parseFlags}.
 *
 * Experiments declare each setting once, in a table of {@link Setting}s
 * (default, help, choices or range, and the suffix an ablation of it gives
 * the run's name); the config type is inferred from the table, and
 * {@link resolveConfig} adds the settings every experiment shares
 * ({@link COMMON_SETTINGS}). The resolved config is what the report prints.
 *
 * @example
 * ```ts
 * const SETTINGS = {
 *   lr: num(1e-3, "Adam learning rate", { range: "(0, inf)" }),
 *   augment: oneOf(choicesOf(AUGMENT_PRESETS), "flip", "augmentation preset"),
 *   labelSmoothing: num(0.1, "label smoothing (0 = off)", { ablation: (v) => `ls${v}` }),
 * };
 * const config = resolveConfig(Deno.args, "exp:01", SETTINGS);
 * // config.augment is "none" | "flip" | …; `--label-smoothing 0` gives config.labelSmoothing === 0
 * ```
 *
 * (`node:util`'s parseArgs stands in for `@std/cli`, which lives on JSR.)
 *
 * @example
 * ```ts
 * const args = parseFlags(Deno.args, "deno task eval", {
 *   model: { type: "string", help: "saved model folder", required: true },
 *   batchSize: { type: "number", help: "images per forward pass", positiveInt: true },
 * }, { model: "", batchSize: 256 });
 * if (!args) Deno.exit(0); // --help was printed
 * // `--batch-size 64` gives args.batchSize === 64
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { parseArgs } from "node:util";
import { BACKENDS, KERNEL_SETS } from "../backend/select.ts";
import { PROTOCOLS } from "../data/split.ts";

/** A bad command line; the CLI prints the message and usage, no stack. */
export class UsageError extends UserError {}

/** One flag: `--kebab-name` for the camelCase key it is declared under. */
export interface Flag {
  type: "string" | "number" | "boolean";
  help: string;
  /** The values a string flag may take. */
  choices?: readonly string[];
  /** A number flag that must be an integer ≥ 1. */
  positiveInt?: boolean;
  /**
   * The interval a number flag must lie in, written as in mathematics:
   * `"(0, 1)"`, `"[0, 1)"`, `"[0, inf)"` (brackets include the bound, parentheses exclude it).
   */
  range?: string;
  /** A number flag that must be a whole number. */
  integer?: boolean;
  /** The flag must be given (its default is a placeholder). */
  required?: boolean;
  /** A string flag that may repeat; its value is a string[] (default usually []). */
  multiple?: boolean;
}

/** Flags by config key. */
export type Flags = Record<string, Flag>;

/**
 * One setting: its flag, its default and, for a setting an ablation switches,
 * the suffix its value gives the run's name (e.g. `(v) => \`ls${v}\`` makes
 * `--label-smoothing 0` write `03_deep_ls0`), so that an ablation's report,
 * model and checkpoint never overwrite the main run's.
 */
export interface Setting<T = unknown> extends Flag {
  default: T;
  // Method syntax on purpose: a Setting<number> must pass where any Setting is taken.
  ablation?(value: T): string;
}

/** Settings by config key, in the order `--help` lists them (and an ablation's suffixes follow). */
export type Settings = Record<string, Setting>;

/** The config a settings table resolves to: each key's value type, inferred from its default and choices. */
export type ConfigOf<S> = { -readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** What every helper below may add: the ablation suffix, a required or repeatable flag. */
type SettingExtras<T> = Pick<Flag, "required" | "multiple"> & { ablation?(value: T): string };

/** A number setting, optionally with its rules (`range: "[0, 1)"`, `integer`, `positiveInt`). */
export function num(
  value: number,
  help: string,
  more: Pick<Flag, "positiveInt" | "range" | "integer"> & SettingExtras<number> = {},
): Setting<number> {
  return { type: "number", help, default: value, ...more };
}

/** A free string setting (a path, an id). */
export function text(value: string, help: string, more: SettingExtras<string> = {}): Setting<string> {
  return { type: "string", help, default: value, ...more };
}

/** A boolean switch (`--resume`); its default is off. */
export function bool(value: boolean, help: string): Setting<boolean> {
  return { type: "boolean", help, default: value };
}

/**
 * A string setting that must be one of `choices`. Pass the choices' source
 * of truth (`choicesOf(AUGMENT_PRESETS)`, `BACKENDS`), so a new choice there
 * is a new choice here: the setting's type is their union.
 */
export function oneOf<const T extends string>(
  choices: readonly T[],
  value: NoInfer<T>,
  help: string,
  more: SettingExtras<T> = {},
): Setting<T> {
  return { type: "string", help, default: value, choices, ...more };
}

/** The keys of a record as typed choices: `choicesOf(DEEP_ARCHITECTURES)` is `("study" | "lean")[]`. */
export function choicesOf<K extends string>(record: Readonly<Record<K, unknown>>): K[] {
  return Object.keys(record) as K[];
}

/** Every setting's default: the config before `--quick` and the flags. */
export function defaultsOf<S extends Settings>(settings: S): ConfigOf<S> {
  return Object.fromEntries(Object.entries(settings).map(([k, s]) => [k, s.default])) as ConfigOf<S>;
}

/** Settings shared by every experiment script; the resolved config keeps this order, then the script's own. */
export const COMMON_SETTINGS = {
  data: text(
    "",
    "FER2013 CSV(.gz) or image folder (default: data/fer2013.csv[.gz], data/fer2013/, else synthetic)",
  ),
  protocol: oneOf(PROTOCOLS, "study", "split protocol"),
  epochs: num(30, "training epochs", { positiveInt: true }),
  batchSize: num(64, "batch size", { positiveInt: true }),
  seed: num(42, "seed for split, init, shuffling and augmentation"),
  splitSeed: num(-1, "seed of the train/val/test split alone, e.g. one split for an ensemble's members (-1 = --seed)", {
    integer: true,
    range: "[-1, inf)",
  }),
  backend: oneOf(BACKENDS, "auto", "TF.js backend"),
  threads: num(0, "wasm threads (0 = one per core)"),
  kernels: oneOf(
    KERNEL_SETS,
    "auto",
    "wasm kernel set: native = oneDNN (libdnnl2), wasm = ferlab's wasm SIMD, auto = native where it loads",
  ),
  syntheticRows: num(7000, "rows of the synthetic set used when no FER2013 is found"),
  skipBad: bool(false, "skip malformed rows/images (listed) instead of stopping"),
  resume: bool(false, "resume from the last checkpoint (<out>/checkpoints/<name>/)"),
  maxMinutes: num(
    0,
    "stop after the epoch crossing this many minutes (0 = no limit); the report says it was cut short",
  ),
  limitTrain: num(0, "use at most N training rows (0 = all)"),
  bnRecalRows: num(2048, "re-estimate batch-norm statistics on N training images before validation (0 = off)"),
  out: text("reports", "output folder for reports, charts and models"),
  quick: bool(false, "small, fast smoke profile"),
};

/** Settings shared by every experiment script (`data` empty: look in data/, else synthetic). */
export type CommonConfig = ConfigOf<typeof COMMON_SETTINGS>;

/** Default values of the common settings. */
export const COMMON_DEFAULTS: CommonConfig = defaultsOf(COMMON_SETTINGS);

/**
 * A common setting with an experiment's own default (and optionally an
 * ablation suffix): `common("protocol", "official")`. Its help and rules
 * stay the common ones.
 */
export function common<K extends keyof CommonConfig>(
  key: K,
  value: CommonConfig[K],
  more: { ablation?(value: CommonConfig[K]): string } = {},
): Setting<CommonConfig[K]> {
  return { ...(COMMON_SETTINGS[key] as Setting), default: value, ...more } as Setting<CommonConfig[K]>;
}

/** Kebab-case flag name for a config key: batchSize → batch-size. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/**
 * Builds the usage text for a script: `tail` follows `[flags]` on the first
 * line (e.g. ` <images>...`), `about` follows the flag list.
 */
export function usage(command: string, flags: Flags, defaults: object, tail = "", about?: string): string {
  const defs = defaults as Record<string, unknown>;
  const lines = Object.entries(flags).map(([k, f]) => {
    const value = f.choices ? `<${f.choices.filter(Boolean).join("|")}>` : `<${f.type}>`;
    const name = `--${flagName(k)}${f.type === "boolean" ? "" : ` ${value}`}`;
    const empty = defs[k] === undefined || defs[k] === "" || (Array.isArray(defs[k]) && defs[k].length === 0);
    const def = f.required
      ? " (required)"
      : empty || f.type === "boolean"
      ? ""
      : ` (default ${JSON.stringify(defs[k])})`;
    const names = "ablation" in f ? "; another value names its own run" : "";
    return `  ${name.padEnd(28)} ${f.help}${f.range ? `, in ${f.range}` : ""}${
      f.multiple ? " (repeatable)" : ""
    }${def}${names}`;
  });
  const text = `${lines.join("\n")}\n  --help                       this text${about ? `\n\n${about}` : ""}`;
  return `Usage: ${command} [flags]${tail}\n\n${text}`;
}

/** Options of {@link parseFlags}. */
export interface ParseOptions<C> {
  /** Overrides applied when `--quick` is given (declare a `quick` boolean flag). */
  quick?: Partial<C>;
  /**
   * Key that receives the positional argument (none allowed otherwise); when
   * its default is an array, it receives every positional argument.
   */
  positional?: keyof C & string;
  /** At least one positional argument must be given. */
  positionalRequired?: boolean;
  /** Key that receives, unparsed, every argument after the first `--` (a string[]). */
  passThrough?: keyof C & string;
  /** Text printed under the flag list of the usage. */
  about?: string;
}

/** The positional and pass-through parts of the usage line: ` <images>...`, ` [-- <rest>...]`. */
function usageTail<C>(defaults: C, opts: ParseOptions<C>): string {
  let tail = "";
  if (opts.positional) {
    const many = Array.isArray(defaults[opts.positional]) ? "..." : "";
    tail += opts.positionalRequired ? ` <${opts.positional}>${many}` : ` [<${opts.positional}>${many}]`;
  }
  if (opts.passThrough) tail += ` [-- <${opts.passThrough}>...]`;
  return tail;
}

/**
 * Parses `argv` against `flags` into a copy of `defaults`; `command` is how
 * the usage text says to run the script. Unknown flags,
 * malformed numbers, values outside `choices` and missing required flags are
 * a {@link UsageError} whose message ends with the usage text. Returns null
 * when `--help` was asked (the usage is printed).
 *
 * @example
 * ```ts
 * // deno task predict a.png b.png --model m1 --model m2
 * const args = parseFlags(Deno.args, "deno task predict", {
 *   model: { type: "string", help: "saved model folder", multiple: true },
 * }, { model: [] as string[], images: [] as string[] }, { positional: "images", positionalRequired: true });
 * // args.model is ["m1", "m2"], args.images is ["a.png", "b.png"]
 * ```
 */
export function parseFlags<C extends object>(
  argv: string[],
  command: string,
  flags: Flags,
  defaults: C,
  opts: ParseOptions<C> = {},
): C | null {
  const help = () => usage(command, flags, defaults, usageTail(defaults, opts), opts.about);
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = { help: { type: "boolean" } };
  for (const [k, f] of Object.entries(flags)) {
    options[flagName(k)] = { type: f.type === "boolean" ? "boolean" : "string", multiple: f.multiple === true };
  }
  const dashes = opts.passThrough ? argv.indexOf("--") : -1;
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  let parsed;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: opts.positional !== undefined, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help()}`);
  }
  if (parsed.values.help) {
    console.log(help());
    return null;
  }
  const config: Record<string, unknown> = { ...defaults as Record<string, unknown> };
  if (parsed.values.quick && opts.quick) Object.assign(config, opts.quick, { quick: true });
  if (opts.passThrough) config[opts.passThrough] = dashes < 0 ? [] : argv.slice(dashes + 1);
  if (opts.positional && parsed.positionals.length > 0) {
    if (Array.isArray(config[opts.positional])) config[opts.positional] = parsed.positionals;
    else if (parsed.positionals.length > 1) {
      throw new UsageError(`one ${opts.positional} expected, got ${parsed.positionals.join(" ")}\n\n${help()}`);
    } else config[opts.positional] = parsed.positionals[0];
  } else if (opts.positional && opts.positionalRequired) {
    throw new UsageError(`no ${opts.positional} given\n\n${help()}`);
  }
  for (const [k, f] of Object.entries(flags)) {
    const raw = parsed.values[flagName(k)];
    if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) {
      if (f.required) throw new UsageError(`--${flagName(k)} is required\n\n${help()}`);
      continue;
    }
    if (f.type === "number") {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) throw new UsageError(`--${flagName(k)} expects a number, got "${raw}"`);
      config[k] = n;
    } else config[k] = raw;
  }
  for (const [k, f] of Object.entries(flags)) {
    const v = config[k];
    if (f.choices && !f.choices.includes(v as string)) {
      throw new UsageError(`--${flagName(k)} must be one of ${f.choices.filter(Boolean).join(", ")}, got "${v}"`);
    }
    if (f.positiveInt && !(Number.isInteger(v) && (v as number) >= 1)) {
      throw new UsageError(`--${flagName(k)} must be a positive integer, got ${v}`);
    }
    if (f.integer && !Number.isInteger(v)) throw new UsageError(`--${flagName(k)} must be a whole number, got ${v}`);
    if (f.range && !inRange(v as number, f.range)) {
      throw new UsageError(`--${flagName(k)} must be in ${f.range}, got ${v}`);
    }
  }
  return config as C;
}

/** Whether `v` lies in `interval`, written `"[lo, hi)"` and so on (see {@link Flag.range}); a malformed one is a bug. */
export function inRange(v: number, interval: string): boolean {
  const m = /^([[(])\s*(-inf|[-+0-9.e]+)\s*,\s*(inf|[-+0-9.e]+)\s*([\])])$/.exec(interval);
  const bound = (b: string | undefined) => (b === "-inf" ? -Infinity : b === "inf" ? Infinity : Number(b));
  const [lo, hi] = [bound(m?.[2]), bound(m?.[3])];
  if (!m || Number.isNaN(lo) || Number.isNaN(hi)) throw new Error(`malformed flag range "${interval}"`);
  return (m[1] === "[" ? v >= lo : v > lo) && (m[4] === "]" ? v <= hi : v < hi);
}

/**
 * Resolves an experiment's config from argv: the common settings with the
 * script's own (`common(...)` entries re-default common ones), their
 * defaults, then `quick` for `--quick`, then the flags given. Returns null
 * when `--help` was asked.
 */
export function resolveConfig<S extends Settings>(
  argv: string[],
  script: string,
  settings: S,
  quick: Partial<CommonConfig & ConfigOf<S>> = {},
): (CommonConfig & ConfigOf<S>) | null {
  const all = { ...COMMON_SETTINGS, ...settings };
  // --help says what --quick changes, so a smoke run's profile is not a surprise.
  const profile = Object.entries(quick).map(([k, v]) => `--${flagName(k)} ${v}`).join(" ");
  const about = profile ? `--quick is: ${profile}` : undefined;
  return parseFlags(argv, `deno task ${script}`, all, defaultsOf(all) as CommonConfig & ConfigOf<S>, { quick, about });
}
