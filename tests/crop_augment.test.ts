/**
 * Random crops, random erasing and mixup, the training half of experiment
 * 06's recipe: seeded, in range, and what they claim to be on real tensors.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { AugmentError, NO_AUGMENT } from "../lib/data/augment.ts";
import { cropAugmentation, fitToInput, randomCropOffset, randomEraseBox } from "../lib/data/crops.ts";
import { makeRng } from "../lib/rng.ts";
import { mixBatch, sampleBeta } from "../lib/train/mixup.ts";

await tf.setBackend("cpu");

/** `b` images of side `s` with distinct values: image i, pixel (r, c) holds (i·s² + r·s + c) / 4096. */
function batch(b: number, s: number): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: b * s * s }, (_, j) => j / 4096), [b, s, s, 1]);
}

/** The offset (x, y) at which `out` (side c) is a window of `img` (side s), or null when it is none. */
function windowOf(img: Float32Array, s: number, out: Float32Array, c: number): [number, number] | null {
  for (let y = 0; y + c <= s; y++) {
    for (let x = 0; x + c <= s; x++) {
      let same = true;
      for (let r = 0; r < c && same; r++) {
        for (let q = 0; q < c && same; q++) same = Math.abs(out[r * c + q] - img[(y + r) * s + x + q]) < 1e-6;
      }
      if (same) return [x, y];
    }
  }
  return null;
}

Deno.test("random crop offsets are seeded, in range, and reach every position", () => {
  const draw = (seed: string) => {
    const rng = makeRng(seed);
    return Array.from({ length: 400 }, () => randomCropOffset(48, 44, rng));
  };
  const a = draw("a");
  assert.deepEqual(a, draw("a"));
  assert.notDeepEqual(a, draw("b"));
  assert.ok(
    a.every((o) => Number.isInteger(o.x) && Number.isInteger(o.y) && o.x >= 0 && o.y >= 0 && o.x <= 4 && o.y <= 4),
  );
  assert.equal(new Set(a.map((o) => `${o.x},${o.y}`)).size, 25, "all 5×5 window positions");
});

Deno.test("crop augmentation without a transform returns seeded windows of each image at the crop size", () => {
  const s = 12, c = 8, b = 6;
  const augment = cropAugmentation({ ...NO_AUGMENT, imageSize: s, cropSize: c, erasing: 0 });
  const x = batch(b, s);
  const run = (seed: string) => {
    const out = augment(x, makeRng(seed));
    const v = out.dataSync() as Float32Array;
    assert.deepEqual(out.shape, [b, c, c, 1]);
    out.dispose();
    return v;
  };
  const first = run("7");
  assert.deepEqual(first, run("7"), "same seed, same crops");
  assert.notDeepEqual(first, run("8"));
  const pixels = x.dataSync() as Float32Array;
  const offsets = Array.from({ length: b }, (_, i) => {
    const at = windowOf(pixels.subarray(i * s * s, (i + 1) * s * s), s, first.subarray(i * c * c, (i + 1) * c * c), c);
    assert.ok(at, `image ${i}: the output is not a window of its input`);
    return at.join(",");
  });
  assert.ok(new Set(offsets).size > 1, `windows differ between images: ${offsets}`);
  x.dispose();
});

Deno.test("with a flip, every crop is a window of the image or of its mirror", () => {
  const s = 10, c = 6, b = 8;
  const augment = cropAugmentation({ ...NO_AUGMENT, horizontalFlip: true, imageSize: s, cropSize: c, erasing: 0 });
  const x = batch(b, s);
  const out = augment(x, makeRng("flip")).dataSync() as Float32Array;
  const mirrored = tf.reverse(x, 2).dataSync() as Float32Array;
  const pixels = x.dataSync() as Float32Array;
  let flipped = 0;
  for (let i = 0; i < b; i++) {
    const o = out.subarray(i * c * c, (i + 1) * c * c);
    const plain = windowOf(pixels.subarray(i * s * s, (i + 1) * s * s), s, o, c);
    const mirror = windowOf(mirrored.subarray(i * s * s, (i + 1) * s * s), s, o, c);
    assert.ok(plain || mirror, `image ${i}`);
    if (mirror) flipped++;
  }
  assert.ok(flipped > 0 && flipped < b, `${flipped} of ${b} flipped`);
  x.dispose();
});

