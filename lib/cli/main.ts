/**
 * The outer shell of every ferlab script: user errors print as one clear
 * message (no stack trace), and the process exits explicitly because the
 * wasm backend's worker threads would otherwise keep it alive.
 *
 * @module
 */
import { DataError } from "../data/fer2013.ts";
import { UsageError } from "./args.ts";
import { BackendUnavailable } from "../backend/select.ts";

/** Error classes whose message is the whole story for the user. */
const USER_ERRORS = [DataError, UsageError, BackendUnavailable];

/** Runs `fn`, reports failures plainly, and exits with 0, 1 (user error) or 70 (bug). */
export async function runMain(fn: () => Promise<void>): Promise<never> {
  try {
    await fn();
  } catch (e) {
    const err = e as Error;
    const isUser = USER_ERRORS.some((cls) => err instanceof cls) || err?.name === "SplitError" ||
      err?.name === "AugmentError";
    console.error(`\nerror: ${err?.message ?? String(e)}`);
    if (!isUser) console.error(err?.stack?.split("\n").slice(1).join("\n") ?? "");
    Deno.exit(isUser ? 1 : 70);
  }
  Deno.exit(0);
}
