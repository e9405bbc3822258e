/**
 * What the two short transfer benches share: their flags (`--data`, `--rows`,
 * `--size`, `--out`), the prepared data and the short-run settings (head 20
 * epochs on cached features, 1 fine-tuning epoch at Adam 1e-4, a third as
 * many validation rows as training rows, seed 42).
 *
 * @module
 */
import { COMMON_DEFAULTS, type Flags, parseFlags } from "../lib/cli/args.ts";
import { parsedOrExit } from "../lib/cli/shell.ts";
import { log, prepare, type Prepared } from "../lib/harness/prepare.ts";
import type { AblationOptions } from "../lib/transfer/phases.ts";

/** The flags of a short transfer bench. */
export interface ShortRunArgs {
  /** FER2013 CSV(.gz) or image folder; empty = data/ if present, else the synthetic faces. */
  data: string;
  rows: number;
  size: number;
  out: string;
}

/** Parses a short transfer bench's flags (`--help` and a bad flag exit). */
export function parseShortRunFlags(command: string, about: string): ShortRunArgs {
  const flags: Flags = {
    data: { type: "string", help: "FER2013 CSV(.gz) or image folder (default: data/, else synthetic faces)" },
    rows: { type: "number", help: "training rows of each run (validation: a third as many)", positiveInt: true },
    size: { type: "number", help: "input size of the backbone", positiveInt: true },
    out: { type: "string", help: "output folder" },
  };
  const defaults: ShortRunArgs = { data: "", rows: 600, size: 96, out: "reports" };
  return parsedOrExit(() => parseFlags(Deno.args, command, flags, defaults, { about }));
}

/** The data (wasm backend, study split) and the options every short run of `args` uses. */
export async function prepareShortRuns(args: ShortRunArgs): Promise<{ prepared: Prepared; options: AblationOptions }> {
  const prepared = await prepare({ ...COMMON_DEFAULTS, data: args.data, backend: "wasm" });
  return {
    prepared,
    options: {
      data: prepared.data,
      trainRows: prepared.trainRows.slice(0, args.rows),
      valRows: prepared.split.val.slice(0, Math.ceil(args.rows / 3)),
      headEpochs: 20,
      headBatchSize: 64,
      batchSize: 32,
      microBatch: 32,
      headLr: 1e-3,
      lr: 1e-4,
      seed: COMMON_DEFAULTS.seed,
      log,
    },
  };
}
