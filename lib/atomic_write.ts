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

import { UserError } from "./errors.ts";

/**
 * A write the file system refused: a full disk, a read-only mount, an I/O
 * error. The user can fix those, so it prints as one line naming what was
 * being written; the atomic writes below have removed their temporaries by
 * the time it is thrown, and the old file or folder is untouched.
 */
export class WriteError extends UserError {
  /**
   * True when the run can be continued with `--resume` (a checkpoint save
   * failed): the script's shell then says how (see `lib/cli/shell.ts`).
   */
  resumable = false;

  /** `what` names the file or folder, e.g. "the epoch-2 checkpoint /x/ck" (default: `path`). */
  constructor(readonly path: string, cause: unknown, what: string = path) {
    super(`cannot write ${what}: ${faultReason(cause)}`, { cause });
  }

  /** True when the fault is a full disk or an exhausted quota: freeing space fixes it. */
  get diskFull(): boolean {
    const code = (this.cause as { code?: unknown })?.code;
    return code === "ENOSPC" || code === "EDQUOT";
  }
}

/**
 * Whether `e` is the file system's refusal rather than a bug: an OS error
 * (Deno gives those a `code` such as "ENOSPC") or one of Deno's I/O error
 * classes. A permission outside the script's set (`NotCapable`) is not: the
 * script's shell turns that into the command that grants it.
 */
export function isWriteFault(e: unknown): boolean {
  if (!(e instanceof Error) || e instanceof Deno.errors.NotCapable) return false;
  const code = (e as { code?: unknown }).code;
  return (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) ||
    Object.values(Deno.errors).some((cls) => e instanceof cls);
}

/** The OS's words for a fault, without Deno's trailing "op 'path'" (the message names the path itself). */
function faultReason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/: [a-z_]+ '[^']*'( -> '[^']*')?$/, "");
}

/** The path Deno names at the end of an fs error's message ("…: writefile '/x/y'"), if any. */
function faultPath(e: unknown): string | undefined {
  return e instanceof Error ? /: [a-z_]+ '([^']*)'(?: -> '[^']*')?$/.exec(e.message)?.[1] : undefined;
}

/** `e` as a {@link WriteError} of `path` when it is a write fault; anything else (a bug) unchanged. */
function asWriteError(e: unknown, path: string): unknown {
  return e instanceof WriteError || !isWriteFault(e) ? e : new WriteError(path, e);
}

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
    throw asWriteError(e, path);
  }
}

/**
 * Replaces folder `dir` with one that `fill` writes into a temp folder
 * (`<dir>.tmp`), swapped in with two renames. A crash leaves the previous
 * folder at `<dir>` or, in the instant between the renames, at `<dir>.old`;
 * readers that find no `<dir>` should try `<dir>.old`. A failure removes the
 * temp folder (on a full disk it holds the space a retry needs) and throws a
 * file-system fault as a {@link WriteError}.
 */
export async function replaceDirAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  try {
    await removeIfExists(tmp);
    await Deno.mkdir(tmp, { recursive: true });
    await fill(tmp);
    await removeIfExists(old);
    if (await exists(dir)) await Deno.rename(dir, old);
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw asWriteError(e, faultPath(e) ?? dir);
  }
  // The new folder is in place; a leftover .old only costs space, so failing to remove it is no failure.
  await removeIfExists(old).catch(() => {});
}
