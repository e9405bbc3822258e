/** Number flags declared with an interval or as whole numbers: checked where they are declared, one line when wrong. */
import assert from "node:assert/strict";
import { type Flags, inRange, parseFlags, usage, UsageError } from "../lib/cli/args.ts";

const FLAGS: Flags = {
  factor: { type: "number", help: "a factor", range: "(0, 1)" },
  smoothing: { type: "number", help: "smoothing", range: "[0, 1)" },
  decay: { type: "number", help: "decay", range: "[0, inf)" },
  patience: { type: "number", help: "patience", integer: true, range: "[0, inf)" },
};
const DEFAULTS = { factor: 0.5, smoothing: 0, decay: 5e-4, patience: 20 };

Deno.test("inRange reads brackets as inclusive and parentheses as exclusive bounds", () => {
  assert.equal(inRange(0, "[0, 1)"), true);
  assert.equal(inRange(1, "[0, 1)"), false);
  assert.equal(inRange(1, "[0, 1]"), true);
  assert.equal(inRange(0, "(0, 1)"), false);
  assert.equal(inRange(1e9, "[0, inf)"), true);
  assert.equal(inRange(-1e9, "(-inf, 0]"), true);
  assert.equal(inRange(-0.001, "[0, inf)"), false);
  assert.throws(() => inRange(0, "0..1"), /malformed flag range/);
});

Deno.test("a number outside its declared range or not whole is a one-line UsageError naming the flag", () => {
  const parse = (...argv: string[]) => parseFlags(argv, "deno task x", FLAGS, DEFAULTS);
  assert.deepEqual(parse("--factor", "0.75", "--patience", "0"), { ...DEFAULTS, factor: 0.75, patience: 0 });
  for (
    const [argv, message] of [
      [["--factor", "2"], "--factor must be in (0, 1), got 2"],
      [["--factor", "0"], "--factor must be in (0, 1), got 0"],
      [["--smoothing", "1"], "--smoothing must be in [0, 1), got 1"],
      [["--decay=-0.1"], "--decay must be in [0, inf), got -0.1"],
      [["--patience", "2.5"], "--patience must be a whole number, got 2.5"],
    ] as const
  ) {
    assert.throws(() => parse(...argv), (e) => e instanceof UsageError && e.message === message, message);
  }
  assert.match(usage("deno task x", FLAGS, DEFAULTS), /--factor <number> +a factor, in \(0, 1\) \(default 0\.5\)/);
});
