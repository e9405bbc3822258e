/**
 * The permission sets of deno.json: every task runs its script under a set
 * (never -A), `deno test` asks for `-P`, and a script refused a path outside
 * its set stops with one line giving the `deno run` command that grants it —
 * a command that then works.
 */
import assert from "node:assert/strict";
import { shutdownWasm } from "../../lib/backend/wasm/init.ts";
import { join } from "node:path";
import {
  deniedAccess,
  denoCommand,
  type HintContext,
  permissionHint,
  resumeCommand,
  setOfScript,
} from "../../lib/cli/permissions.ts";
import { selectBackend } from "../../lib/backend/select.ts";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const CONFIG = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
const TASKS: Record<string, { command: string } | string> = CONFIG.tasks;
const command = (t: { command: string } | string) => typeof t === "string" ? t : t.command;

Deno.test("deno.json: no task runs with -A; every deno run/test task names a set that exists", () => {
  for (const [name, task] of Object.entries(TASKS)) {
    const cmd = command(task);
    assert.doesNotMatch(cmd, /(^|\s)(-A|--allow-all)(\s|$)/, `task ${name}: ${cmd}`);
    for (const m of cmd.matchAll(/deno (run|test)\b([^&|;]*)/g)) {
      const set = /-P(?:=([\w:.-]+))?(\s|$)/.exec(m[2]);
      assert.ok(set, `task ${name} runs "deno ${m[1]}" without -P: ${cmd}`);
      const name_ = set[1] ?? (m[1] === "test" ? CONFIG.test.permissions : "default");
      assert.ok(CONFIG.permissions[name_], `task ${name}: no permission set "${name_}"`);
    }
  }
  assert.equal(CONFIG.test.permissions, "test");
  // only the transfer experiment may reach the network, and only the backbone hosts; the tests and the HTML
  // check talk to a local Chromium only, and the demo serves its page on the loopback address alone
  for (const [name, set] of Object.entries(CONFIG.permissions as Record<string, { net?: unknown }>)) {
    if (name === "transfer") assert.deepEqual(set.net, ["tfhub.dev", "www.kaggle.com", "storage.googleapis.com"]);
    else if (name === "test" || name === "report-check") assert.deepEqual(set.net, ["127.0.0.1", "localhost"]);
    else if (name === "demo") assert.deepEqual(set.net, ["127.0.0.1"]);
    else assert.equal(set.net, undefined, `set ${name} has network access`);
  }
});

Deno.test("setOfScript finds each script's set from the tasks", () => {
  const ctx = (script: string): HintContext => ({
    root: ROOT,
    cwd: ROOT,
    script: join(ROOT, script),
    args: [],
    config: CONFIG,
  });
  assert.equal(setOfScript(ctx("experiments/01_baseline.ts")), "experiment");
  assert.equal(setOfScript(ctx("tools/eval.ts")), "tools");
  assert.equal(setOfScript(ctx("bench/bench.ts")), "bench");
  assert.equal(setOfScript(ctx("tools/preview_synthetic.ts")), undefined);
});

Deno.test("deniedAccess reads NotCapable errors, also wrapped by a loader; nothing else", () => {
  const direct = new Deno.errors.NotCapable('Requires write access to "/x/out", run again with the --allow-write flag');
  assert.deepEqual(deniedAccess(direct), { kind: "write", target: "/x/out" });
  const wrapped = new Error('/d/f.csv: cannot read: Requires read access to "/d/f.csv", run again with …');
  assert.deepEqual(deniedAccess(wrapped), { kind: "read", target: "/d/f.csv" });
  const caused = new Error("loading failed", { cause: new Error('Requires net access to "tfhub.dev:443"') });
  assert.deepEqual(deniedAccess(caused), { kind: "net", target: "tfhub.dev:443" });
  assert.equal(deniedAccess(new Error("/d/f.csv, row 3: bad label")), null);
  assert.equal(deniedAccess(undefined), null);
});

const HINT_CTX: HintContext = {
  root: "/p",
  cwd: "/p",
  script: "/p/experiments/01_baseline.ts",
  args: ["--out", "/tmp/run 1", "--epochs", "2"],
  config: {
    tasks: { "exp:01": { command: "deno run -P=experiment experiments/01_baseline.ts" } },
    permissions: { experiment: { read: ["."], write: ["reports", ".cache"] } },
  },
};

Deno.test("permissionHint: an output folder gets read and write, added to the set's own lists", () => {
  const hint = permissionHint({ kind: "read", target: "/tmp/run 1/checkpoints/x.tmp" }, HINT_CTX);
  assert.equal(hint.includes("\n"), false);
  assert.match(hint, /^--out \/tmp\/run 1 is outside the "experiment" permission set/);
  assert.ok(
    hint.endsWith(
      "so run: deno run -P=experiment --allow-read=.,'/tmp/run 1' --allow-write=reports,.cache,'/tmp/run 1' " +
        "experiments/01_baseline.ts --out '/tmp/run 1' --epochs 2",
    ),
    hint,
  );
  const write = permissionHint({ kind: "write", target: "/tmp/run 1" }, HINT_CTX);
  assert.match(write, /--allow-read=\.,'\/tmp\/run 1' --allow-write=reports,\.cache,'\/tmp\/run 1' /);
});

