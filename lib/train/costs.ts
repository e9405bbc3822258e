/**
 * What candidate architectures cost on this machine, measured, so that an
 * experiment can say with numbers why it trains the one it trains.
 *
 * @example
 * ```ts
 * const costs = await measureArchitectures({ study: () => buildDeep(a), lean: () => buildDeep(b) },
 *   { batchSize: 64, steps: 3, epochImages: 25841 });
 * costSentence(costs, "lean"); // "Architecture: **lean**. Measured on this machine …"
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { countFlops } from "../models/flops.ts";
import { measureStepTime, type StepTime } from "./step_time.ts";
import { loadAverage } from "../machine.ts";

/** One architecture's measured cost. */
export interface ArchitectureCost extends StepTime {
  arch: string;
  /** Forward GFLOP per image (conv and dense multiply-adds × 2). */
  gflop: number;
  params: number;
  /** Training minutes of one epoch of `epochImages` images at the measured speed (validation not included). */
  epochMinutes: number;
  epochImages: number;
  /** 1-minute load average when measured (other processes on a shared machine slow every number here); absent when unreadable. */
  loadAverage?: number;
}

/** Builds each candidate with its builder, times `steps` training steps, and frees it. */
export async function measureArchitectures(
  builders: Record<string, () => tf.LayersModel>,
  opts: { batchSize: number; steps: number; epochImages: number; log?: (line: string) => void },
): Promise<ArchitectureCost[]> {
  const costs: ArchitectureCost[] = [];
  for (const [arch, build] of Object.entries(builders)) {
    const model = build();
    try {
      const t = await measureStepTime(model, { batchSize: opts.batchSize, steps: opts.steps });
      const cost = {
        arch,
        gflop: countFlops(model) / 1e9,
        params: model.countParams(),
        ...t,
        epochMinutes: opts.epochImages / t.imagesPerSec / 60,
        epochImages: opts.epochImages,
        loadAverage: loadAverage(),
      };
      opts.log?.(
        `${arch}: ${cost.gflop.toFixed(2)} GFLOP/image, ${t.imagesPerSec.toFixed(1)} img/s → ` +
          `${cost.epochMinutes.toFixed(1)} min per epoch of ${opts.epochImages} images`,
      );
      costs.push(cost);
    } finally {
      model.dispose();
    }
  }
  return costs;
}

/**
 * The report header's paragraph: each candidate's measured cost, which one
 * ran, and — when it is not `reference` — what the reference would have cost
 * for the planned `epochs`.
 */
export function costSentence(
  costs: ArchitectureCost[],
  chosen: string,
  opts: { reference?: string; epochs?: number } = {},
): string {
  if (costs.length === 0) return `Architecture: **${chosen}** (step times not measured in this run).`;
  const parts = costs.map((c) =>
    `**${c.arch}** ${c.gflop.toFixed(2)} GFLOP/image, ${(c.params / 1e6).toFixed(2)} M parameters, ` +
    `${c.msPerStep.toFixed(0)} ms per step → ${c.imagesPerSec.toFixed(1)} training images/s → ` +
    `${c.epochMinutes.toFixed(1)} min per epoch of ${c.epochImages.toLocaleString("en-US")} images`
  );
  const loads = costs.flatMap((c) => c.loadAverage === undefined ? [] : [c.loadAverage]);
  const load = loads.length ? `1-minute load average up to ${Math.max(...loads).toFixed(1)}` : "load unknown";
  return `Architecture: **${chosen}**. Measured on this machine before training (${costs[0].steps} steps of ` +
    `${costs[0].batchSize} after a warm-up step; ${load} on ` +
    `${navigator.hardwareConcurrency} cores, so a busy machine slows all of them alike): ${parts.join("; ")}.` +
    deviation(costs, chosen, opts);
}

function deviation(costs: ArchitectureCost[], chosen: string, opts: { reference?: string; epochs?: number }): string {
  const ref = costs.find((c) => c.arch === opts.reference);
  const ran = costs.find((c) => c.arch === chosen);
  if (!ref || !ran || ref === ran || !opts.epochs) return "";
  const hours = (c: ArchitectureCost) => (c.epochMinutes * opts.epochs!) / 60;
  return ` The ${ref.arch} architecture trains ${(ran.imagesPerSec / ref.imagesPerSec).toFixed(1)}× slower than ` +
    `${ran.arch} here: ${opts.epochs} epochs would take about ${hours(ref).toFixed(0)} h of training against ` +
    `${
      hours(ran).toFixed(0)
    } h, which is why this run deviates from the study (\`--arch ${ref.arch}\` runs it as described).`;
}
