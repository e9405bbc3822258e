import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  type AffineParams,
  AUGMENT_PRESETS,
  augmentBatch,
  type AugmentConfig,
  AugmentError,
  augmentPreset,
  IDENTITY_PARAMS,
  mapOutputToInput,
  NO_AUGMENT,
  offlineAugment,
  randomAffineParams,
  transformBatch,
  transformMatrix,
  transformSupport,
} from "../lib/data/augment.ts";
import { type Fer2013, PIXELS } from "../lib/data/fer2013.ts";
import { makeRng } from "../lib/rng.ts";

await tf.setBackend("cpu");
await tf.ready();

const NEAREST = { fillMode: "nearest", interpolation: "nearest" } as const;

/** A size×size single-channel image, zero except 1 at each marked (row, col). */
function marked(size: number, ...points: [number, number][]): number[][] {
  const img = Array.from({ length: size }, () => new Array(size).fill(0));
  for (const [r, c] of points) img[r][c] = 1;
  return img;
}

/** Positions (row, col) of the value 1 in a [1, h, w, 1] result. */
function ones(t: tf.Tensor4D): [number, number][] {
  const [, h, w] = t.shape;
  const v = t.dataSync();
  const out: [number, number][] = [];
  for (let i = 0; i < h * w; i++) {
    if (Math.abs(v[i] - 1) < 1e-5) out.push([Math.floor(i / w), i % w]);
  }
  return out;
}

/** Applies fixed params to one image with nearest interpolation, returning the result (caller disposes). */
function apply(
  img: number[][],
  p: Partial<AffineParams>,
  opts: object = NEAREST,
): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.tensor4d(img.flat(), [1, img.length, img[0].length, 1]);
    return transformBatch(x, [{ ...IDENTITY_PARAMS, ...p }], {
      ...NEAREST,
      ...opts,
    });
  });
}

Deno.test("transformMatrix: geometry of flip, shift, rotation and zoom (pure)", () => {
  const h = 5, w = 7;
  const id = transformMatrix(IDENTITY_PARAMS, h, w);
  assert.deepEqual(id, [1, 0, 0, 0, 1, 0, 0, 0]);
  const flip = transformMatrix({ ...IDENTITY_PARAMS, flip: true }, h, w);
  assert.deepEqual(mapOutputToInput(flip, 1, 2), [w - 1 - 1, 2]);
  const shift = transformMatrix({ ...IDENTITY_PARAMS, tx: 2, ty: -1 }, h, w);
  assert.deepEqual(mapOutputToInput(shift, 3, 3), [5, 2]);
  // +90°: the output pixel one row above the centre reads the input pixel one column right of it.
  const rot = transformMatrix({ ...IDENTITY_PARAMS, theta: 90 }, h, w);
  const [x, y] = mapOutputToInput(rot, 3, 1);
  assert.ok(Math.abs(x - 4) < 1e-9 && Math.abs(y - 2) < 1e-9, `${x},${y}`);
  const zoom = transformMatrix({ ...IDENTITY_PARAMS, zx: 2, zy: 0.5 }, h, w);
  assert.deepEqual(mapOutputToInput(zoom, 4, 4), [5, 3]);
  // Shear (degrees) leaves the centre row fixed and slants the others.
  const shear = transformMatrix({ ...IDENTITY_PARAMS, shear: 45 }, h, w);
  assert.deepEqual(mapOutputToInput(shear, 3, 2), [3, 2]);
  const [sx] = mapOutputToInput(shear, 3, 3);
  assert.ok(Math.abs(sx - (3 - Math.SQRT1_2)) < 1e-9);
});

Deno.test("horizontal flip moves (r, c) to (r, w-1-c)", () => {
  const img = marked(5, [1, 0], [3, 3]);
  const out = apply(img, { flip: true });
  assert.deepEqual(ones(out), [[1, 4], [3, 1]]);
  out.dispose();
});

