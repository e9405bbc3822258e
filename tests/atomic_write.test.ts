import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, replaceDirAtomic, writeFileAtomic } from "../lib/atomic_write.ts";

Deno.test("writeFileAtomic replaces a file whole and leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "a.json");
  await writeFileAtomic(path, "first");
  await writeFileAtomic(path, new TextEncoder().encode("second"));
  assert.equal(await Deno.readTextFile(path), "second");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
  // a failed write (missing folder) leaves nothing behind and throws
  await assert.rejects(writeFileAtomic(join(dir, "nope", "b.json"), "x"), Deno.errors.NotFound);
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
