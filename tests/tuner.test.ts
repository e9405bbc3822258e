/** The tuner: search spaces, RandomSearch and Hyperband oracles, the resumable search. */
import assert from "node:assert/strict";
import { makeRng } from "../lib/rng.ts";
import { hyperband, hyperbandSchedule, randomSearch } from "../lib/tuner/oracles.ts";
import { search, SearchError } from "../lib/tuner/search.ts";
import { hp, sample, SearchSpaceError } from "../lib/tuner/space.ts";

Deno.test("Hyperband's brackets and rungs follow the paper (Li et al. 2018, Table 1: R = 81, η = 3)", () => {
  const table = hyperbandSchedule(81, 3).map((b) => [b.s, b.rungs.map((r) => [r.configs, r.epochs])]);
  assert.deepEqual(table, [
    [4, [[81, 1], [27, 3], [9, 9], [3, 27], [1, 81]]],
    [3, [[34, 3], [11, 9], [3, 27], [1, 81]]],
    [2, [[15, 9], [5, 27], [1, 81]]],
    [1, [[8, 27], [2, 81]]],
    [0, [[5, 81]]],
  ]);
  // R = 9, η = 3 (the schedule experiment 02 uses)
  assert.deepEqual(hyperbandSchedule(9, 3).map((b) => b.rungs.map((r) => [r.configs, r.epochs])), [
    [[9, 1], [3, 3], [1, 9]],
    [[5, 3], [1, 9]],
    [[3, 9]],
  ]);
  assert.throws(() => hyperbandSchedule(9, 1), SearchSpaceError);
  // what an oracle announces for progress: 22 trials, 78 trial-epochs for R = 9
  assert.deepEqual(hyperband({ x: hp.float(0, 1) }, { maxEpochs: 9, seed: 1 }).planned, { trials: 22, epochs: 78 });
});

Deno.test("Hyperband promotes the best ⌊n/η⌋ of each rung to η× the epochs", () => {
  const space = { x: hp.float(0, 1) };
  const plan = hyperband(space, { maxEpochs: 9, factor: 3, seed: 1 }).plan();
  const asked: { x: number; epochs: number; bracket?: number; rung?: number }[] = [];
  let step = plan.next();
  while (!step.done) {
    asked.push({
      x: step.value.values.x,
      epochs: step.value.epochs,
      bracket: step.value.bracket,
      rung: step.value.rung,
    });
    step = plan.next(step.value.values.x); // score = x: larger x is better
  }
  const rung = (b: number, r: number) => asked.filter((a) => a.bracket === b && a.rung === r);
  assert.equal(asked.length, 9 + 3 + 1 + 5 + 1 + 3);
  const first = rung(2, 0).map((a) => a.x);
  const top3 = [...first].sort((a, b) => b - a).slice(0, 3);
  assert.deepEqual(rung(2, 1).map((a) => a.x).sort(), [...top3].sort());
  assert.deepEqual(rung(2, 1).map((a) => a.epochs), [3, 3, 3]);
  assert.deepEqual(rung(2, 2).map((a) => [a.x, a.epochs]), [[top3[0], 9]]);
  assert.deepEqual(rung(1, 1).map((a) => a.x), [Math.max(...rung(1, 0).map((a) => a.x))]);
  assert.deepEqual(rung(0, 0).map((a) => a.epochs), [9, 9, 9]);
});