Deno.test("a horizontal shift of k pixels moves a marked pixel by k", () => {
  const img = marked(7, [3, 2]);
  // Keras convention: tx = -k moves the content k pixels to the right.
  for (const k of [1, 3]) {
    const out = apply(img, { tx: -k });
    assert.deepEqual(ones(out), [[3, 2 + k]]);
    out.dispose();
  }
  const down = apply(img, { ty: -2 });
  assert.deepEqual(ones(down), [[5, 2]]);
  down.dispose();
});

Deno.test("a random width shift moves the content by the drawn amount", () => {
  // widthShiftRange draws from ±range; check via the drawn parameters that the
  // tensor result equals a shift by the drawn tx.
  const cfg: AugmentConfig = {
    ...NO_AUGMENT,
    widthShiftRange: 0.4,
    interpolation: "nearest",
  };
  const rng = makeRng(21);
  const p = randomAffineParams(cfg, 10, 10, rng);
  assert.ok(Math.abs(p.tx) <= 4 && p.tx !== 0 && p.ty === 0);
  const img = marked(10, [4, 5]);
  const out = tf.tidy(() => augmentBatch(tf.tensor4d(img.flat(), [1, 10, 10, 1]), cfg, makeRng(21)));
  assert.deepEqual(
    ones(out),
    [[4, 5 - Math.round(p.tx)]].filter(([, c]) => c >= 0 && c < 10),
  );
  out.dispose();
});

Deno.test("a 90° rotation lands the marked pixel where expected (counter-clockwise)", () => {
  const img = marked(5, [2, 4]); // right of the centre
  const out = apply(img, { theta: 90 });
  assert.deepEqual(ones(out), [[0, 2]]); // now above the centre
  out.dispose();
  const back = apply(img, { theta: -90 });
  assert.deepEqual(ones(back), [[4, 2]]);
  back.dispose();
  // And through a config whose range forces ±90 is still a quarter turn one way or the other.
  const params = randomAffineParams(
    { ...NO_AUGMENT, rotationRange: 90 },
    5,
    5,
    makeRng(0),
  );
  assert.ok(Math.abs(params.theta) <= 90);
});

Deno.test("zoom: factor 2 halves distances to the centre, 0.5 doubles them", () => {
  const img = marked(9, [4, 6]);
  const out = apply(img, { zx: 2, zy: 2 });
  assert.deepEqual(ones(out), [[4, 5]]);
  out.dispose();
  const zin = apply(img, { zx: 0.5, zy: 0.5 });
  assert.ok(ones(zin).some(([r, c]) => r === 4 && c === 8));
  assert.ok(ones(zin).every(([r, c]) => r >= 3 && r <= 5 && c >= 7));
  zin.dispose();
});

Deno.test("nearest fill replicates the edge; constant fill uses cval", () => {
  // Column c holds value c, so the edge column is 4.
  const img = Array.from({ length: 5 }, () => [0, 1, 2, 3, 4]);
  const run = (opts: object) => tf.tidy(() => Array.from(apply(img, { tx: 2 }, opts).dataSync()).slice(0, 5));
  assert.deepEqual(run({ fillMode: "nearest" }), [2, 3, 4, 4, 4]);
  assert.deepEqual(run({ fillMode: "constant", cval: -1 }), [2, 3, 4, -1, -1]);
  assert.deepEqual(run({ fillMode: "reflect" }), [2, 3, 4, 4, 3]);
  assert.deepEqual(run({ fillMode: "wrap" }), [2, 3, 4, 0, 1]);
});

Deno.test("every image of a batch is transformed with its own parameters", () => {
  // Guards against tfjs-backend-cpu 4.22's Transform, which only transforms image 0.
  const img = marked(5, [2, 0]).flat();
  const x = tf.tensor4d([...img, ...img, ...img], [3, 5, 5, 1]);
  const out = transformBatch(x, [
    { ...IDENTITY_PARAMS },
    { ...IDENTITY_PARAMS, flip: true },
    { ...IDENTITY_PARAMS, tx: -1 },
  ], { ...NEAREST, fillMode: "constant" });
  const imgs = tf.split(out, 3, 0) as tf.Tensor4D[];
  assert.deepEqual(imgs.map(ones), [[[2, 0]], [[2, 4]], [[2, 1]]]);
  tf.dispose([x, out, ...imgs]);
  const support = transformSupport();
  assert.equal(support.kernel, true);
  assert.equal(support.backend, "cpu");
});