Deno.test("random erasing blacks out one rectangle of the torchvision size range, with the given probability", () => {
  const rng = makeRng("erase");
  const boxes = Array.from({ length: 300 }, () => randomEraseBox(44, 0.5, rng));
  const drawn = boxes.filter((b) => b !== null);
  assert.ok(drawn.length > 100 && drawn.length < 200, `${drawn.length} of 300 erased at p = 0.5`);
  for (const b of drawn) {
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 44 && b.y + b.h <= 44, JSON.stringify(b));
    const area = (b.w * b.h) / (44 * 44);
    // Rounding each side to whole pixels moves the area a little outside [0.02, 0.33].
    assert.ok(area > 0.01 && area < 0.4, `area ${area}`);
  }
  const never = makeRng("x");
  assert.ok(Array.from({ length: 50 }, () => randomEraseBox(44, 0, never)).every((b) => b === null));

  const augment = cropAugmentation({ ...NO_AUGMENT, imageSize: 12, cropSize: 8, erasing: 1 });
  const ones = tf.ones([4, 12, 12, 1]) as tf.Tensor4D;
  const out = augment(ones, makeRng("e"));
  const v = out.dataSync();
  for (let i = 0; i < 4; i++) {
    const zeros: [number, number][] = [];
    for (let j = 0; j < 64; j++) if (v[i * 64 + j] === 0) zeros.push([Math.floor(j / 8), j % 8]);
    assert.ok(zeros.length > 0, `image ${i} has an erased rectangle`);
    const rows = zeros.map(([r]) => r), cols = zeros.map(([, q]) => q);
    const h = Math.max(...rows) - Math.min(...rows) + 1, w = Math.max(...cols) - Math.min(...cols) + 1;
    assert.equal(zeros.length, h * w, `image ${i}: the zeros form one rectangle`);
  }
  tf.dispose([ones, out]);
});

Deno.test("crop augmentation leaks no tensors", () => {
  const augment = cropAugmentation({ ...NO_AUGMENT, rotationRange: 10, imageSize: 12, cropSize: 8, erasing: 0.5 });
  const x = batch(4, 12);
  const before = tf.memory().numTensors;
  augment(x, makeRng("m")).dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});

Deno.test("a crop size that cannot be centred, or images of another size, fail with one clear message", () => {
  for (const cropSize of [45, 48, 50, 0]) {
    assert.throws(
      () => cropAugmentation({ ...NO_AUGMENT, imageSize: 48, cropSize, erasing: 0 }),
      (e) => e instanceof AugmentError && /crop size must be .* got/.test(e.message),
    );
  }
  assert.throws(() => cropAugmentation({ ...NO_AUGMENT, imageSize: 48, cropSize: 44, erasing: 2 }), /erasing/);
  const augment = cropAugmentation({ ...NO_AUGMENT, imageSize: 48, cropSize: 44, erasing: 0 });
  const x = batch(1, 12);
  assert.throws(() => augment(x, makeRng("s")), /set up for 48-pixel images, got 12×12/);
  x.dispose();
});

Deno.test("fitToInput passes a batch of the input side through and centre-crops a larger one", () => {
  const x = batch(2, 6);
  assert.strictEqual(fitToInput(x, 6), x);
  const c = fitToInput(x, 4);
  assert.deepEqual(c.shape, [2, 4, 4, 1]);
  const v = c.dataSync();
  // Image 1's centre crop starts at (row 1, column 1): value (36 + 7) / 4096.
  assert.ok(Math.abs(v[16] - 43 / 4096) < 1e-9);
  assert.throws(() => fitToInput(x, 8), AugmentError);
  tf.dispose([x, c]);
});

Deno.test("mixup mixes each batch with a permutation of itself, images and labels alike, from the rng", () => {
  const rng = makeRng("beta");
  const draws = Array.from({ length: 2000 }, () => sampleBeta(0.2, 0.2, rng));
  assert.ok(draws.every((d) => d >= 0 && d <= 1));
  const mean = draws.reduce((a, d) => a + d, 0) / draws.length;
  // Beta(0.2, 0.2) is symmetric (mean 0.5) and U-shaped: most draws near 0 or 1.
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  assert.ok(draws.filter((d) => d < 0.1 || d > 0.9).length > draws.length / 2);

  const x = batch(5, 3);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4], "int32"), 7).toFloat() as tf.Tensor2D;
  const a = mixBatch(x, y, 0.4, makeRng("m"));
  const b = mixBatch(x, y, 0.4, makeRng("m"));
  assert.equal(a.lambda, b.lambda);
  assert.deepEqual(a.x.dataSync(), b.x.dataSync());
  const ym = a.y.arraySync();
  const xv = x.dataSync(), xm = a.x.dataSync();
  ym.forEach((row, i) => {
    assert.ok(Math.abs(row.reduce((s, p) => s + p, 0) - 1) < 1e-6, "a mixed label is a distribution");
    assert.ok(Math.abs(row[i] - a.lambda) < 1e-6 || Math.abs(row[i] - 1) < 1e-6, `row ${i} keeps λ of its own label`);
    // Its partner is the other label with weight: the image mixes the same two images with the same weights.
    const j = row.findIndex((p, k) => k !== i && p > 1e-6);
    const partner = j < 0 ? i : j;
    for (let p = 0; p < 9; p++) {
      const want = a.lambda * xv[i * 9 + p] + (1 - a.lambda) * xv[partner * 9 + p];
      assert.ok(Math.abs(xm[i * 9 + p] - want) < 1e-6, `image ${i}, pixel ${p}`);
    }
  });
  tf.dispose([x, y, a.x, a.y, b.x, b.y]);
});
