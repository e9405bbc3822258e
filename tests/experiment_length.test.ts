/**
 * Every experiment script stays a page a newcomer reads top to bottom: at
 * most 90 lines of code (comments and blank lines not counted), so the
 * settings table, the layers and the training call fit on one screen and a
 * new piece of machinery goes to lib/ instead.
 */
import assert from "node:assert/strict";

const MAX_CODE_LINES = 90;

/** Lines that hold code: not blank, not only a `//` comment, not inside a block comment. */
function codeLines(source: string): number {
  let inBlock = false;
  let n = 0;
  for (const raw of source.split("\n")) {
    let line = raw.trim();
    if (inBlock) {
      const end = line.indexOf("*/");
      if (end < 0) continue;
      inBlock = false;
      line = line.slice(end + 2).trim();
    }
    if (line.startsWith("/*")) {
      const end = line.indexOf("*/", 2);
      if (end < 0) {
        inBlock = true;
        continue;
      }
      line = line.slice(end + 2).trim();
    }
    if (line !== "" && !line.startsWith("//")) n++;
  }
  return n;
}

Deno.test("codeLines counts code, not comments or blank lines", () => {
  const source = [
    "/**",
    " * A header.",
    " */",
    "import x from 'y';",
    "",
    "// why",
    "const a = 1; // trailing comments count with their code",
    "/* one line */",
    "/* opens */ const b = 2;",
  ].join("\n");
  assert.equal(codeLines(source), 3);
});

Deno.test(`every experiment script has at most ${MAX_CODE_LINES} lines of code`, async () => {
  const dir = new URL("../experiments/", import.meta.url);
  const over: string[] = [];
  let scripts = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !/^\d\d_.*\.ts$/.test(entry.name)) continue;
    scripts++;
    const n = codeLines(await Deno.readTextFile(new URL(entry.name, dir)));
    if (n > MAX_CODE_LINES) over.push(`${entry.name}: ${n} lines of code`);
  }
  assert.ok(scripts >= 6, `found only ${scripts} experiment scripts in ${dir.pathname}`);
  assert.deepEqual(over, [], `over ${MAX_CODE_LINES} lines of code (move machinery to lib/)`);
});
