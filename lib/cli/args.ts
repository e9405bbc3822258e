/**
 * The one way ferlab scripts read their command line: every flag is declared
 * once with its type, help text and (optionally) its allowed values; values
 * start from typed defaults, then an optional `--quick` profile, then the
 * flags given. Experiments, `tools/` and `bench/` all use {@link parseFlags};
 * experiments go through {@link resolveConfig}, which adds the flags every
 * experiment shares. The resolved config is what the report prints.
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
import { type BackendChoice, BACKENDS, KERNEL_SETS, type KernelChoice } from "../backend/select.ts";
import { type Protocol, PROTOCOLS } from "../data/split.ts";

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

/** Settings shared by every experiment script. */
export interface CommonConfig {
  /** FER2013 CSV/CSV.GZ or image folder; empty = look in data/, else synthetic. */
  data: string;
  protocol: Protocol;
  epochs: number;
  batchSize: number;
  seed: number;
  backend: BackendChoice;
  /** wasm threads: a number, or 0 for one per core. */
  threads: number;
  /** wasm's kernel set: oneDNN's native kernels where they load (auto), always (native), or ferlab's wasm ones. */
  kernels: KernelChoice;
  /** Rows of the synthetic set when no FER2013 is found. */
  syntheticRows: number;
  /** Skip malformed CSV rows / images instead of stopping (each is reported). */
  skipBad: boolean;
  /** Continue from the last checkpoint in `<out>/checkpoints/<name>/`. */
  resume: boolean;
  /** Stop after the epoch that crosses this many minutes (0 = no limit); the report says it was cut short. */
  maxMinutes: number;
  /** Use at most this many training rows (0 = all): for smoke runs. */
  limitTrain: number;
  /** Re-estimate batch-norm statistics on this many training images before each validation (0 = off). */
  bnRecalRows: number;
  /** Output folder for reports, charts and models. */
  out: string;
  quick: boolean;
}

/** The flags of {@link CommonConfig}. */
export const COMMON_FLAGS: Record<keyof CommonConfig, Flag> = {
  data: {
    type: "string",
    help: "FER2013 CSV(.gz) or image folder (default: data/fer2013.csv[.gz], data/fer2013/, else synthetic)",
  },
  protocol: { type: "string", help: "split protocol", choices: PROTOCOLS },
  epochs: { type: "number", help: "training epochs", positiveInt: true },
  batchSize: { type: "number", help: "batch size", positiveInt: true },
  seed: { type: "number", help: "seed for split, init, shuffling and augmentation" },
  backend: { type: "string", help: "TF.js backend", choices: BACKENDS },
  threads: { type: "number", help: "wasm threads (0 = one per core)" },
  kernels: {
    type: "string",
    help: "wasm kernel set: native = oneDNN (libdnnl2), wasm = ferlab's wasm SIMD, auto = native where it loads",
    choices: KERNEL_SETS,
  },
  syntheticRows: { type: "number", help: "rows of the synthetic set used when no FER2013 is found" },
  skipBad: { type: "boolean", help: "skip malformed rows/images (listed) instead of stopping" },
  resume: { type: "boolean", help: "resume from the last checkpoint" },
  maxMinutes: { type: "number", help: "stop after the epoch crossing this many minutes (0 = no limit)" },
  limitTrain: { type: "number", help: "use at most N training rows (0 = all)" },
  bnRecalRows: {
    type: "number",
    help: "re-estimate batch-norm statistics on N training images before validation (0 = off)",
  },
  out: { type: "string", help: "output folder" },
  quick: { type: "boolean", help: "small, fast smoke profile" },
};

/** Default values of the common settings. */
export const COMMON_DEFAULTS: CommonConfig = {
  data: "",
  protocol: "study",
  epochs: 30,
  batchSize: 64,
  seed: 42,
  backend: "auto",
  threads: 0,
  kernels: "auto",
  syntheticRows: 7000,
  skipBad: false,
  resume: false,
  maxMinutes: 0,
  limitTrain: 0,
  bnRecalRows: 2048,
  out: "reports",
  quick: false,
};

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
    return `  ${name.padEnd(28)} ${f.help}${f.range ? `, in ${f.range}` : ""}${
      f.multiple ? " (repeatable)" : ""
    }${def}`;
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
 * Resolves an experiment's config from argv: the common flags plus `extra`,
 * `defaults` (every key), then `quick` for `--quick`, then the flags given.
 * Returns null when `--help` was asked.
 */
export function resolveConfig<C extends CommonConfig>(
  argv: string[],
  script: string,
  defaults: C,
  quick: Partial<C>,
  extra: Flags = {},
): C | null {
  return parseFlags(argv, `deno task ${script}`, { ...COMMON_FLAGS, ...extra }, defaults, { quick });
}