Deno.test("augmentBatch: deterministic for a seed, different across seeds", () => {
  const cfg = augmentPreset("strong");
  const data = Array.from({ length: 4 * 12 * 12 }, (_, i) => (i * 37) % 101);
  const x = tf.tensor4d(data, [4, 12, 12, 1]);
  const run = (seed: number) => {
    const y = augmentBatch(x, cfg, makeRng(seed));
    const v = Array.from(y.dataSync());
    y.dispose();
    return v;
  };
  const a = run(5);
  assert.deepEqual(run(5), a);
  assert.notDeepEqual(run(6), a);
  assert.notDeepEqual(a, data);
  x.dispose();
});

Deno.test("augmentBatch: NO_AUGMENT is the identity (a copy)", () => {
  const data = Array.from({ length: 2 * 6 * 6 }, (_, i) => i);
  const x = tf.tensor4d(data, [2, 6, 6, 1]);
  const y = augmentBatch(x, NO_AUGMENT, makeRng(1));
  assert.notEqual(y, x);
  assert.deepEqual(Array.from(y.dataSync()), data);
  // Zero ranges written out explicitly, and a unit zoom pair, are identities too.
  const z = augmentBatch(x, {
    ...NO_AUGMENT,
    zoomRange: [1, 1],
    fillMode: "constant",
  }, makeRng(1));
  assert.deepEqual(Array.from(z.dataSync()), data);
  tf.dispose([x, y, z]);
});

Deno.test("augmentBatch leaks no tensors", () => {
  const x = tf.tensor4d(new Float32Array(3 * 8 * 8).fill(0.5), [3, 8, 8, 1]);
  augmentBatch(x, augmentPreset("standard"), makeRng(0)).dispose(); // warm the backend probe
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    augmentBatch(x, augmentPreset("strong"), makeRng(1));
  });
  assert.equal(tf.memory().numTensors, before);
  const y = augmentBatch(x, augmentPreset("strong"), makeRng(2));
  assert.equal(
    tf.memory().numTensors,
    before + 1,
    "only the result survives outside tidy",
  );
  y.dispose();
  x.dispose();
});

Deno.test("random parameters follow Keras' ranges", () => {
  const cfg: AugmentConfig = {
    rotationRange: 15,
    widthShiftRange: 0.1,
    heightShiftRange: 3, // whole pixels: -2 … 2
    zoomRange: 0.2,
    shearRange: 8,
    horizontalFlip: true,
    fillMode: "nearest",
  };
  const rng = makeRng(3);
  let flips = 0, zxNeZy = 0;
  const shiftsY = new Set<number>();
  for (let i = 0; i < 400; i++) {
    const p = randomAffineParams(cfg, 48, 48, rng);
    assert.ok(Math.abs(p.theta) <= 15 && Math.abs(p.shear) <= 8);
    assert.ok(Math.abs(p.tx) <= 4.8);
    assert.ok(p.zx >= 0.8 && p.zx <= 1.2 && p.zy >= 0.8 && p.zy <= 1.2);
    shiftsY.add(p.ty);
    if (p.flip) flips++;
    if (p.zx !== p.zy) zxNeZy++;
  }
  assert.deepEqual([...shiftsY].sort((a, b) => a - b), [-2, -1, 0, 1, 2]);
  assert.ok(flips > 150 && flips < 250, `flips ${flips}`);
  assert.equal(zxNeZy, 400, "zoom x and y are drawn independently");
});

