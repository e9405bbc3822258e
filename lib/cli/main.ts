/**
 * The outer shell of every ferlab script: user errors print as one clear
 * message (no stack trace), a permission outside the script's set prints the
 * one command that grants it (see `./permissions.ts`), and the process exits
 * explicitly because the wasm backend's worker threads would otherwise keep
 * it alive.
 *
 * @example
 * ```ts
 * await runMain(async () => {
 *   const flags = parseFlags(Deno.args, SPEC);
 *   if (!flags) return; // --help
 *   // … the script
 * });
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { deniedAccess, hintContext, permissionHint } from "./permissions.ts";

/**
 * Runs `fn`, reports failures plainly, and exits with 0, 1 (a {@link UserError}
 * or a permission the script's set lacks) or 70 (a bug).
 */
export async function runMain(fn: () => Promise<void>): Promise<never> {
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
    console.error(`\nerror: ${err?.message ?? String(e)}`);
    if (!isUser) console.error(err?.stack?.split("\n").slice(1).join("\n") ?? "");
    Deno.exit(isUser ? 1 : 70);
  }
  Deno.exit(0);
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
