/**
 * The training progress line and its reader live together in
 * `lib/train/progress.ts`: what `formatProgressLine` prints, `parseEta` reads
 * back to the second, so `deno task main`'s ETA follows the line's format.
 *
 * @module
 */
import assert from "node:assert/strict";
import { estimateEta, formatProgressLine, parseEta, parseTotalEta, type ProgressState } from "../lib/train/progress.ts";

Deno.test("the progress line's ETAs read back as the seconds it printed, from seconds to hours", () => {
  // Under an hour the line prints whole seconds; from an hour on, whole minutes.
  const cases: [ProgressState, number, number][] = [
    [{ epoch: 1, epochs: 1, done: 100, total: 400, epochSeconds: 10 }, 30, 30],
    [{ epoch: 2, epochs: 4, done: 896, total: 2800, epochSeconds: 33.8, meanEpochSeconds: 110 }, 72, 292],
    [{ epoch: 3, epochs: 40, done: 1280, total: 28709, epochSeconds: 24.6, loss: 1.234, acc: 0.512 }, 527, 20940],
  ];
  for (const [state, epoch, total] of cases) {
    const line = formatProgressLine(state);
    const eta = estimateEta(state);
    assert.equal(Math.abs(eta.epoch - epoch) < 1, true, `${line}: epoch ETA ${eta.epoch}`);
    const read = parseEta(line);
    assert.equal(read?.epoch, epoch, line);
    assert.equal(read?.total, total, line);
    assert.equal(parseTotalEta(line), total, line);
  }
});

Deno.test("a line without an ETA reads back as none", () => {
  assert.equal(parseEta("epoch 1/3  loss 0.7 acc 0.5  val_loss 0.6 val_acc 0.6  lr 1e-3  2.0s"), undefined);
});