Deno.test("permissionHint: an input file gets read only; outside the project root paths are absolute", () => {
  const ctx = { ...HINT_CTX, cwd: "/home/u", args: ["--data=faces.csv"] };
  const hint = permissionHint({ kind: "read", target: "faces.csv" }, ctx);
  assert.match(hint, /^--data \/home\/u\/faces\.csv is outside the "experiment" permission set/);
  assert.match(
    hint,
    / --allow-read=\/p,\/home\/u\/faces\.csv --config \/p\/deno\.json \/p\/experiments\/01_baseline\.ts /,
  );
  assert.doesNotMatch(hint, /--allow-write/);
});

Deno.test("resumeCommand: the run's own command and permissions, with --resume added once", () => {
  const granted = (kind: string, path: string) => ["read", "write"].includes(kind) && path === "/tmp/run 1";
  assert.equal(
    resumeCommand({ ...HINT_CTX, granted }),
    "deno run -P=experiment --allow-read=.,'/tmp/run 1' --allow-write=reports,.cache,'/tmp/run 1' " +
      "experiments/01_baseline.ts --out '/tmp/run 1' --epochs 2 --resume",
  );
  // inside the set: the set alone; already resuming: no second --resume
  const inSet = { ...HINT_CTX, args: ["--out", "reports/x", "--resume"], granted: () => true };
  assert.equal(resumeCommand(inSet), "deno run -P=experiment experiments/01_baseline.ts --out reports/x --resume");
});

Deno.test("permissionHint: non-path permissions and scripts without a task", () => {
  const net = permissionHint({ kind: "net", target: "example.org:443" }, HINT_CTX);
  assert.match(net, /^"example\.org:443" is outside the "experiment" permission set/);
  assert.match(net, /deno run -P=experiment --allow-net=example\.org:443 experiments/);
  const other = permissionHint({ kind: "write", target: "/tmp/x.png" }, {
    ...HINT_CTX,
    script: "/p/tools/preview_synthetic.ts",
    args: ["/tmp/x.png"],
  });
  assert.match(other, /^"\/tmp\/x\.png" is not allowed/);
  assert.match(other, /deno run … --allow-read=\/tmp\/x\.png --allow-write=\/tmp\/x\.png tools\/preview_synthetic\.ts/);
});

Deno.test({
  name: "a plain `deno test` stops at once with Deno's hint to use -P",
  fn: async () => {
    const out = await new Deno.Command(denoCommand(), {
      args: ["test", "tests/e2e/permissions.test.ts"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.notEqual(out.code, 0);
    assert.match(new TextDecoder().decode(out.stderr), /Test permissions were found in the config file.*-P/);
  },
});

/** Runs experiment 01 the way `deno task exp:01` does (cwd = project root, `-P=experiment`) plus `flags`. */
async function exp01(flags: string[], args: string[]) {
  const out = await new Deno.Command(denoCommand(), {
    args: ["run", "-P=experiment", ...flags, "experiments/01_baseline.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** The `error: …` lines of a script's stderr. */
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("error"));

Deno.test({
  name: "exp:01 with --data or --out outside its set: one line naming the flags; the command it gives works",
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "ferlab-perm-" });
    try {
      const csv = join(tmp, "tiny.csv");
      await writeFer2013Csv(csv, makeSyntheticFer2013({ n: 160, seed: 9 }));
      const common = ["--epochs", "1", "--batch-size", "32", "--backend", "wasm", "--threads", "1"];

      const data = await exp01([], ["--data", csv, ...common]);
      assert.equal(data.code, 1, data.stderr);
      assert.deepEqual(errorLines(data.stderr), [
        `error: --data ${csv} is outside the "experiment" permission set (read access to "${csv}" denied); ` +
        `flags after "deno task …" go to the script, so run: deno run -P=experiment --allow-read=.,${csv} ` +
        `experiments/01_baseline.ts --data ${csv} ${common.join(" ")}`,
      ]);
      assert.doesNotMatch(data.stderr, /\n\s+at /); // no stack trace

      const outDir = join(tmp, "out");
      // --data granted as the first hint said; --out outside too: the second hint keeps the --data grant
      const out = await exp01([`--allow-read=.,${csv}`], ["--data", csv, "--out", outDir, ...common]);
      assert.equal(out.code, 1, out.stderr);
      const [line] = errorLines(out.stderr);
      assert.match(line, new RegExp(`^error: --out ${outDir} is outside the "experiment" permission set`));
      assert.ok(line.includes(` --allow-read=.,${csv},${outDir} --allow-write=reports,.cache,${outDir} `), line);
      assert.doesNotMatch(out.stderr, /\n\s+at /);

      // the advice works as given
      const given = line.slice(line.indexOf("so run: deno run ") + "so run: deno run ".length).split(" ");
      const [p, ...rest] = given;
      assert.equal(p, "-P=experiment");
      const flags = rest.filter((a) => a.startsWith("--allow-"));
      const ok = await exp01(flags, rest.slice(flags.length + 1));
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok((await Deno.stat(join(outDir, "01_baseline.json"))).isFile);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("under the test set, backend auto probes the optional tfjs-node and falls to wasm without a refusal", async () => {
  try {
    const info = await selectBackend("auto", { threads: 2 });
    assert.equal(info.notes[0], "tfjs-node not installed (optional native backend)");
    assert.ok(["wasm", "webgpu"].includes(info.name), info.name);
    if (info.name === "wasm") assert.equal(info.threads, 2, info.notes.join("; ")); // the worker file was written
    for (const note of info.notes) assert.doesNotMatch(note, /Requires \w+ access|NotCapable/);
  } finally {
    await shutdownWasm();
  }
});
