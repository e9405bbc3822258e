/**
 * Experiment 05's command line as a user meets it, in a subprocess: the help
 * lists the budget and ablation flags, and an impossible budget is one clear
 * error. (Budgeted training itself is tested in-process in budget_plan.test.ts;
 * `deno task exp:05 --quick` is the full smoke run.)
 */
import assert from "node:assert/strict";
import { runScript } from "../helpers/run_script.ts";

function run(args: string[]) {
  return runScript("experiments/05_budget.ts", args);
}

Deno.test("exp:05 --help lists the budget and every ablation switch", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const flag of [
      "--budget-minutes",
      "--schedule <onecycle|cosine>",
      "--peak-lr",
      "--warmup",
      "--nesterov <yes|no>",
      "--weight-decay",
      "--label-smoothing",
      "--augment",
      "--dropout",
      "--max-minutes",
      "--resume",
    ]
  ) assert.ok(r.stdout.includes(flag), `${flag} missing from:\n${r.stdout}`);
  assert.match(r.stdout, /--budget-minutes <number>.*\(default 120\)/);
});

Deno.test("exp:05 refuses a budget that cannot exist, in one line", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const r = await run(["--quick", "--synthetic-rows", "300", "--budget-minutes", "0", "--out", tmp]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: --budget-minutes must be a positive number, got 0/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
