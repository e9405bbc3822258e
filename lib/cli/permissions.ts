/**
 * Living with the permission sets of `deno.json`: every task runs its script
 * with `-P=<set>`, so a path outside the set (a `--data` file elsewhere, an
 * `--out` folder in /tmp) ends in Deno's `NotCapable` error, whose own advice
 * ("run again with the --allow-write flag") misleads a `deno task` user:
 * flags after the task name go to the script, and a flag given next to `-P`
 * replaces the set's list for that permission instead of adding to it.
 * {@link permissionHint} says instead, in one line, which command to run.
 *
 * @example
 * ```ts
 * const denied = deniedAccess(new Deno.errors.NotCapable('Requires write access to "/tmp/x"'));
 * // denied = { kind: "write", target: "/tmp/x" }
 * const line = permissionHint(denied!, {
 *   root: "/p", cwd: "/p", script: "/p/experiments/01_baseline.ts", args: ["--out", "/tmp/x"],
 *   config: {
 *     tasks: { "exp:01": "deno run -P=experiment experiments/01_baseline.ts" },
 *     permissions: { experiment: { write: ["reports", ".cache"] } },
 *   },
 * });
 * // '--out /tmp/x is outside the "experiment" permission set (write access to "/tmp/x" denied); … run:
 * //  deno run -P=experiment --allow-write=reports,.cache,/tmp/x experiments/01_baseline.ts --out /tmp/x'
 * ```
 *
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** A permission Deno refused: its kind ("read", "write", "net", …) and what was asked for. */
export interface Denied {
  kind: string;
  target: string;
}

/** Deno's wording of a refusal, e.g. `Requires write access to "/tmp/x", run again with …`. */
const REFUSAL = /Requires (\w+) access to "([^"]*)"/;

/** Permission kinds whose values are paths (resolved against the working directory). */
const PATH_KINDS = new Set(["read", "write", "ffi"]);

/**
 * The refusal behind `e`, if any: a `Deno.errors.NotCapable`, or an error
 * that wraps one (its `cause`, or its message when a loader re-threw it as
 * its own error, e.g. "data.csv: cannot read: Requires read access …").
 */
export function deniedAccess(e: unknown): Denied | null {
  for (let err = e, depth = 0; err != null && depth < 8; depth++) {
    const message = err instanceof Error ? err.message : String(err);
    const m = REFUSAL.exec(message);
    if (m) return { kind: m[1], target: m[2] };
    err = err instanceof Error ? err.cause : undefined;
  }
  return null;
}

/** What {@link permissionHint} needs to know about the run. */
export interface HintContext {
  /** The project root (where deno.json lives). */
  root: string;
  /** The working directory relative paths were resolved against. */
  cwd: string;
  /** Absolute path of the script that ran. */
  script: string;
  /** The script's arguments. */
  args: string[];
  /** Whether this process may use `path` for `kind` (to keep paths granted by flags given next to `-P`). */
  granted?: (kind: string, path: string) => boolean;
  /** The parts of deno.json used: tasks (to find the script's set) and the sets. */
  config: {
    tasks?: Record<string, string | { command?: string }>;
    permissions?: Record<string, Record<string, unknown>>;
  };
}

/** The permission set the project's tasks run `script` with (`-P=<set> <script>`), if any. */
export function setOfScript(ctx: HintContext): string | undefined {
  const rel = relative(ctx.root, ctx.script).split(sep).join("/");
  for (const task of Object.values(ctx.config.tasks ?? {})) {
    const command = typeof task === "string" ? task : task.command ?? "";
    const m = /(?:-P=|--permission-set=)([\w:.-]+)\s+(?:\.\/)?(\S+)/.exec(command);
    if (m && m[2] === rel) return m[1];
  }
  return undefined;
}

