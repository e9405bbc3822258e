/**
 * Runs a project script in a subprocess as its `deno task` does, under the
 * task's permission set, with the test's temp folders added to it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { denoCommand, type ExtraPaths, scriptArgs } from "../../lib/cli/permissions.ts";

/** What a script run printed and how it ended. */
export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runScript}. */
export interface RunScriptOptions {
  /** Paths the script may use besides its set's (the test's temp dirs). */
  extra?: ExtraPaths;
  /** Working directory of the subprocess. */
  cwd?: string;
}

/** Runs `script` (a path relative to the project root, or absolute) with `args`. */
export async function runScript(script: string, args: string[], opts: RunScriptOptions = {}): Promise<ScriptRun> {
  const path = new URL(`../../${script}`, import.meta.url).pathname;
  const out = await new Deno.Command(denoCommand(), {
    args: scriptArgs(script.startsWith("/") ? script : path, args, opts.extra),
    stdout: "piped",
    stderr: "piped",
    cwd: opts.cwd,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * A command line from flags by config key: `{ batchSize: 32, resume: true }`
 * → `["--batch-size", "32", "--resume"]` (a false flag is left out).
 */
export function argv(flags: Record<string, string | number | boolean>): string[] {
  return Object.entries(flags).flatMap(([k, v]) => {
    const name = `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return v === true ? [name] : v === false ? [] : [name, String(v)];
  });
}

/**
 * Runs TypeScript `source` (given on stdin, with the project's import map)
 * under permission set `set` plus `flags`, as a task would; asserts it exits
 * 0 within two minutes and returns its last stdout line as JSON.
 */
export async function runSource(
  source: string,
  opts: { set?: string; flags?: string[]; env?: Record<string, string> } = {},
): Promise<Record<string, unknown>> {
  const child = new Deno.Command(denoCommand(), {
    args: [
      "run",
      `-P=${opts.set ?? "experiment"}`,
      ...(opts.flags ?? []),
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      "-",
    ],
    cwd: new URL("../..", import.meta.url),
    env: opts.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source));
  await writer.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const out = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}
