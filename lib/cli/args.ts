/**
 * The command-line flags every experiment shares, and the rule that resolves
 * a run's config: experiment defaults, then the `--quick` profile, then any
 * explicit flags. The resolved config is what the report prints.
 *
 * (`node:util`'s parseArgs stands in for `@std/cli`, which lives on JSR.)
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { parseArgs } from "node:util";
import { type BackendChoice, BACKENDS } from "../backend/select.ts";
import { type Protocol, PROTOCOLS } from "../data/split.ts";

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
  /** Output folder for reports, charts and models. */
  out: string;
  quick: boolean;
}

/** A flag an experiment adds beyond the common ones. */
export interface ExtraFlag {
  type: "string" | "number" | "boolean";
  help: string;
}

const COMMON_FLAGS: Record<keyof CommonConfig, ExtraFlag> = {
  data: {
    type: "string",
    help: "FER2013 CSV(.gz) or image folder (default: data/fer2013.csv[.gz], data/fer2013/, else synthetic)",
  },
  protocol: { type: "string", help: `split protocol: ${PROTOCOLS.join("|")}` },
  epochs: { type: "number", help: "training epochs" },
  batchSize: { type: "number", help: "batch size" },
  seed: { type: "number", help: "seed for split, init, shuffling and augmentation" },
  backend: { type: "string", help: `TF.js backend: ${BACKENDS.join("|")}` },
  threads: { type: "number", help: "wasm threads (0 = one per core)" },
  syntheticRows: { type: "number", help: "rows of the synthetic set used when no FER2013 is found" },
  skipBad: { type: "boolean", help: "skip malformed rows/images (listed) instead of stopping" },
  resume: { type: "boolean", help: "resume from the last checkpoint" },
  maxMinutes: { type: "number", help: "stop after the epoch crossing this many minutes (0 = no limit)" },
  limitTrain: { type: "number", help: "use at most N training rows (0 = all)" },
  out: { type: "string", help: "output folder" },
  quick: { type: "boolean", help: "small, fast smoke profile" },
};

/** Kebab-case flag name for a config key: batchSize → batch-size. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** A bad command line; the CLI prints the message and usage, no stack. */
export class UsageError extends UserError {}

/** Builds the usage text for a script. */
export function usage(script: string, flags: Record<string, ExtraFlag>, defaults: object): string {
  const defs = defaults as Record<string, unknown>;
  const lines = Object.entries(flags).map(([k, f]) => {
    const name = `--${flagName(k)}${f.type === "boolean" ? "" : ` <${f.type}>`}`;
    const def = defs[k] === undefined || f.type === "boolean" ? "" : ` (default ${JSON.stringify(defs[k])})`;
    return `  ${name.padEnd(28)} ${f.help}${def}`;
  });
  return `Usage: deno task ${script} [flags]\n\n${lines.join("\n")}\n  --help                       this text`;
}

/**
 * Resolves a config from argv. `defaults` holds every key; `quick` overrides
 * for `--quick`; `extra` declares experiment-specific flags. Unknown flags and
 * malformed values are a {@link UsageError}. Returns null when `--help` was asked.
 */
export function resolveConfig<C extends CommonConfig>(
  argv: string[],
  script: string,
  defaults: C,
  quick: Partial<C>,
  extra: Record<string, ExtraFlag> = {},
): C | null {
  const flags: Record<string, ExtraFlag> = { ...COMMON_FLAGS, ...extra };
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [k, f] of Object.entries(flags)) {
    options[flagName(k)] = { type: f.type === "boolean" ? "boolean" : "string" };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage(script, flags, defaults)}`);
  }
  if (parsed.values.help) {
    console.log(usage(script, flags, defaults));
    return null;
  }
  const config: Record<string, unknown> = { ...defaults as object };
  if (parsed.values.quick) Object.assign(config, quick, { quick: true });
  for (const [k, f] of Object.entries(flags)) {
    const raw = parsed.values[flagName(k)];
    if (raw === undefined) continue;
    if (f.type === "number") {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) throw new UsageError(`--${flagName(k)} expects a number, got "${raw}"`);
      config[k] = n;
    } else config[k] = raw;
  }
  const c = config as C;
  if (!PROTOCOLS.includes(c.protocol)) {
    throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(", ")}, got "${c.protocol}"`);
  }
  if (!(BACKENDS as readonly string[]).includes(c.backend)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got "${c.backend}"`);
  }
  for (const k of ["epochs", "batchSize"] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) {
      throw new UsageError(`--${flagName(k)} must be a positive integer, got ${c[k]}`);
    }
  }
  return c;
}

/** Default values of the common settings. */
export const COMMON_DEFAULTS: CommonConfig = {
  data: "",
  protocol: "study",
  epochs: 30,
  batchSize: 64,
  seed: 42,
  backend: "auto",
  threads: 0,
  syntheticRows: 7000,
  skipBad: false,
  resume: false,
  maxMinutes: 0,
  limitTrain: 0,
  out: "reports",
  quick: false,
};
