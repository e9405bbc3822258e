/**
 * The outer shell of every ferlab script: user errors print as one clear
 * message (no stack trace), a permission outside the script's set prints the
 * one command that grants it (see `./permissions.ts`), a failed checkpoint
 * save (a full disk) prints the command that resumes, and the process exits
 * explicitly because the wasm backend's worker threads would otherwise keep
 * it alive.
 *
 * @example
 * ```ts
 * await runCli(async () => {
 *   const flags = parseFlags(Deno.args, SPEC);
 *   if (!flags) return; // --help
 *   // … the script
 * });
 * ```
 *
 * @module
 */
import { WriteError } from "../atomic_write.ts";
import { UserError } from "../errors.ts";
import { deniedAccess, hintContext, permissionHint, resumeCommand } from "./permissions.ts";

/**
 * Runs `fn`, reports failures plainly, and exits with 0, 1 (a {@link UserError}
 * or a permission the script's set lacks) or 70 (a bug).
 */
export async function runCli(fn: () => Promise<void>): Promise<never> {
  try {
    await fn();
  } catch (e) {
    const denied = deniedAccess(e);
    if (denied) {
      console.error(`\nerror: ${permissionHint(denied, hintContext())}`);
      Deno.exit(1);
    }
    const err = e as Error;
    const isUser = err instanceof UserError;
    console.error(`\nerror: ${err?.message ?? String(e)}${resumeAdvice(e)}`);
    if (!isUser) console.error(err?.stack?.split("\n").slice(1).join("\n") ?? "");
    Deno.exit(isUser ? 1 : 70);
  }
  Deno.exit(0);
}

/** For a write fault that `--resume` gets past (a checkpoint save): what to fix, then the command that resumes. */
function resumeAdvice(e: unknown): string {
  if (!(e instanceof WriteError) || !e.resumable) return "";
  return `; ${e.diskFull ? "free some space" : "fix that"}, then resume with: ${resumeCommand(hintContext())}`;
}

/**
 * The command line of a script whose body is top-level code (the benches):
 * `--help` (a null from `parse`) exits 0, a {@link UserError} such as a bad
 * flag prints its message without a stack and exits 1.
 *
 * @example
 * ```ts
 * const args = parsedOrExit(() => parseFlags(Deno.args, "deno task bench", FLAGS, DEFAULTS));
 * ```
 */
export function parsedOrExit<C>(parse: () => C | null): C {
  let parsed: C | null;
  try {
    parsed = parse();
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(`error: ${e.message}`);
    Deno.exit(1);
  }
  if (parsed === null) Deno.exit(0);
  return parsed;
}
