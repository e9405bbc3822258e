/**
 * The one home of atomic writes: a file or a whole folder is either the old
 * one or the complete new one, never half-written, whatever crashes when.
 *
 * @example
 * ```ts
 * await writeFileAtomic("reports/01_baseline.json", JSON.stringify(results));
 * await replaceDirAtomic("reports/checkpoints/01_baseline", async (tmp) => {
 *   await Deno.writeTextFile(`${tmp}/state.json`, "{}");
 * });
 * ```
 *
 * @module
 */

/** Distinguishes temp files of concurrent writes within one process. */
let tempCounter = 0;

/** True when `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Removes a file or folder if it is there. */
export async function removeIfExists(path: string): Promise<void> {
  if (await exists(path)) await Deno.remove(path, { recursive: true });
}

/**
 * Writes `data` to `path` atomically: a uniquely named temp file in the same
 * folder (so the rename stays on one file system and two processes cannot
 * clobber each other's temp), flushed to disk, then renamed over `path`.
 * The parent folder must exist.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = `${path}.tmp-${Deno.pid}-${tempCounter++}`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      // Without a flush, a crash right after the rename could expose an empty file.
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Replaces folder `dir` with one that `fill` writes into a temp folder
 * (`<dir>.tmp`), swapped in with two renames. A crash leaves the previous
 * folder at `<dir>` or, in the instant between the renames, at `<dir>.old`;
 * readers that find no `<dir>` should try `<dir>.old`.
 */
export async function replaceDirAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  await removeIfExists(tmp);
  await Deno.mkdir(tmp, { recursive: true });
  await fill(tmp);
  await removeIfExists(old);
  if (await exists(dir)) await Deno.rename(dir, old);
  await Deno.rename(tmp, dir);
  await removeIfExists(old);
}