/** Quotes `s` for a POSIX shell when it needs it. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Every argument value (also of `--flag=value`) resolved as a path, with the flag that introduced it. */
function argumentPaths(ctx: HintContext): { flag?: string; path: string }[] {
  const found: { flag?: string; path: string }[] = [];
  ctx.args.forEach((arg, i) => {
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const value = eq > 0 ? arg.slice(eq + 1) : arg;
    if (value === "" || (eq < 0 && value.startsWith("-"))) return;
    const prev = ctx.args[i - 1];
    const flag = eq > 0 ? arg.slice(0, eq) : prev?.startsWith("--") && !prev.includes("=") ? prev : undefined;
    found.push({ flag, path: resolve(ctx.cwd, value) });
  });
  return found;
}

/** Whether `path` is `dir` or inside it. */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * The argument that named `target` on the command line: `target` itself or
 * the outermost folder above it (so an `--out` folder is suggested rather
 * than a checkpoint file inside it).
 */
function namingArgument(target: string, ctx: HintContext): { flag?: string; path: string } | null {
  const wanted = resolve(ctx.cwd, target);
  const naming = argumentPaths(ctx).filter((a) => within(wanted, a.path));
  return naming.sort((a, b) => a.path.length - b.path.length)[0] ?? null;
}

/**
 * The permissions to add for a refusal. A script that writes a folder also
 * reads it (existence checks, resume), so an output path — one refused for
 * writing, or read inside a folder the command line named — gets both.
 */
function grantsFor(denied: Denied, named: { path: string } | null, ctx: HintContext): Map<string, string> {
  if (!PATH_KINDS.has(denied.kind)) return new Map([[denied.kind, denied.target]]);
  const wanted = resolve(ctx.cwd, denied.target);
  const path = named?.path ?? wanted;
  const isOutput = denied.kind === "write" || (denied.kind === "read" && named !== null && wanted !== path);
  return new Map(isOutput ? [["read", path], ["write", path]] : [[denied.kind, path]]);
}

/**
 * One line for a refused permission: what was outside which set, and the
 * `deno run` command that grants it — the set's own list for that permission
 * plus the new value, since a flag next to `-P` replaces the set's list.
 */
export function permissionHint(denied: Denied, ctx: HintContext): string {
  const { kind, target } = denied;
  const named = PATH_KINDS.has(kind) ? namingArgument(target, ctx) : null;
  const what = named?.flag ? `${named.flag} ${named.path}` : `"${target}"`;
  const added = new Map<string, string[]>();
  for (const [k, v] of grantsFor(denied, named, ctx)) added.set(k, [v]);
  const set = setOfScript(ctx);
  const where = set ? `outside the "${set}" permission set` : "not allowed";
  return `${what} is ${where} (${kind} access to "${target}" denied); flags after "deno task …" go to the script, ` +
    `so run: ${commandLine(ctx, added, ctx.args)}`;
}

/**
 * The command that runs this script again with `--resume` added (once), with
 * the permissions this run had: e.g. after a full disk stopped it.
 */
export function resumeCommand(ctx: HintContext): string {
  const args = ctx.args.includes("--resume") ? ctx.args : [...ctx.args, "--resume"];
  return commandLine(ctx, new Map(), args);
}

/**
 * `deno run -P=<set> [flags] <script> <args>`: the script's set, with the
 * `added` permissions and the paths on the command line that flags given
 * next to `-P` granted beyond the set (each flag repeats the set's own list,
 * since it replaces it).
 */
