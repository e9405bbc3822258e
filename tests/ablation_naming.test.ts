/**
 * How an ablation names its run: the suffixes of the settings that differ
 * from their defaults, so its report never overwrites the main run's.
 */
import assert from "node:assert/strict";
import { COMMON_DEFAULTS, type CommonConfig } from "../lib/cli/args.ts";
import { ablationSuffix, type ExperimentSpec } from "../lib/harness/experiment.ts";

interface Config extends CommonConfig {
  budgetMinutes: number;
  labelSmoothing: number;
  nesterov: "yes" | "no";
}
const spec: ExperimentSpec<Config> = {
  name: "09_demo",
  title: "demo",
  story: "",
  studyAccuracy: 0.5,
  defaults: { ...COMMON_DEFAULTS, budgetMinutes: 120, labelSmoothing: 0.1, nesterov: "yes" },
  quick: { budgetMinutes: 2 },
  ablations: {
    budgetMinutes: (c) => `${c.budgetMinutes}min`,
    labelSmoothing: (c) => `ls${c.labelSmoothing}`,
    nesterov: () => "nonesterov",
  },
};
const config = (over: Partial<Config>): Config => ({ ...spec.defaults, ...over });

Deno.test("the main run has no suffix; each switched setting adds its own, in the spec's order", () => {
  assert.equal(ablationSuffix(spec, config({})), "");
  assert.equal(ablationSuffix(spec, config({ labelSmoothing: 0 })), "ls0");
  assert.equal(ablationSuffix(spec, config({ nesterov: "no", budgetMinutes: 15 })), "15min_nonesterov");
  // a setting that is not an ablation (the seed) never names a variant
  assert.equal(ablationSuffix(spec, config({ seed: 7 })), "");
});

Deno.test("--quick's own values are its defaults, not an ablation", () => {
  assert.equal(ablationSuffix(spec, config({ quick: true, budgetMinutes: 2 })), "");
  assert.equal(ablationSuffix(spec, config({ quick: true, budgetMinutes: 2, labelSmoothing: 0 })), "ls0");
  // a quick run with the full run's budget is a departure from the quick profile
  assert.equal(ablationSuffix(spec, config({ quick: true })), "120min");
});
