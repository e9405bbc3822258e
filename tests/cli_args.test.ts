import assert from "node:assert/strict";
import {
  COMMON_DEFAULTS,
  type CommonConfig,
  flagName,
  num,
  parseFlags,
  resolveConfig,
  text,
  usage,
  UsageError,
} from "../lib/cli/args.ts";
import { UserError } from "../lib/errors.ts";

interface Cfg extends CommonConfig {
  lr: number;
  augment: string;
}
const DEFAULTS: Cfg = { ...COMMON_DEFAULTS, lr: 0.001, augment: "flip" };
const QUICK: Partial<Cfg> = { epochs: 2, limitTrain: 100 };
const SETTINGS = { lr: num(0.001, "lr"), augment: text("flip", "aug") };
const resolve = (argv: string[]) => resolveConfig(argv, "exp:test", SETTINGS, QUICK);

Deno.test("defaults apply when no flags are given", () => {
  assert.deepEqual(resolve([]), DEFAULTS);
});

Deno.test("--quick applies its profile and explicit flags override it", () => {
  const c = resolve(["--quick", "--epochs", "5", "--batch-size", "32", "--lr", "0.01", "--augment", "none"])!;
  assert.equal(c.quick, true);
  assert.equal(c.limitTrain, 100); // from the quick profile
  assert.equal(c.epochs, 5); // flag beats profile
  assert.equal(c.batchSize, 32);
  assert.equal(c.lr, 0.01);
  assert.equal(c.augment, "none");
});

Deno.test("kebab-case flags map to camelCase keys", () => {
  assert.equal(flagName("batchSize"), "batch-size");
  assert.equal(flagName("maxMinutes"), "max-minutes");
  const c = resolve(["--max-minutes", "7", "--skip-bad", "--protocol", "official", "--backend", "cpu"])!;
  assert.equal(c.maxMinutes, 7);
  assert.equal(c.skipBad, true);
  assert.equal(c.protocol, "official");
  assert.equal(c.backend, "cpu");
});

Deno.test("bad command lines are usage errors that say what is wrong", () => {
  assert.throws(
    () => resolve(["--epochs", "ten"]),
    (e) => e instanceof UsageError && /--epochs expects a number, got "ten"/.test(e.message),
  );
  assert.throws(
    () => resolve(["--epochs", "0"]),
    (e) => e instanceof UsageError && /--epochs must be a positive integer/.test(e.message),
  );
  assert.throws(
    () => resolve(["--protocol", "kaggle"]),
    (e) => e instanceof UsageError && /--protocol must be one of study, official/.test(e.message),
  );
  assert.throws(
    () => resolve(["--backend", "tpu"]),
    (e) => e instanceof UsageError && /--backend must be one of/.test(e.message),
  );
  assert.throws(
    () => resolve(["--no-such-flag"]),
    (e) => e instanceof UsageError && /no-such-flag/.test(e.message) && /Usage: deno task exp:test/.test(e.message),
  );
});

Deno.test("parseFlags: tools' flags with choices, required values and a positional", () => {
  const flags = {
    model: { type: "string" as const, help: "model", required: true },
    usage: { type: "string" as const, help: "usage", choices: ["", "Training", "PublicTest"] },
    batchSize: { type: "number" as const, help: "batch", positiveInt: true },
    out: { type: "string" as const, help: "out" },
  };
  const defaults = { model: "", usage: "", batchSize: 256, out: "a.png" };
  const parse = (argv: string[]) => parseFlags(argv, "deno task tool", flags, defaults, { positional: "out" });
  assert.deepEqual(parse(["--model", "m", "b.png"]), { model: "m", usage: "", batchSize: 256, out: "b.png" });
  assert.deepEqual(parse(["--model", "m", "--usage", "Training", "--batch-size", "8"]), {
    model: "m",
    usage: "Training",
    batchSize: 8,
    out: "a.png",
  });
  assert.throws(() => parse([]), (e) => e instanceof UsageError && /--model is required/.test(e.message));
  assert.throws(
    () => parse(["--model", "m", "--usage", "Private"]),
    (e) => e instanceof UsageError && /--usage must be one of Training, PublicTest, got "Private"/.test(e.message),
  );
  assert.throws(
    () => parse(["--model", "m", "x", "y"]),
    (e) => e instanceof UsageError && /one out expected/.test(e.message),
  );
  // without a declared positional, a stray word is an error
  assert.throws(() => parseFlags(["stray"], "deno task t", {}, {}), UsageError);
  // every user error shares one base class
  assert.ok(new UsageError("x") instanceof UserError);
  assert.equal(new UsageError("x").name, "UsageError");
});

Deno.test("parseFlags: repeated flags, several positionals and a -- pass-through", () => {
  const flags = {
    model: { type: "string" as const, help: "model folder", multiple: true },
    top: { type: "number" as const, help: "top" },
  };
  const defaults = { model: [] as string[], top: 3, images: [] as string[], rest: [] as string[] };
  const parse = (argv: string[]) =>
    parseFlags(argv, "deno task tool", flags, defaults, {
      positional: "images",
      positionalRequired: true,
      passThrough: "rest",
      about: "Predicts things.",
    });
  assert.deepEqual(parse(["a.png", "--model", "m1", "b.png", "--model", "m2", "--", "--epochs", "1", "c.png"]), {
    model: ["m1", "m2"],
    top: 3,
    images: ["a.png", "b.png"],
    rest: ["--epochs", "1", "c.png"],
  });
  assert.deepEqual(parse(["a.png"]), { model: [], top: 3, images: ["a.png"], rest: [] });
  // flags after -- are not parsed, so unknown ones pass through untouched
  assert.deepEqual(parse(["a.png", "--", "--no-such-flag"])!.rest, ["--no-such-flag"]);
  assert.throws(
    () => parse(["--model", "m", "--", "a.png"]),
    (e) => e instanceof UsageError && /^no images given\n/.test(e.message) && /Usage: deno task tool/.test(e.message),
  );
  assert.throws(
    () => parse(["a.png", "--top", "x"]),
    (e) => e instanceof UsageError && /--top expects a number/.test(e.message),
  );
  // a repeatable flag that is required must be given at least once
  const req = { model: { ...flags.model, required: true } };
  assert.throws(
    () => parseFlags([], "deno task eval", req, { model: [] as string[] }),
    (e) => e instanceof UsageError && /--model is required/.test(e.message),
  );
  assert.deepEqual(parseFlags(["--model", "x"], "deno task eval", req, { model: [] as string[] }), { model: ["x"] });
  // one place writes the usage: the repeatable flag, the positional, the pass-through and the about text
  const text = usage("deno task tool", flags, defaults, " <images>... [-- <rest>...]", "Predicts things.");
  assert.match(text, /^Usage: deno task tool \[flags\] <images>\.\.\. \[-- <rest>\.\.\.\]\n/);
  assert.match(text, /--model <string> +model folder \(repeatable\)\n/);
  assert.match(text, /--top <number> +top \(default 3\)/);
  assert.match(text, /this text\n\nPredicts things\.$/);
  const log = console.log;
  let printed = "";
  console.log = (m: string) => printed += m;
  try {
    assert.equal(parse(["--help"]), null);
  } finally {
    console.log = log;
  }
  assert.equal(printed, text);
});
