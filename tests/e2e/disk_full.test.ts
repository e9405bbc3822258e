/**
 * A real full disk: a small tmpfs mounted by the test as the run's `--out`.
 * Experiment 01's epoch-1 checkpoint (about 8.6 MB) fits in 12 MB, its
 * epoch-2 checkpoint beside it does not. The run must stop with one line
 * (exit 1, not a bug's 70) naming the checkpoint, keep the epoch-1
 * checkpoint, leave no temp folder, and print a resume command that works
 * once there is space.
 *
 * Needs root and `run` permission for mount and umount (deno.json's test
 * set); without them the tests are skipped and say why.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { WriteError, writeFileAtomic } from "../../lib/atomic_write.ts";
import { denoCommand } from "../../lib/cli/permissions.ts";
import { writeFer2013Csv } from "../../lib/data/csv.ts";
import { makeSyntheticFer2013 } from "../../lib/data/synthetic.ts";
import { argv, runScript } from "../helpers/run_script.ts";

async function sh(cmd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
}

const mount = (dir: string, size: string) => sh("mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir);
const remount = (dir: string, size: string) => sh("mount", "-o", `remount,size=${size}`, dir);

/** Why a tmpfs cannot be mounted here, or null when it can (tried once, on a scratch folder). */
async function cannotMount(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-mount-probe-" });
  try {
    await mount(dir, "1m");
    await sh("umount", dir);
    return null;
  } catch (e) {
    return e instanceof Deno.errors.NotCapable
      ? "the test permission set may not run mount/umount (add them to deno.json's test run list)"
      : `cannot mount a tmpfs (${(e as Error).message}; needs root)`;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const skipped = await cannotMount();
if (skipped) console.error(`e2e/disk_full.test.ts: skipped: ${skipped}`);

/** Runs `body` with a tmpfs of `size` mounted on a fresh temp folder, unmounted afterwards whatever happens. */
async function withTmpfs(size: string, body: (dir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ferlab-disk-full-" });
  const disk = join(root, "disk");
  await Deno.mkdir(disk);
  await mount(disk, size);
  try {
    await body(disk);
  } finally {
    await sh("umount", disk);
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test({
  name: "writeFileAtomic on a full tmpfs: WriteError, no temp file, the old file intact",
  ignore: skipped !== null,
  fn: () =>
    withTmpfs("1m", async (disk) => {
      const path = join(disk, "a.bin");
      await writeFileAtomic(path, "old");
      const e = await writeFileAtomic(path, new Uint8Array(2 << 20)).catch((e) => e);
      assert.ok(e instanceof WriteError && e.diskFull, String(e));
      assert.equal(e.message, `cannot write ${path}: No space left on device (os error 28)`);
      assert.deepEqual([...Deno.readDirSync(disk)].map((d) => d.name), ["a.bin"]);
      assert.equal(await Deno.readTextFile(path), "old");
    }),
});

Deno.test({
  name: "exp:01 on a full disk: one line, exit 1, epoch-1 checkpoint kept, no .tmp; its resume command works",
  ignore: skipped !== null,
  sanitizeResources: false,
  fn: () =>
    withTmpfs("12m", async (disk) => {
      const data = await Deno.makeTempDir({ prefix: "ferlab-disk-full-data-" });
      const csv = join(data, "tiny.csv");
      await writeFer2013Csv(csv, makeSyntheticFer2013({ n: 420, seed: 5 }));
      try {
        const flags = { data: csv, epochs: 2, batchSize: 32, out: disk, backend: "wasm", threads: 1, bnRecalRows: 64 };
        const full = await runScript("experiments/01_baseline.ts", argv(flags), {
          extra: { read: [csv], write: [disk] },
        });
        assert.equal(full.code, 1, full.stderr);
        const errors = full.stderr.split("\n").filter((l) => l.startsWith("error:"));
        assert.equal(errors.length, 1, full.stderr);
        assert.match(
          errors[0],
          new RegExp(
            `^error: cannot write the epoch-2 checkpoint ${disk}/checkpoints/01_baseline .*` +
              "No space left on device \\(os error 28\\); the epoch-1 checkpoint there is intact; " +
              "free some space, then resume with: deno run -P=experiment .* --resume$",
          ),
        );
        assert.doesNotMatch(full.stderr, /\n\s+at /);
        assert.deepEqual([...Deno.readDirSync(join(disk, "checkpoints"))].map((d) => d.name), ["01_baseline"]);
        const kept = JSON.parse(await Deno.readTextFile(join(disk, "checkpoints/01_baseline/state.json")));
        assert.equal(kept.epoch, 1);

        // Free space, then run exactly the command the error printed.
        await remount(disk, "48m");
        const command = errors[0].replace(/^.*resume with: /, "");
        assert.doesNotMatch(command, /['"\\]/, "a command of plain words, split on spaces below");
        const [deno, ...args] = command.split(" ");
        assert.equal(deno, "deno");
        const resumed = await new Deno.Command(denoCommand(), { args, stdout: "piped", stderr: "piped" }).output();
        const stderr = new TextDecoder().decode(resumed.stderr);
        assert.equal(resumed.code, 0, stderr);
        const report = JSON.parse(await Deno.readTextFile(join(disk, "01_baseline.json")));
        assert.equal(report.training.resumedFrom, 1);
        assert.equal(report.training.history.length, 2);
        assert.deepEqual([...Deno.readDirSync(join(disk, "checkpoints"))].map((d) => d.name), ["01_baseline"]);
      } finally {
        await Deno.remove(data, { recursive: true });
      }
    }),
});
