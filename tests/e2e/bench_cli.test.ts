/**
 * `deno task bench`'s output folder, run as the task runs it (`-P=bench`):
 * `--only` into a new folder, and an `--out` outside the permission set; and
 * a bench's bad flag or `--help` (parsedOrExit).
 * The `--only` filter matches no run, so nothing is measured and each run
 * takes about a second.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runScript } from "../helpers/run_script.ts";

const NOTHING = "^no such run$";

Deno.test("bench --only into a new folder creates it and writes the report; a second run merges into it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferlab-bench-" });
  try {
    const out = join(tmp, "new", "bq");
    const first = await runScript("bench/bench.ts", ["--only", NOTHING, "--out", out], { extra: { write: [tmp] } });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /matches none of the runs/);
    assert.match(first.stderr, /no earlier .*bench\.json/);
    const fresh = JSON.parse(await Deno.readTextFile(join(out, "bench.json")));
    assert.deepEqual(fresh.results, []);
    assert.equal(fresh.remeasured, undefined);
    assert.match(await Deno.readTextFile(join(out, "bench.md")), /^# Benchmark/);

    const again = await runScript("bench/bench.ts", ["--only", NOTHING, "--out", out], { extra: { write: [tmp] } });
    assert.equal(again.code, 0, again.stderr);
    const merged = JSON.parse(await Deno.readTextFile(join(out, "bench.json")));
    assert.equal(merged.date, fresh.date, "the earlier bench is kept");
    assert.deepEqual(merged.remeasured.map((m: { only: string }) => m.only), [NOTHING]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("bench --out outside the bench permission set: one line naming the command that grants it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferlab-bench-denied-" });
  try {
    const out = join(tmp, "bq");
    const r = await runScript("bench/bench.ts", ["--only", NOTHING, "--out", out]);
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0], /--out \S+bq is outside the "bench" permission set/);
    assert.match(errors[0], /run: deno run -P=bench --allow-read=\S+ --allow-write=\S+bq .*bench\/bench\.ts/);
    assert.doesNotMatch(r.stderr, /NotCapable|\n\s+at /);
    assert.equal(await Deno.stat(out).then(() => true, () => false), false, "nothing written");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("bench: a bad --only regex or a missing --render file is one line, exit 1", async () => {
  const badRegex = await runScript("bench/bench.ts", ["--only", "("]);
  assert.equal(badRegex.code, 1, badRegex.stderr);
  assert.match(badRegex.stderr, /^error: --only \(: Invalid regular expression/m);
  const missing = await runScript("bench/bench.ts", ["--render", "no/such/bench.json"]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /error: no\/such\/bench\.json: no such file/);
  assert.doesNotMatch(badRegex.stderr + missing.stderr, /\n\s+at /);
});

Deno.test("a bench's bad flag or --help: one plain error line and exit 1, or the usage and exit 0 (parsedOrExit)", async () => {
  const run = (args: string[]) => runScript("bench/transfer_ablation.ts", args);
  const bad = await run(["--rows", "x"]);
  assert.equal(bad.code, 1);
  // Deno's own warning about config-file permissions may precede it; no stack trace follows
  assert.deepEqual(bad.stderr.trim().split("\n").filter((l) => !l.includes("Warning")), [
    'error: --rows expects a number, got "x"',
  ]);
  const help = await run(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: deno run -A bench\/transfer_ablation\.ts \[flags\]/);
  assert.match(help.stdout, /--rows <number> +training rows of each run/);
});