function commandLine(ctx: HintContext, added: Map<string, string[]>, args: string[]): string {
  const atRoot = resolve(ctx.cwd) === resolve(ctx.root);
  const set = setOfScript(ctx);
  const ownOf = (k: string) => {
    const own = set ? ctx.config.permissions?.[set]?.[k] : undefined;
    return Array.isArray(own) ? own.map(String) : [];
  };
  // A set granting a kind wholesale (`"read": true`) needs no flag for it: a list would narrow it to the list.
  const everything = (k: string) => set !== undefined && ctx.config.permissions?.[set]?.[k] === true;
  for (const k of ["read", "write"]) {
    if (everything(k)) continue;
    const own = ownOf(k).map((p) => resolve(ctx.root, p));
    for (const { path } of argumentPaths(ctx)) {
      if (own.some((o) => within(path, o)) || !ctx.granted?.(k, path)) continue;
      const list = added.get(k) ?? [];
      if (!list.includes(path)) added.set(k, [path, ...list]);
    }
  }
  const order = (k: string) => ["read", "write"].includes(k) ? k : `~${k}`;
  const flags = [...added].filter(([k]) => !everything(k)).sort(([a], [b]) => order(a).localeCompare(order(b))).map(
    ([k, values]) => {
      const own = ownOf(k).map((p) => PATH_KINDS.has(k) && !atRoot && !isAbsolute(p) ? join(ctx.root, p) : p);
      return `--allow-${k}=${[...own, ...values].map(shellQuote).join(",")}`;
    },
  );
  const script = atRoot ? relative(ctx.root, ctx.script) : ctx.script;
  const config = atRoot ? [] : ["--config", join(ctx.root, "deno.json")];
  return [
    "deno run",
    set ? `-P=${set}` : "…",
    ...flags,
    ...config.map(shellQuote),
    shellQuote(script),
    ...args.map(shellQuote),
  ].join(" ");
}

/** The project root: two folders above this module (lib/cli/). */
const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** {@link HintContext} of this process; deno.json is read only if the script may read it. */
export function hintContext(): HintContext {
  let config: HintContext["config"] = {};
  try {
    config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  } catch {
    // no read access to the project (or no deno.json): the hint names no set
  }
  const script = Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : Deno.mainModule;
  const granted = (kind: string, path: string) =>
    Deno.permissions.querySync({ name: kind as "read" | "write", path }).state === "granted";
  return { root: ROOT, cwd: Deno.cwd(), script, args: Deno.args, config, granted };
}

/**
 * The command that starts another Deno process: this Deno's own executable
 * when the run permission allows it, else `deno` from PATH. A permission set
 * can only name `deno`, which Deno resolves through PATH without following
 * links, so it does not cover `Deno.execPath()` when `deno` is a link (as
 * `npm install -g deno` makes it).
 */
export function denoCommand(): string {
  const exe = Deno.execPath();
  return Deno.permissions.querySync({ name: "run", command: exe }).state === "granted" ? exe : "deno";
}

/** Paths a script started by {@link scriptArgs} may use besides its set's. */
export interface ExtraPaths {
  /** Folders or files it may read (e.g. the data a run was given). */
  read?: string[];
  /** Folders it may read and write (e.g. an output folder outside the project). */
  write?: string[];
}

/**
 * `deno run` arguments that start `script` under the permission set its task
 * uses (`-P=<set>`, the experiments' set for a script without a task), with
 * the `extra` paths added: a flag next to `-P` replaces the set's list, so the
 * set's own paths are repeated (made absolute).
 *
 * @example
 * ```ts
 * const args = scriptArgs("/p/tools/report.ts", ["--dir", "/tmp/r"], { write: ["/tmp/r"] });
 * // ["run", "-P=report", "--allow-read=/p,/tmp/r", "--allow-write=/p/reports,/p/.cache,/tmp/r",
 * //  "--config", "/p/deno.json", "/p/tools/report.ts", "--dir", "/tmp/r"]
 * ```
 */
export function scriptArgs(script: string, args: string[], extra: ExtraPaths = {}): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  const set = setOfScript({ root: ROOT, cwd: ROOT, script: resolve(script), args: [], config }) ?? "experiment";
  const perms = (config.permissions?.[set] ?? {}) as Record<string, unknown>;
  const writes = (extra.write ?? []).map((p) => resolve(p));
  const added = { read: [...(extra.read ?? []).map((p) => resolve(p)), ...writes], write: writes };
  const grants = (["read", "write"] as const).map((kind) => {
    const own = perms[kind];
    if (added[kind].length === 0 || own === true) return undefined; // nothing to add, or everything already
    const paths = Array.isArray(own) ? own.map((p) => isAbsolute(p) ? p : join(ROOT, p)) : [];
    return `--allow-${kind}=${[...paths, ...added[kind]].join(",")}`;
  }).filter((f): f is string => f !== undefined);
  return ["run", `-P=${set}`, ...grants, "--config", join(ROOT, "deno.json"), resolve(script), ...args];
}
