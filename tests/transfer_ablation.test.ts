/**
 * What experiment 04 keeps across sessions besides its checkpoints: the
 * ablation's finished rows (each written as it ends; a resumed ablation
 * re-uses those of the same variant and numbers of rows instead of running
 * them again) and phase 2's memory peak (the highest over all sessions).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { peakOverSessions } from "../lib/transfer/memory.ts";
import { type AblationOptions, type AblationVariant, runAblation } from "../lib/transfer/phases.ts";
import { writeTinyGraphModel } from "./helpers/transfer_fixtures.ts";

await tf.setBackend("cpu");

const tmp = await Deno.makeTempDir({ prefix: "ferlab-ablation-" });
const backbone = join(tmp, "tiny-graph");
await Deno.mkdir(backbone);
await writeTinyGraphModel(backbone);

const data = makeSyntheticFer2013({ n: 60, seed: 4 });
const variant = (label: string, size: number): AblationVariant => ({
  label,
  backbone,
  model: { size, fineTuneBlocks: 0, freezeBatchNorm: true, dropout: 0 },
  fineTuneEpochs: 0,
});
const options = (resultsPath: string, lines: string[], trainRows = 40): AblationOptions => ({
  data,
  trainRows: Int32Array.from({ length: trainRows }, (_, i) => i),
  valRows: Int32Array.from({ length: 20 }, (_, i) => 40 + i),
  headEpochs: 2,
  headBatchSize: 16,
  batchSize: 16,
  microBatch: 16,
  headLr: 1e-3,
  lr: 1e-4,
  seed: 1,
  log: (l) => lines.push(l),
  resultsPath,
});

Deno.test("a resumed ablation keeps the variants already done and runs only the rest", async () => {
  const path = join(tmp, "ablation.json");
  const first: string[] = [];
  const [a16] = await runAblation([variant("a", 16)], options(path, first));
  assert.equal(JSON.parse(await Deno.readTextFile(path)).length, 1, "each row is written as it ends");

  const second: string[] = [];
  const rows = await runAblation([variant("a", 16), variant("b", 24)], options(path, second));
  assert.deepEqual(rows[0], a16, "the finished row comes back as written");
  assert.ok(second.some((l) => /ablation: a already done/.test(l)), second.join("\n"));
  assert.ok(second.some((l) => l.startsWith("ablation: b (40 train / 20 val rows)")), second.join("\n"));
  assert.equal(rows[1].label, "b");
  assert.equal(rows[1].model.size, 24);
  assert.equal(JSON.parse(await Deno.readTextFile(path)).length, 2);

  // Other numbers of rows make other results: nothing is re-used
  const third: string[] = [];
  await runAblation([variant("a", 16)], options(path, third, 30));
  assert.ok(!third.some((l) => /already done/.test(l)), third.join("\n"));
});

Deno.test("phase 2's memory peak is the highest of every session; a fresh run forgets the old one", async () => {
  const path = join(tmp, "peak.json");
  const training = { rssBytes: 900, wasmHeapBytes: 300, tensorBytes: 60 };
  assert.deepEqual(await peakOverSessions(path, training, false), training);
  // a later session that only resumed the finished run used less memory in every respect
  const idle = { rssBytes: 700, wasmHeapBytes: 120, tensorBytes: 70 };
  assert.deepEqual(await peakOverSessions(path, idle, true), { rssBytes: 900, wasmHeapBytes: 300, tensorBytes: 70 });
  assert.deepEqual(await peakOverSessions(path, idle, false), idle);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), idle);
});

Deno.test({ name: "cleanup", fn: () => Deno.remove(tmp, { recursive: true }) });
