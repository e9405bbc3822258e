/**
 * Experiment 07 end to end, as a user runs it: a short distillation from the
 * committed 05 model on the synthetic faces, in a subprocess under the
 * `experiment` permission set (plus the test's temp dir); its report and
 * student; a study-protocol teacher refused; and a run cut short and resumed
 * that ends with the weights of an uninterrupted one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { argv, runScript } from "../helpers/run_script.ts";

const tmp = await Deno.makeTempDir({ prefix: "ferlab-e2e07-" });
const run = (flags: Record<string, string | number | boolean>) =>
  runScript("experiments/07_distil.ts", argv(flags), { extra: { write: [tmp] }, cwd: tmp });
const REPORTS = new URL("../../reports/", import.meta.url).pathname;

/** A teachers' folder holding committed results (and, for `withModel`, their models). */
async function teacherDir(names: string[], withModel: boolean): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: tmp });
  for (const name of names) {
    await Deno.copyFile(join(REPORTS, `${name}.json`), join(dir, `${name}.json`));
    if (!withModel) continue;
    await Deno.mkdir(join(dir, "models", name), { recursive: true });
    for (const f of ["model.json", "weights.bin"]) {
      await Deno.copyFile(join(REPORTS, "models", name, f), join(dir, "models", name, f));
    }
  }
  return dir;
}

// One view per teacher and a few hundred faces keep each run to a minute or two on one thread.
const SHORT = { quick: true, epochs: 2, limitTrain: 256, teacherTta: "none", backend: "wasm", threads: 1 };

Deno.test({
  name: "exp:07 distils the committed 05 into a student under 300K parameters and reports teachers, size and speed",
  sanitizeResources: false,
  fn: async () => {
    const out = join(tmp, "reports");
    const r = await run({ ...SHORT, out, teacherDir: await teacherDir(["05_budget"], true) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /teachers: targets cached in \.cache\/distil\/[0-9a-f]{16}\.f32/);
    const json = JSON.parse(await Deno.readTextFile(join(out, "07_distil.json")));
    assert.equal(json.split.protocol, "official");
    assert.deepEqual(json.distil.teachers, [{ name: "05_budget", tta: "none", views: 1 }]);
    assert.equal(json.distil.targets.weight, 0.7);
    assert.ok(json.distil.targets.agreement >= 0 && json.distil.targets.agreement <= 1);
    assert.ok(json.distil.teacherEnsemble.accuracy >= 0 && json.distil.teacherEnsemble.accuracy <= 1);
    const [student, teacher] = json.distil.costs;
    assert.equal(student.name, "07_distil");
    assert.ok(student.params <= 300_000, `${student.params} parameters`);
    assert.ok(teacher.params > 3 * student.params, `teacher ${teacher.params} vs student ${student.params}`);
    for (const s of student.speed) assert.ok(s.msPerFace > 0, JSON.stringify(s));
    assert.deepEqual(json.input, { imageSize: 48, inputSize: 44, tta: "crops" });
    const md = await Deno.readTextFile(join(out, "07_distil.md"));
    assert.match(md, /Student: \*\*\d{3},\d{3} parameters\*\*/);
    assert.match(md, /## The teachers/);
    assert.match(md, /\| 05_budget \| none \| 1 \| 65\.06% \|/);
    assert.match(md, /## What it costs to run/);
    const model = JSON.parse(await Deno.readTextFile(join(out, "models/07_distil/model.json")));
    assert.deepEqual(model.userDefinedMetadata.ferlab, { imageSize: 48, inputSize: 44, tta: "crops" });
  },
});

Deno.test({
  name: "exp:07 refuses a study-protocol teacher with one line that says why",
  sanitizeResources: false,
  fn: async () => {
    const r = await run({
      ...SHORT,
      out: join(tmp, "refused"),
      teachers: "01_baseline",
      teacherDir: await teacherDir(["01_baseline"], false),
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /teacher 01_baseline was trained under the study protocol/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  },
});

Deno.test({
  name: "exp:07 cut short after an epoch and resumed ends with the weights of an uninterrupted run",
  sanitizeResources: false,
  fn: async () => {
    const teachers = await teacherDir(["05_budget"], true);
    const common = { ...SHORT, limitTrain: 192, teacherDir: teachers };
    const whole = join(tmp, "whole"), parts = join(tmp, "parts");
    const a = await run({ ...common, out: whole });
    assert.equal(a.code, 0, a.stderr);
    const cut = await run({ ...common, out: parts, maxMinutes: 0.0001 });
    assert.equal(cut.code, 0, cut.stderr);
    const partial = JSON.parse(await Deno.readTextFile(join(parts, "07_distil.json")));
    assert.equal(partial.training.cutShort, true);
    const resumed = await run({ ...common, out: parts, resume: true });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /teachers: targets read from/);
    for (const f of ["models/07_distil/weights.bin", "checkpoints/07_distil/model/weights.bin"]) {
      assert.deepEqual(await Deno.readFile(join(parts, f)), await Deno.readFile(join(whole, f)), f);
    }
  },
});
