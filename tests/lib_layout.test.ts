/**
 * `lib/README.md` draws `lib/`'s rooms and what each may import; these tests
 * read its table and hold every relative import in `lib/` to it, so the
 * drawing cannot drift from the code.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";

const LIB = new URL("../lib/", import.meta.url).pathname;

/** Rooms are a file's first folder under `lib/` (`train/`), or `*.ts` for a file directly in `lib/`. */
function roomOf(file: string): string {
  const rel = relative(LIB, file);
  return rel.includes("/") ? `${rel.split("/")[0]}/` : "*.ts";
}

/** The README's table: room → the rooms (or single files, `eval/tta.ts`) it may import. */
export function parseRooms(markdown: string): Map<string, string[]> {
  const rooms = new Map<string, string[]>();
  for (const line of markdown.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 5 || !/^`[^`]+`$/.test(cells[1])) continue;
    rooms.set(cells[1].slice(1, -1), [...cells[3].matchAll(/`([^`]+)`/g)].map((m) => m[1]));
  }
  return rooms;
}

/** The relative module specifiers a TypeScript source imports or re-exports, static or dynamic. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found = [
    ...code.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm),
    ...code.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1]);
  return found.filter((s) => s.startsWith("."));
}

function* tsFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(path);
    else if (e.isFile && e.name.endsWith(".ts")) yield path;
  }
}

const rooms = parseRooms(await Deno.readTextFile(join(LIB, "README.md")));

Deno.test("lib/README.md draws a row for every room in lib/", () => {
  const actual = new Set([...tsFiles(LIB)].map(roomOf));
  const undrawn = [...actual].filter((r) => !rooms.has(r));
  assert.deepEqual(undrawn, [], `rooms without a row in lib/README.md: ${undrawn.join(", ")}`);
  // Every room a row allows must exist, or the drawing names rooms that are gone.
  const named = new Set([...rooms.values()].flat());
  const missing = [...named].filter((r) => r !== "*.ts" && (r.endsWith("/") ? !actual.has(r) : !exists(r)));
  assert.deepEqual(missing, [], `lib/README.md allows imports from what is not there: ${missing.join(", ")}`);
});

function exists(relPath: string): boolean {
  try {
    return Deno.statSync(join(LIB, relPath)).isFile;
  } catch {
    return false;
  }
}

Deno.test("every import in lib/ goes where lib/README.md allows", async () => {
  const wrong: string[] = [];
  for (const file of tsFiles(LIB)) {
    const from = roomOf(file);
    const allowed = rooms.get(from) ?? [];
    for (const spec of importsOf(await Deno.readTextFile(file))) {
      const target = join(dirname(file), spec);
      if (!target.startsWith(LIB)) {
        wrong.push(`${relative(LIB, file)} imports ${spec}, outside lib/`);
        continue;
      }
      const to = roomOf(target);
      if (to === from || allowed.includes(to) || allowed.includes(relative(LIB, target))) continue;
      wrong.push(`${relative(LIB, file)} (${from}) imports ${relative(LIB, target)} (${to})`);
    }
  }
  assert.deepEqual(wrong, [], `imports the drawing does not allow:\n${wrong.join("\n")}`);
});

Deno.test("the import reader sees static, multi-line, re-exported and dynamic imports, and not comments", () => {
  const source = [
    `import * as tf from "@tensorflow/tfjs";`,
    `import { a,`,
    `  b } from "../data/batches.ts";`,
    `export { c } from "./c.ts";`,
    `import type { D } from "../eval/tta.ts";`,
    `// import { e } from "../harness/e.ts";`,
    `/** @example import { f } from "../f.ts"; */`,
    `const g = await import("../g.ts");`,
  ].join("\n");
  assert.deepEqual(importsOf(source), ["../data/batches.ts", "./c.ts", "../eval/tta.ts", "../g.ts"]);
});