Deno.test("search spaces: int grids, log floats, choices, booleans, fixed values", () => {
  const space = {
    filters: hp.int(16, 64, { step: 16 }),
    lr: hp.float(1e-4, 1e-1, { sampling: "log" }),
    drop: hp.float(0, 0.5, { step: 0.1 }),
    dense: hp.choice([64, 128, 256]),
    bn: hp.boolean(),
    pool: hp.fixed("max"),
  };
  const rng = makeRng(3);
  const draws = Array.from({ length: 400 }, () => sample(space, rng));
  assert.deepEqual([...new Set(draws.map((d) => d.filters))].sort((a, b) => a - b), [16, 32, 48, 64]);
  assert.ok(draws.every((d) => d.lr >= 1e-4 && d.lr <= 1e-1));
  // log-uniform: about a third of the draws per decade
  const lowDecade = draws.filter((d) => d.lr < 1e-3).length / draws.length;
  assert.ok(lowDecade > 0.25 && lowDecade < 0.42, `share below 1e-3: ${lowDecade}`);
  assert.deepEqual([...new Set(draws.map((d) => d.drop))].sort(), [0, 0.1, 0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual([...new Set(draws.map((d) => d.dense))].sort((a, b) => a - b), [64, 128, 256]);
  assert.deepEqual([...new Set(draws.map((d) => d.bn))].sort(), [false, true]);
  assert.ok(draws.every((d) => d.pool === "max"));
  assert.throws(() => hp.int(5, 1), SearchSpaceError);
  assert.throws(() => hp.float(0, 1, { sampling: "log" }), SearchSpaceError);
  assert.throws(() => hp.choice([]), SearchSpaceError);
});

/** A toy objective with its optimum at filters = 48, lr = 1e-3; more epochs help a little. */
const toySpace = { filters: hp.int(8, 128, { step: 8 }), lr: hp.float(1e-5, 1e-1, { sampling: "log" }) };
function toyHistory(v: { filters: number; lr: number }, epochs: number): Record<string, number>[] {
  const q = -(((v.filters - 48) / 40) ** 2) - (Math.log10(v.lr) + 3) ** 2;
  return Array.from({ length: epochs }, (_, i) => ({ valLoss: -q + 1 / (i + 2) }));
}

async function tempDir() {
  return await Deno.makeTempDir({ prefix: "ferlab-tuner-" });
}

Deno.test("a random search on a toy objective lands in the optimum region", async () => {
  const result = await search({
    oracle: randomSearch(toySpace, { maxTrials: 60, epochs: 2, seed: 7 }),
    objective: { name: "valLoss", direction: "min" },
    dir: await tempDir(),
    runTrial: (values, { epochs }) => Promise.resolve(toyHistory(values, epochs)),
    log: () => {},
  });
  assert.equal(result.trials.length, 60);
  const { filters, lr } = result.best.values;
  assert.ok(Math.abs(filters - 48) <= 24, `filters ${filters}`);
  assert.ok(lr > 1e-3 / 4 && lr < 1e-3 * 4, `lr ${lr}`);
  assert.equal(result.best.bestEpoch, 2); // the objective's best epoch, not the last one by accident
  // the winner is the minimum over every trial
  assert.equal(result.best.score, Math.min(...result.trials.map((t) => t.score)));
});

Deno.test("Hyperband on the toy objective finds the optimum region with fewer epochs than random search", async () => {
  let epochs = 0;
  const result = await search({
    oracle: hyperband(toySpace, { maxEpochs: 9, factor: 3, seed: 11, iterations: 2 }),
    objective: { name: "valLoss", direction: "min" },
    dir: await tempDir(),
    runTrial: (values, ctx) => {
      epochs += ctx.epochs;
      return Promise.resolve(toyHistory(values, ctx.epochs));
    },
    log: () => {},
  });
  assert.equal(result.trials.length, 2 * 22);
  assert.ok(epochs < 44 * 9);
  const { filters, lr } = result.best.values;
  assert.ok(Math.abs(filters - 48) <= 32 && lr > 1e-3 / 6 && lr < 1e-3 * 6, JSON.stringify(result.best.values));
});

Deno.test("a resumed search skips finished trials and ends exactly like an uninterrupted one", async () => {
  for (
    const make of [
      () => randomSearch(toySpace, { maxTrials: 8, epochs: 2, seed: 5 }),
      () => hyperband(toySpace, { maxEpochs: 9, factor: 3, seed: 5 }),
    ]
  ) {
    const objective = { name: "valLoss", direction: "min" } as const;
    const whole = await search({
      oracle: make(),
      objective,
      dir: await tempDir(),
      runTrial: (v, c) => Promise.resolve(toyHistory(v, c.epochs)),
      log: () => {},
    });
    const dir = await tempDir();
    const ran: number[] = [];
    const runTrial = (v: { filters: number; lr: number }, c: { number: number; epochs: number }) => {
      ran.push(c.number);
      return Promise.resolve(toyHistory(v, c.epochs));
    };
    const cut = await search({
      oracle: make(),
      objective,
      dir,
      runTrial,
      shouldStop: () => ran.length >= 5,
      log: () => {},
    });
    assert.equal(cut.complete, false);
    assert.equal(cut.trials.length, 5);
    ran.length = 0;
    const resumed = await search({ oracle: make(), objective, dir, runTrial, log: () => {} });
    assert.equal(resumed.complete, true);
    assert.equal(resumed.replayed, 5);
    assert.deepEqual(ran, Array.from({ length: whole.trials.length - 5 }, (_, i) => i + 5));
    const strip = (ts: typeof whole.trials) => ts.map((t) => [t.values, t.epochs, t.score]);
    assert.deepEqual(strip(resumed.trials), strip(whole.trials));
    assert.equal(resumed.best.number, whole.best.number);
  }
});

Deno.test("trials of another search in the same folder are refused, not mixed in", async () => {
  const dir = await tempDir();
  const objective = { name: "valLoss", direction: "min" } as const;
  const runTrial = (v: { filters: number; lr: number }, c: { epochs: number }) =>
    Promise.resolve(toyHistory(v, c.epochs));
  await search({
    oracle: randomSearch(toySpace, { maxTrials: 2, epochs: 1, seed: 1 }),
    objective,
    dir,
    runTrial,
    log: () => {},
  });
  await assert.rejects(
    search({
      oracle: randomSearch(toySpace, { maxTrials: 2, epochs: 1, seed: 2 }),
      objective,
      dir,
      runTrial,
      log: () => {},
    }),
    (e) => e instanceof SearchError && /trial_000\.json.*other hyper-parameters/.test(e.message),
  );
});

Deno.test("a search out of time still runs one new trial per call, so resuming always makes progress", async () => {
  const dir = await tempDir();
  const objective = { name: "valLoss", direction: "min" } as const;
  const runTrial = (v: { filters: number; lr: number }, c: { epochs: number }) =>
    Promise.resolve(toyHistory(v, c.epochs));
  const oracle = () => randomSearch(toySpace, { maxTrials: 3, epochs: 1, seed: 4 });
  const counts = [];
  for (let call = 0; call < 3; call++) {
    const r = await search({ oracle: oracle(), objective, dir, runTrial, shouldStop: () => true, log: () => {} });
    counts.push([r.trials.length, r.replayed, r.complete]);
  }
  assert.deepEqual(counts, [[1, 0, false], [2, 1, false], [3, 2, true]]);
});
