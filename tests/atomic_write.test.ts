import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, replaceDirAtomic, WriteError, writeFileAtomic } from "../lib/atomic_write.ts";
import { UserError } from "../lib/errors.ts";

/** The error Deno throws when a write meets a full disk (see `Deno.writeFile` on a full tmpfs). */
function diskFull(path: string): Error {
  return Object.assign(new Error(`No space left on device (os error 28): writefile '${path}'`), { code: "ENOSPC" });
}

Deno.test("writeFileAtomic replaces a file whole and leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "a.json");
  await writeFileAtomic(path, "first");
  await writeFileAtomic(path, new TextEncoder().encode("second"));
  assert.equal(await Deno.readTextFile(path), "second");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
  // a failed write (missing folder) leaves nothing behind and throws one line naming the file
  const missing = join(dir, "nope", "b.json");
  await assert.rejects(writeFileAtomic(missing, "x"), (e: unknown) => {
    assert.ok(e instanceof WriteError && e instanceof UserError);
    assert.ok(e.cause instanceof Deno.errors.NotFound);
    assert.match(e.message, new RegExp(`^cannot write ${missing}: No such file or directory \\(os error 2\\)$`));
    assert.equal(e.diskFull, false);
    return true;
  });
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
});

Deno.test("replaceDirAtomic swaps a folder in; a failing fill keeps the old one", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "ck");
  await replaceDirAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "state.json"), "1"));
  assert.equal(await Deno.readTextFile(join(dir, "state.json")), "1");
  await assert.rejects(
    replaceDirAtomic(dir, async (tmp) => {
      await Deno.writeTextFile(join(tmp, "state.json"), "2");
      throw new Error("crash mid-save");
    }),
    /crash mid-save/,
  );
  assert.equal(await Deno.readTextFile(join(dir, "state.json")), "1");
  await replaceDirAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "state.json"), "3"));
  assert.equal(await Deno.readTextFile(join(dir, "state.json")), "3");
  assert.equal(await exists(`${dir}.old`), false);
  assert.equal(await exists(`${dir}.tmp`), false);
});

Deno.test("replaceDirAtomic on a full disk: the temp folder is removed, the old folder intact, one clear error", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "ck");
  await replaceDirAtomic(dir, (tmp) => Deno.writeTextFile(join(tmp, "state.json"), "1"));
  const failed = await replaceDirAtomic(dir, async (tmp) => {
    await Deno.writeFile(join(tmp, "model.bin"), new Uint8Array(1 << 16)); // partway: one file is written
    throw diskFull(join(tmp, "optimizer.bin"));
  }).catch((e) => e);
  assert.ok(failed instanceof WriteError, String(failed));
  assert.equal(failed.message, `cannot write ${dir}.tmp/optimizer.bin: No space left on device (os error 28)`);
  assert.equal(failed.path, `${dir}.tmp/optimizer.bin`);
  assert.equal(failed.diskFull, true);
  assert.equal(failed.resumable, false);
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["ck"]);
  assert.equal(await Deno.readTextFile(join(dir, "state.json")), "1");
  await Deno.remove(root, { recursive: true });
});

Deno.test("replaceDirAtomic: a bug in fill stays itself (stack and all), and still leaves no temp folder", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "ck");
  await assert.rejects(
    replaceDirAtomic(dir, () => Promise.reject(new TypeError("x is undefined"))),
    (e: unknown) => e instanceof TypeError && !(e instanceof WriteError),
  );
  // a refused permission is not a write fault either: the script's shell turns it into the command that grants it
  await assert.rejects(
    replaceDirAtomic(dir, () => Promise.reject(new Deno.errors.NotCapable(`Requires write access to "${dir}"`))),
    Deno.errors.NotCapable,
  );
  assert.deepEqual([...Deno.readDirSync(root)], []);
  await Deno.remove(root, { recursive: true });
});
