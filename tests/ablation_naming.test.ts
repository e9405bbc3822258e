/**
 * How an ablation names its run: the suffixes of the settings that differ
 * from their defaults, so its report never overwrites the main run's.
 */
import assert from "node:assert/strict";
import { common, COMMON_DEFAULTS, num, oneOf } from "../lib/cli/args.ts";
import { ablationSuffix, type ExperimentConfig, type ExperimentSpec, runName } from "../lib/harness/experiment.ts";

const settings = {
  budgetMinutes: num(120, "budget", { ablation: (v) => `${v}min` }),
  labelSmoothing: num(0.1, "smoothing", { ablation: (v) => `ls${v}` }),
  nesterov: oneOf(["yes", "no"], "yes", "Nesterov", { ablation: () => "nonesterov" }),
};
type Config = ExperimentConfig<typeof settings>;
const spec: ExperimentSpec<typeof settings> = {
  name: "09_demo",
  title: "demo",
  story: "",
  studyAccuracy: 0.5,
  settings,
  quick: { budgetMinutes: 2 },
};
const defaults: Config = { ...COMMON_DEFAULTS, budgetMinutes: 120, labelSmoothing: 0.1, nesterov: "yes" };
const config = (over: Partial<Config>): Config => ({ ...defaults, ...over });

Deno.test("the main run has no suffix; each switched setting adds its own, in the spec's order", () => {
  assert.equal(ablationSuffix(spec, config({})), "");
  assert.equal(ablationSuffix(spec, config({ labelSmoothing: 0 })), "ls0");
  assert.equal(ablationSuffix(spec, config({ nesterov: "no", budgetMinutes: 15 })), "15min_nonesterov");
  // a setting that is not an ablation (the seed) never names an ablation
  assert.equal(ablationSuffix(spec, config({ seed: 7 })), "");
});

Deno.test("--quick's own values are its defaults, not an ablation", () => {
  assert.equal(ablationSuffix(spec, config({ quick: true, budgetMinutes: 2 })), "");
  assert.equal(ablationSuffix(spec, config({ quick: true, budgetMinutes: 2, labelSmoothing: 0 })), "ls0");
  // a quick run with the full run's budget is a departure from the quick profile
  assert.equal(ablationSuffix(spec, config({ quick: true })), "120min");
});

Deno.test("another seed names a replica, last: the main run's files are never overwritten by a redraw", () => {
  assert.equal(runName(spec, config({})), "09_demo");
  assert.equal(runName(spec, config({ seed: 43 })), "09_demo_seed43");
  assert.equal(runName(spec, config({ seed: 43, splitSeed: 42 })), "09_demo_seed43", "the split's seed is not in it");
  assert.equal(runName(spec, config({ seed: 7, labelSmoothing: 0 })), "09_demo_ls0_seed7");
  assert.equal(runName(spec, config({ quick: true, budgetMinutes: 2, seed: 43 })), "09_demo_seed43");
  // An experiment that declares its own default seed names the others after it.
  const own = { ...spec, settings: { ...settings, seed: common("seed", 7) } };
  assert.equal(runName(own, config({ seed: 7 })), "09_demo");
  assert.equal(runName(own, config({ seed: 42 })), "09_demo_seed42");
});