Deno.test("bad configs and presets fail with clear errors", () => {
  assert.throws(
    () => augmentPreset("wild"),
    /unknown augmentation preset "wild".*standard/,
  );
  const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
  assert.throws(
    () => augmentBatch(x, { ...NO_AUGMENT, zoomRange: 1.5 }, makeRng(0)),
    AugmentError,
  );
  assert.throws(
    () =>
      augmentBatch(
        x,
        { ...NO_AUGMENT, fillMode: "mirror" as "wrap" },
        makeRng(0),
      ),
    /fillMode/,
  );
  assert.throws(
    () => augmentBatch(x, { ...NO_AUGMENT, rotationRange: -1 }, makeRng(0)),
    /rotationRange/,
  );
  x.dispose();
  for (const [name, cfg] of Object.entries(AUGMENT_PRESETS)) {
    assert.doesNotThrow(() => augmentPreset(name));
    assert.equal(typeof cfg.horizontalFlip, "boolean");
  }
});

function tinyFaces(n: number): Fer2013 {
  const pixels = new Uint8Array(n * PIXELS);
  for (let img = 0; img < n; img++) {
    for (let j = 0; j < PIXELS; j++) {
      pixels[img * PIXELS + j] = (j * 3 + img * 17) % 256;
    }
  }
  return {
    pixels,
    labels: Uint8Array.from({ length: n }, (_, i) => i % 7),
    usage: new Uint8Array(n),
    n,
    source: "tiny",
  };
}

function face(data: Fer2013, r: number): Uint8Array {
  return data.pixels.subarray(r * PIXELS, (r + 1) * PIXELS);
}

function flipped(img: Uint8Array): Uint8Array {
  const out = new Uint8Array(PIXELS);
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 48; x++) out[y * 48 + x] = img[y * 48 + 47 - x];
  }
  return out;
}

Deno.test("offlineAugment appends a fraction of augmented training rows", () => {
  const data = tinyFaces(30);
  const rows = Int32Array.from([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  const before = tf.memory().numTensors;
  // Flips only, so every new image must be its source or its mirror image, exactly.
  const res = offlineAugment(data, rows, {
    fraction: 0.5,
    config: augmentPreset("flip"),
    rng: makeRng(8),
    batchSize: 2, // several batches
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(res.data.n, 35);
  assert.deepEqual(Array.from(res.rows), [...rows, 30, 31, 32, 33, 34]);
  assert.deepEqual(res.data.pixels.subarray(0, 30 * PIXELS), data.pixels);
  assert.equal(data.n, 30, "input untouched");
  const sources = new Set<number>();
  let mirrored = 0;
  for (let i = 30; i < 35; i++) {
    const img = face(res.data, i);
    const src = [...rows].find((r) => equal(img, face(data, r)) || equal(img, flipped(face(data, r))));
    assert.ok(src !== undefined, `row ${i} is a training row or its mirror`);
    assert.ok(!sources.has(src), "each source row is used once");
    sources.add(src);
    if (!equal(img, face(data, src))) mirrored++;
    assert.equal(res.data.labels[i], data.labels[src]);
    assert.equal(res.data.usage[i], data.usage[src]);
  }
  assert.ok(mirrored > 0, "some images were flipped");

  const std = (batchSize?: number) =>
    offlineAugment(data, rows, {
      fraction: 0.5,
      config: augmentPreset("standard"),
      rng: makeRng(8),
      batchSize,
    });
  const a = std(2);
  assert.deepEqual(
    std().data.pixels,
    a.data.pixels,
    "deterministic, independent of batch size",
  );
  assert.notDeepEqual(
    a.data.pixels.subarray(30 * PIXELS),
    res.data.pixels.subarray(30 * PIXELS),
  );
  assert.throws(
    () =>
      offlineAugment(data, rows, {
        fraction: 1.5,
        config: NO_AUGMENT,
        rng: makeRng(0),
      }),
    /fraction/,
  );
  assert.throws(
    () =>
      offlineAugment(data, Int32Array.from([3, 99]), {
        fraction: 1,
        config: NO_AUGMENT,
        rng: makeRng(0),
      }),
    /row 99 is outside/,
  );
  const none = offlineAugment(data, rows, {
    fraction: 0,
    config: NO_AUGMENT,
    rng: makeRng(0),
  });
  assert.equal(none.data, data);
});

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
