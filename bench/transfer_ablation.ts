/**
 * Experiment 04's ablation as a standalone short run (the experiment runs the
 * same variants at the end of a complete run): head only vs fine-tuned, batch
 * norm frozen vs batch statistics, input size. Writes `<out>/04_ablation_short.md`.
 *
 *     deno run -A bench/transfer_ablation.ts --data ../shared/data/fer2013-dev.csv.gz --rows 600
 *
 * @module
 */
import { writeFileAtomic } from "../lib/atomic_write.ts";
import { ablationVariants, runAblation } from "../lib/transfer/phases.ts";
import { ablationTable } from "../lib/transfer/report.ts";
import { parseShortRunFlags, prepareShortRuns } from "./transfer_short_runs.ts";

const args = parseShortRunFlags(
  "deno run -A bench/transfer_ablation.ts",
  "Runs experiment 04's ablation variants on a few rows; the 224×224 variant is left out (too slow for a short run).",
);
const t0 = performance.now();
const { prepared, options } = await prepareShortRuns(args);
const variants = ablationVariants({
  backbone: "nsfwjs-mobilenet-v2-mid",
  size: args.size,
  fineTuneBlocks: 5,
  dropout: 0.3,
  quick: false,
}).filter((v) => v.model.size !== 224);
const res = await runAblation(variants, options);
const text =
  `${options.trainRows.length} train / ${options.valRows.length} val rows of ${prepared.dataFacts.source}, ` +
  `${new Date().toISOString()}, ${((performance.now() - t0) / 1000).toFixed(0)} s\n\n${ablationTable(res, true)}\n`;
await writeFileAtomic(
  `${args.out}/04_ablation_short.md`,
  "# Experiment 04 — ablation, short runs\n\nBackend wasm, study split, seed 42, head 20 epochs on cached features, " +
    "fine-tuning 1 epoch at Adam 1e-4. Speeds are comparable only between rows run on an otherwise idle machine. " +
    "With this few validation rows the standard error of an accuracy is about 3 points.\n\n" + text,
);
console.log(text);
Deno.exit(0);
