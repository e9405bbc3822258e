/**
 * Test accuracy by FER2013 Usage, whatever the split: the official protocol's
 * number is PublicTest (the yardstick's and most published results'), and
 * when the data has PrivateTest rows the report gives them too. Each is
 * scored plain and with flip TTA.
 *
 * With PrivateTest present, the project's official split validates on
 * PublicTest after every epoch; a budgeted run selects nothing on it (no
 * early stopping, no best-epoch weights), so PublicTest stays a clean test.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type Fer2013, type Usage, USAGES } from "../data/fer2013.ts";
import { averageProbabilities, gatherImages } from "../eval/ensemble.ts";
import { evaluateProbabilities, predictProbabilities, type ProbabilisticEvaluation } from "../eval/metrics.ts";
import { transformImages, ttaViews } from "../eval/tta.ts";
import { modelInput } from "../models/input_spec.ts";
import { fmtInt, mdTable, pct } from "../report/markdown.ts";

/** Accuracy on one Usage's rows, plain and with flip TTA. */
export interface UsageTest {
  n: number;
  plain: number;
  flip: number;
  macroF1: number;
  nll: number;
}

/** The Usages a report scores: the two test parts of FER2013. */
const TEST_USAGES: Usage[] = ["PublicTest", "PrivateTest"];

/**
 * The model scored on `rows` as it is and with flip TTA (eval's two "flip" views, averaged): one pass over each view,
 * where `evaluateEnsemble` would need a third for the plain score. A model trained on crops sees the centre crop.
 */
export async function evaluateWithFlip(
  model: tf.LayersModel,
  data: { pixels: Uint8Array; labels: Uint8Array },
  rows: ArrayLike<number>,
): Promise<{ plain: ProbabilisticEvaluation; flip: ProbabilisticEvaluation }> {
  const input = modelInput(model);
  const k = model.outputs[0].shape.at(-1)!;
  const truth = Int32Array.from({ length: rows.length }, (_, i) => data.labels[rows[i]]);
  const images = gatherImages(data.pixels, rows, input.imageSize);
  const order = Int32Array.from({ length: rows.length }, (_, i) => i);
  const views: Float32Array[] = [];
  for (const v of ttaViews("flip", input)) {
    const shown = transformImages(images, input.imageSize, v);
    views.push(await predictProbabilities(model, shown, order, 256, v.size ?? input.imageSize));
  }
  return {
    plain: evaluateProbabilities(truth, views[0], k),
    flip: evaluateProbabilities(truth, averageProbabilities(views), k),
  };
}

/** Scores `model` on every test Usage that `data` has rows of. */
export async function testsByUsage(model: tf.LayersModel, data: Fer2013): Promise<Partial<Record<Usage, UsageTest>>> {
  const out: Partial<Record<Usage, UsageTest>> = {};
  for (const usage of TEST_USAGES) {
    const code = USAGES.indexOf(usage);
    const rows: number[] = [];
    for (let i = 0; i < data.n; i++) if (data.usage[i] === code) rows.push(i);
    if (rows.length === 0) continue;
    const { plain, flip } = await evaluateWithFlip(model, data, rows);
    out[usage] = {
      n: rows.length,
      plain: plain.accuracy,
      flip: flip.accuracy,
      macroF1: plain.macroF1,
      nll: plain.calibration.nll,
    };
  }
  return out;
}

/** A Markdown section of {@link testsByUsage}, saying which parts are absent. */
export function usageSection(tests: Partial<Record<Usage, UsageTest>>): string {
  const rows = TEST_USAGES.flatMap((u) => {
    const t = tests[u];
    return t ? [[u, fmtInt(t.n), pct(t.plain), pct(t.flip), pct(t.macroF1), t.nll.toFixed(4)]] : [];
  });
  const absent = TEST_USAGES.filter((u) => !tests[u]);
  return [
    "## Test accuracy by FER2013 Usage",
    "",
    rows.length
      ? mdTable(["usage", "images", "accuracy", "with flip TTA", "macro-F1", "NLL"], rows)
      : "The data has no PublicTest or PrivateTest rows (the split's own test rows are scored above).",
    absent.length ? `\nNot in this data: ${absent.join(", ")}.` : "",
  ].join("\n");
}
