/**
 * A procedural stand-in for FER2013: drawn 48×48 grayscale faces with the
 * seven expressions, so a fresh clone can run every experiment without the
 * (licence-restricted) Kaggle CSV.
 *
 * Each face is an oval head with eyes, brows, nose and mouth whose shapes
 * carry the expression (smile, frown, open "O", raised or knitted brows,
 * wide or narrowed eyes). Pose, lighting, background clutter and pixel noise
 * vary per image so that the task is not solvable by memorising pixel
 * positions: a linear model on raw pixels stays well below a small CNN.
 *
 * Drawing is done with signed-distance shapes in face coordinates and a
 * one-pixel soft edge (cheap anti-aliasing), on a Float32 canvas that is
 * quantized to bytes at the end.
 *
 * Row i depends only on (seed, i): it gets its own child generator, so the
 * first k rows are the same whatever n is, and generation is replayable.
 *
 * @module
 */
import { makeRng, type Rng } from "../rng.ts";
import { type Fer2013, IMAGE_SIZE, NUM_CLASSES, PIXELS } from "./fer2013.ts";

/** Fractions of rows per Usage; they must be non-negative and sum to 1. */
export interface UsageFractions {
  /** Fraction of rows marked `Training`. */
  train: number;
  /** Fraction of rows marked `PublicTest`. */
  publicTest: number;
  /** Fraction of rows marked `PrivateTest`. */
  privateTest: number;
}

/** Options of {@link makeSyntheticFer2013}; every field has a default. */
export interface SyntheticOptions {
  /** Number of faces. */
  n?: number;
  /** Seed of the whole data set; row i uses a child generator of (seed, i). */
  seed?: number;
  /** Fractions of rows per Usage. */
  usage?: UsageFractions;
}

/** The defaults of {@link makeSyntheticFer2013}. */
export const DEFAULT_SYNTHETIC: Readonly<Required<SyntheticOptions>> = Object.freeze({
  n: 7000,
  seed: 2013,
  usage: Object.freeze({ train: 0.8, publicTest: 0.1, privateTest: 0.1 }),
});

/**
 * Relative class frequencies (angry … neutral). A mild echo of FER2013's
 * imbalance (few "disgust", many "happy") so that class weighting and
 * per-class metrics have something to show, while every class stays well
 * represented (disgust ≈ 7 % of rows).
 */
export const SYNTHETIC_CLASS_WEIGHTS: readonly number[] = Object.freeze([
  1.0,
  0.5,
  1.0,
  1.5,
  1.1,
  0.85,
  1.15,
]);

/**
 * Makes a synthetic FER2013-format data set of drawn faces.
 *
 * @throws RangeError when n is not a non-negative integer, the seed is not a
 * finite number, or the usage fractions are negative or do not sum to 1.
 */
export function makeSyntheticFer2013(opts: SyntheticOptions = {}): Fer2013 {
  const n = opts.n ?? DEFAULT_SYNTHETIC.n;
  const seed = opts.seed ?? DEFAULT_SYNTHETIC.seed;
  const usage = opts.usage ?? DEFAULT_SYNTHETIC.usage;
  checkOptions(n, seed, usage);

  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  const usageCodes = new Uint8Array(n);
  const canvas = new Float32Array(PIXELS);
  const cumWeights = cumulative(SYNTHETIC_CLASS_WEIGHTS);
  const cumUsage = cumulative([usage.train, usage.publicTest, usage.privateTest]);

  for (let i = 0; i < n; i++) {
    // One child generator per row: row i is a function of (seed, i) only.
    const rng = makeRng(`synthetic-fer2013/${seed}/${i}`);
    const label = pick(cumWeights, rng.next());
    labels[i] = label;
    usageCodes[i] = pick(cumUsage, rng.next());
    drawFace(canvas, sampleFace(rng, label), rng);
    quantize(canvas, pixels.subarray(i * PIXELS, (i + 1) * PIXELS));
  }

  const isDefaultUsage = usage.train === DEFAULT_SYNTHETIC.usage.train &&
    usage.publicTest === DEFAULT_SYNTHETIC.usage.publicTest &&
    usage.privateTest === DEFAULT_SYNTHETIC.usage.privateTest;
  const usageNote = isDefaultUsage ? "" : `, usage=${usage.train}/${usage.publicTest}/${usage.privateTest}`;
  return {
    pixels,
    labels,
    usage: usageCodes,
    n,
    source: `synthetic faces (n=${n}, seed=${seed}${usageNote})`,
  };
}

function checkOptions(n: number, seed: number, usage: UsageFractions): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`synthetic data: n must be a non-negative integer, got ${n}`);
  }
  if (typeof seed !== "number" || !Number.isFinite(seed)) {
    throw new RangeError(`synthetic data: seed must be a finite number, got ${seed}`);
  }
  const parts = [usage.train, usage.publicTest, usage.privateTest];
  if (parts.some((f) => typeof f !== "number" || !(f >= 0))) {
    throw new RangeError(
      `synthetic data: usage fractions must be non-negative numbers, got ${JSON.stringify(usage)}`,
    );
  }
  const sum = parts[0] + parts[1] + parts[2];
  if (Math.abs(sum - 1) > 1e-6) {
    throw new RangeError(
      `synthetic data: usage fractions must sum to 1, got ${JSON.stringify(usage)} (sum ${sum})`,
    );
  }
}

function cumulative(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  return weights.map((w) => (acc += w / total));
}

/** Index of the first cumulative weight above u (the last one on rounding). */
function pick(cum: readonly number[], u: number): number {
  for (let k = 0; k < cum.length; k++) if (u < cum[k] && cum[k] > (cum[k - 1] ?? 0)) return k;
  // Rounding can leave the last cumulative weight a hair below 1; fall back
  // to the last class that has any weight.
  let k = cum.length - 1;
  while (k > 0 && cum[k] === cum[k - 1]) k--;
  return k;
}

// ---------------------------------------------------------------------------
// Expressions

/** Shape parameters that carry an expression, in face units (head ≈ 2 tall). */
interface Expression {
  /** Eye opening as a multiple of the neutral eye height. */
  eyeOpen: number;
  /** Brow lift (up is positive). */
  browRaise: number;
  /** Lift of the brow's inner end relative to its outer end (+ = sad/fear). */
  browTilt: number;
  /** Extra lift of the brow's middle. */
  browArch: number;
  /** Lift of the mouth corners (+ smile, − frown). */
  smile: number;
  /** Half-height of the open mouth (0 = closed). */
  mouthOpen: number;
  /** Mouth width as a multiple of the face's neutral mouth width. */
  mouthWidth: number;
  /** Asymmetric S-shaped twist of the mouth (disgust). */
  sneer: number;
}

const NEUTRAL: Expression = {
  eyeOpen: 1,
  browRaise: 0,
  browTilt: 0,
  browArch: 0,
  smile: 0,
  mouthOpen: 0,
  mouthWidth: 1,
  sneer: 0,
};

/** Full-intensity expressions in label order; open-mouth variants are set in sampleFace. */
const EXPRESSIONS: readonly Expression[] = [
  // angry: knitted brows (down and in), narrowed eyes, tight slightly down mouth
  {
    eyeOpen: 0.55,
    browRaise: -0.07,
    browTilt: -0.13,
    browArch: 0,
    smile: -0.05,
    mouthOpen: 0,
    mouthWidth: 0.8,
    sneer: 0,
  },
  // disgust: lowered brows, narrowed eyes, twisted mouth with one side raised
  {
    eyeOpen: 0.5,
    browRaise: -0.05,
    browTilt: -0.06,
    browArch: 0,
    smile: -0.03,
    mouthOpen: 0,
    mouthWidth: 0.9,
    sneer: 0.25,
  },
  // fear: raised brows pulled up at the inner end, wide eyes, stretched open mouth
  {
    eyeOpen: 1.55,
    browRaise: 0.08,
    browTilt: 0.08,
    browArch: 0,
    smile: -0.06,
    mouthOpen: 0.06,
    mouthWidth: 1.15,
    sneer: 0,
  },
  // happy: big smile, squinting eyes, relaxed brows
  {
    eyeOpen: 0.6,
    browRaise: 0.02,
    browTilt: 0,
    browArch: 0.01,
    smile: 0.17,
    mouthOpen: 0,
    mouthWidth: 1.25,
    sneer: 0,
  },
  // sad: inner brow raised, slightly lowered lids, frown
  {
    eyeOpen: 0.75,
    browRaise: 0.02,
    browTilt: 0.13,
    browArch: 0,
    smile: -0.12,
    mouthOpen: 0,
    mouthWidth: 0.9,
    sneer: 0,
  },
  // surprise: high arched brows, wide eyes, round open "O" mouth
  {
    eyeOpen: 1.65,
    browRaise: 0.13,
    browTilt: 0,
    browArch: 0.05,
    smile: 0,
    mouthOpen: 0.14,
    mouthWidth: 0.5,
    sneer: 0,
  },
  // neutral
  NEUTRAL,
];

/** Everything needed to draw one face; all randomness is drawn up front. */
interface FaceParams {
  label: number;
  expr: Expression;
  /** Teeth visible inside an open mouth (open smile, bared teeth). */
  teeth: boolean;
  // pose: image position of the face centre, rotation, pixels per face unit
  cx: number;
  cy: number;
  angle: number;
  unit: number;
  // identity
  headW: number;
  headH: number;
  skin: number;
  hair: number;
  hairline: number;
  hasHair: boolean;
  eyeSpacing: number;
  eyeY: number;
  eyeW: number;
  eyeH: number;
  browGap: number;
  browLen: number;
  browThick: number;
  browTone: number;
  mouthY: number;
  mouthW: number;
  lipTone: number;
  sneerSide: number;
  // scene
  background: number;
  bgGradX: number;
  bgGradY: number;
  clutter: number;
  // lighting
  brightness: number;
  contrast: number;
  lightX: number;
  lightY: number;
  noise: number;
}

function sampleFace(rng: Rng, label: number): FaceParams {
  const j = (s: number) => s * rng.normal();
  const u = (lo: number, hi: number) => rng.uniform(lo, hi);

  // Expression intensity: weak expressions drift towards neutral, as in real photos.
  const k = u(0.55, 1.0);
  const target = EXPRESSIONS[label];
  const expr = { ...NEUTRAL };
  for (const key of Object.keys(NEUTRAL) as (keyof Expression)[]) {
    expr[key] = NEUTRAL[key] + k * (target[key] - NEUTRAL[key]);
  }
  let teeth = false;
  if (label === 3 && rng.next() < 0.5) {
    expr.mouthOpen = k * u(0.04, 0.08);
    teeth = true;
  } else if (label === 0 && rng.next() < 0.35) {
    expr.mouthOpen = k * u(0.03, 0.05);
    teeth = true;
  } else if (label === 2) {
    teeth = rng.next() < 0.4;
  }
  // Per-face jitter of the expression cues keeps classes from being single points.
  expr.eyeOpen *= Math.exp(j(0.12));
  expr.browRaise += j(0.02);
  expr.browTilt += j(0.025);
  expr.smile += j(0.02);
  expr.mouthWidth *= Math.exp(j(0.08));

  const scale = u(0.85, 1.15);
  return {
    label,
    expr,
    teeth,
    cx: IMAGE_SIZE / 2 + u(-3.5, 3.5),
    cy: IMAGE_SIZE / 2 + 1 + u(-3.5, 3.5),
    angle: u(-15, 15) * Math.PI / 180,
    unit: 21 * scale,
    headW: 0.8 * Math.exp(j(0.05)),
    headH: 1.05 * Math.exp(j(0.04)),
    skin: u(0.4, 0.85),
    hair: u(0.05, 0.6),
    hairline: u(-0.62, -0.45),
    hasHair: rng.next() < 0.8,
    eyeSpacing: 0.34 * Math.exp(j(0.06)),
    eyeY: -0.12 + j(0.03),
    eyeW: 0.15 * Math.exp(j(0.07)),
    eyeH: 0.075 * Math.exp(j(0.08)),
    browGap: 0.2 + j(0.02),
    browLen: 0.17 * Math.exp(j(0.08)),
    browThick: 0.035 * Math.exp(j(0.15)),
    browTone: u(0.1, 0.45),
    mouthY: 0.5 + j(0.03),
    mouthW: 0.26 * Math.exp(j(0.07)),
    lipTone: u(0.35, 0.6),
    sneerSide: rng.next() < 0.5 ? -1 : 1,
    background: u(0.05, 0.95),
    bgGradX: u(-0.3, 0.3),
    bgGradY: u(-0.3, 0.3),
    clutter: rng.int(5),
    brightness: u(-0.12, 0.12),
    contrast: u(0.6, 1.3),
    lightX: u(-0.3, 0.3),
    lightY: u(-0.15, 0.15),
    noise: u(0.01, 0.05),
  };
}

// ---------------------------------------------------------------------------
// Drawing

/**
 * Paints soft-edged shapes onto a 48×48 float canvas. Shapes are given in
 * "local" coordinates mapped to pixels by a similarity transform (the face
 * pose, or the identity for background clutter); each shape only visits the
 * pixels of its bounding box, which keeps 7000 faces around a second.
 */
class Painter {
  private cos = 1;
  private sin = 0;
  private ox = 0;
  private oy = 0;
  private s = 1;
  /** Size of one pixel in local units: the width of the soft edge. */
  private pw = 1;

  constructor(readonly img: Float32Array) {}

  /** Local (u, v) ↦ pixel (ox, oy) + R(angle)·scale·(u, v). */
  setTransform(ox: number, oy: number, angle: number, scale: number): void {
    this.ox = ox;
    this.oy = oy;
    this.cos = Math.cos(angle);
    this.sin = Math.sin(angle);
    this.s = scale;
    this.pw = 1 / scale;
  }

  // Pixel bounding box of the last `pixelBox` call (inclusive), kept in
  // fields so that the per-shape setup allocates nothing.
  private px0 = 0;
  private px1 = 0;
  private py0 = 0;
  private py1 = 0;

  /** Sets px0..py1 to the pixels whose centres may map into the local box. */
  private pixelBox(u0: number, u1: number, v0: number, v1: number): void {
    const { cos, sin, ox, oy, s } = this;
    // The transform is a similarity, so the image of the box is spanned by
    // its centre ± the half-extents projected on the image axes.
    const cu = (u0 + u1) / 2, cv = (v0 + v1) / 2;
    const hu = (u1 - u0) / 2, hv = (v1 - v0) / 2;
    const x = ox + s * (cos * cu - sin * cv);
    const y = oy + s * (sin * cu + cos * cv);
    const ex = s * (Math.abs(cos) * hu + Math.abs(sin) * hv);
    const ey = s * (Math.abs(sin) * hu + Math.abs(cos) * hv);
    this.px0 = Math.max(0, Math.floor(x - ex - 1.5));
    this.px1 = Math.min(IMAGE_SIZE - 1, Math.ceil(x + ex + 1.5));
    this.py0 = Math.max(0, Math.floor(y - ey - 1.5));
    this.py1 = Math.min(IMAGE_SIZE - 1, Math.ceil(y + ey + 1.5));
  }

  /**
   * Blends `value` into every pixel whose centre maps into the local box
   * [u0, u1] × [v0, v1], weighted by the coverage implied by `sdf(u, v)`
   * (a signed distance in local units, negative inside).
   */
  shape(
    u0: number,
    u1: number,
    v0: number,
    v1: number,
    value: number,
    alpha: number,
    sdf: (u: number, v: number) => number,
  ): void {
    this.pixelBox(u0, u1, v0, v1);
    const { cos, sin, ox, oy, s, pw, img } = this;
    const inv = 1 / s;
    for (let py = this.py0; py <= this.py1; py++) {
      const dy = py + 0.5 - oy;
      for (let px = this.px0; px <= this.px1; px++) {
        const dx = px + 0.5 - ox;
        const u = (cos * dx + sin * dy) * inv;
        const v = (-sin * dx + cos * dy) * inv;
        // Linear coverage ramp one pixel wide, centred on the edge.
        const cov = 0.5 - sdf(u, v) / pw;
        if (cov <= 0) continue;
        const a = (cov >= 1 ? 1 : cov) * alpha;
        const i = py * IMAGE_SIZE + px;
        img[i] += (value - img[i]) * a;
      }
    }
  }

  /**
   * The head in one pass (it covers the most pixels, so it gets a dedicated
   * loop): hair behind, the face oval darkening towards its rim, and a
   * fringe above a curved hairline. hair < 0 means bald.
   */
  head(a: number, b: number, skin: number, hair: number, hairline: number): void {
    const hasHair = hair >= 0;
    this.pixelBox(-a * 1.1, a * 1.1, -b - 0.12, b + 0.05);
    const { cos, sin, ox, oy, s, pw, img } = this;
    const inv = 1 / s;
    const cover = (d: number) => {
      const c = 0.5 - d / pw;
      return c <= 0 ? 0 : c >= 1 ? 1 : c;
    };
    for (let py = this.py0; py <= this.py1; py++) {
      const dy = py + 0.5 - oy;
      for (let px = this.px0; px <= this.px1; px++) {
        const dx = px + 0.5 - ox;
        const u = (cos * dx + sin * dy) * inv;
        const v = (-sin * dx + cos * dy) * inv;
        const i = py * IMAGE_SIZE + px;
        let val = img[i];
        if (hasHair) val += (hair - val) * cover(ellipseSdf(u, v + 0.08, a * 1.08, b));
        const dHead = ellipseSdf(u, v - 0.02, a, b);
        const cHead = cover(dHead);
        if (cHead > 0) {
          // Normalised radius, for shading towards the rim.
          const r2 = (u / a) * (u / a) + ((v - 0.02) / b) * ((v - 0.02) / b);
          const shade = r2 > 0.6 ? 1 - 0.35 * (r2 - 0.6) : 1;
          val += (skin * shade - val) * cHead;
          if (hasHair) {
            const dFringe = Math.max(dHead - 0.03, v - (hairline + 0.35 * u * u));
            val += (hair - val) * cover(dFringe);
          }
        }
        img[i] = val;
      }
    }
  }

  /** Filled ellipse centred at (cx, cy) with half-axes a, b. */
  ellipse(cx: number, cy: number, a: number, b: number, value: number, alpha = 1): void {
    this.shape(cx - a, cx + a, cy - b, cy + b, value, alpha, (u, v) => ellipseSdf(u - cx, v - cy, a, b));
  }

  /** Ring of half-thickness t along an ellipse's outline. */
  ellipseRing(
    cx: number,
    cy: number,
    a: number,
    b: number,
    t: number,
    value: number,
    alpha = 1,
  ): void {
    this.shape(
      cx - a - t,
      cx + a + t,
      cy - b - t,
      cy + b + t,
      value,
      alpha,
      (u, v) => Math.abs(ellipseSdf(u - cx, v - cy, a, b)) - t,
    );
  }

  /** Disk of radius r at (dx, dy), clipped to the ellipse (cx, cy, a, b). */
  clippedDisk(
    dx: number,
    dy: number,
    r: number,
    cx: number,
    cy: number,
    a: number,
    b: number,
    value: number,
  ): void {
    this.shape(
      dx - r,
      dx + r,
      dy - r,
      dy + r,
      value,
      1,
      (u, v) => Math.max(dist(u - dx, v - dy) - r, ellipseSdf(u - cx, v - cy, a, b)),
    );
  }

  /** Segment from (x0, y0) to (x1, y1) with round caps, half-thickness r. */
  capsule(
    x0: number,
    y0: number,
    x1: number,
    y1: number,
    r: number,
    value: number,
    alpha = 1,
  ): void {
    this.shape(
      Math.min(x0, x1) - r,
      Math.max(x0, x1) + r,
      Math.min(y0, y1) - r,
      Math.max(y0, y1) + r,
      value,
      alpha,
      (u, v) => segmentDistance(u, v, x0, y0, x1, y1) - r,
    );
  }

  /**
   * Stroke of half-thickness r along y = cy + c1·x + c2·x² + c3·x³ for
   * x = mirror·(u − cx) in [−w, w]: a cubic covers smiles, frowns, brows
   * and the twisted disgust mouth.
   */
  curve(
    cx: number,
    cy: number,
    w: number,
    c1: number,
    c2: number,
    c3: number,
    r: number,
    mirror: number,
    value: number,
    alpha = 1,
  ): void {
    const f = (x: number) => cy + x * (c1 + x * (c2 + x * c3));
    let lo = Infinity, hi = -Infinity;
    for (let t = -1; t <= 1; t += 0.25) {
      const y = f(t * w);
      lo = Math.min(lo, y);
      hi = Math.max(hi, y);
    }
    const yl = f(-w), yr = f(w);
    this.shape(cx - w - r, cx + w + r, lo - r, hi + r, value, alpha, (u, v) => {
      const x = mirror * (u - cx);
      if (x < -w) return dist(x + w, v - yl) - r;
      if (x > w) return dist(x - w, v - yr) - r;
      const slope = c1 + x * (2 * c2 + 3 * x * c3);
      // Vertical gap divided by the slope factor: a first-order distance.
      return Math.abs(v - f(x)) / Math.sqrt(1 + slope * slope) - r;
    });
  }

  /**
   * Open mouth: the region within ±h·√(1 − (x/w)²) of the curve
   * y = cy + c2·x², shifted by `inset` (negative grows it, for the lips).
   * With `teethDepth` > 0 only the top band of that depth is painted.
   */
  openMouth(
    cx: number,
    cy: number,
    w: number,
    h: number,
    c2: number,
    inset: number,
    value: number,
    teethDepth = 0,
  ): void {
    this.shape(cx - w - 0.05, cx + w + 0.05, cy - h - 0.2, cy + h + 0.2, value, 1, (u, v) => {
      const x = u - cx;
      const q = 1 - (x / w) * (x / w);
      const half = h * Math.sqrt(q > 0 ? q : 0);
      const mid = cy + c2 * x * x;
      let d = Math.max(Math.abs(v - mid) - half, Math.abs(x) - w) + inset;
      if (teethDepth > 0) d = Math.max(d, v - (mid - half + teethDepth));
      return d;
    });
  }
}

/** Euclidean length; Math.hypot is several times slower in V8. */
function dist(x: number, y: number): number {
  return Math.sqrt(x * x + y * y);
}

/** Approximate signed distance to an ellipse (Quílez's gradient-scaled form). */
function ellipseSdf(x: number, y: number, a: number, b: number): number {
  const xa = x / a, yb = y / b;
  const k0 = Math.sqrt(xa * xa + yb * yb);
  const k1 = Math.sqrt(xa * xa / (a * a) + yb * yb / (b * b));
  return k1 > 1e-9 ? (k0 * (k0 - 1)) / k1 : -Math.min(a, b);
}

function segmentDistance(
  u: number,
  v: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): number {
  const ex = x1 - x0, ey = y1 - y0;
  const len2 = ex * ex + ey * ey;
  let t = len2 > 0 ? ((u - x0) * ex + (v - y0) * ey) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const dx = u - x0 - t * ex, dy = v - y0 - t * ey;
  return Math.sqrt(dx * dx + dy * dy);
}

/** Draws one face into `img` (values roughly in [0, 1]); rng drives clutter and noise. */
function drawFace(img: Float32Array, p: FaceParams, rng: Rng): void {
  const paint = new Painter(img);
  drawBackground(paint, img, p, rng);

  paint.setTransform(p.cx, p.cy, p.angle, p.unit);
  const { expr, skin } = p;
  const dark = (f: number) => skin * f;

  // Neck and ears first, so the head outline sits on top of them.
  paint.capsule(0, 0.9, 0, 2.2, 0.33, dark(0.8));
  paint.ellipse(-p.headW, -0.05, 0.12, 0.2, dark(0.88));
  paint.ellipse(p.headW, -0.05, 0.12, 0.2, dark(0.88));
  paint.head(p.headW, p.headH, skin, p.hasHair ? p.hair : -1, p.hairline);

  // Eyes: socket shadow, white, iris (clipped to the opening), outline.
  const eh = p.eyeH * expr.eyeOpen;
  const white = Math.min(1, skin + 0.25);
  const iris = Math.min(0.25, skin * 0.35);
  for (const side of [-1, 1]) {
    const ex = side * p.eyeSpacing;
    paint.ellipse(ex, p.eyeY - 0.02, p.eyeW * 1.3, p.eyeH * 1.7, dark(0.82), 0.6);
    paint.ellipse(ex, p.eyeY, p.eyeW, eh, white);
    paint.clippedDisk(ex, p.eyeY, Math.min(0.07, p.eyeW * 0.5), ex, p.eyeY, p.eyeW, eh, iris);
    paint.ellipseRing(ex, p.eyeY, p.eyeW, eh, 0.018, dark(0.3));
  }

  // Brows: a cubic stroke per side, mirrored so "inner end" means the same on both.
  const hl = p.browLen;
  for (const side of [-1, 1]) {
    // Disgust lowers one brow more than the other.
    const asym = p.label === 1 && side === p.sneerSide ? 0.03 : 0;
    const by = p.eyeY - p.browGap - expr.browRaise + asym - 0.02 - expr.browArch;
    paint.curve(
      side * p.eyeSpacing,
      by,
      hl,
      expr.browTilt / hl,
      (0.02 + expr.browArch) / (hl * hl),
      0,
      p.browThick,
      side,
      p.browTone,
      0.95,
    );
  }

  // Nose: a side shadow line and two nostrils.
  paint.capsule(0.03, -0.02, 0.06, 0.22, 0.025, dark(0.8), 0.8);
  paint.ellipse(-0.07, 0.27, 0.045, 0.025, dark(0.45));
  paint.ellipse(0.07, 0.27, 0.045, 0.025, dark(0.45));

  // Expression-specific creases.
  if (p.label === 1) {
    // disgust: wrinkles across the nose bridge
    for (const y of [-0.06, 0.02]) paint.curve(0, y, 0.07, 0, 4, 0, 0.015, 1, dark(0.6), 0.9);
  } else if (p.label === 0) {
    // angry: vertical furrows between the brows
    for (const x of [-0.05, 0.05]) {
      paint.capsule(x, p.eyeY - 0.22, x * 0.6, p.eyeY - 0.08, 0.015, dark(0.6), 0.9);
    }
  } else if (p.label === 3) {
    // happy: smile folds from the nose to the mouth corners
    for (const side of [-1, 1]) {
      paint.capsule(side * 0.17, 0.22, side * 0.32, 0.45, 0.02, dark(0.7), 0.9);
    }
  }

  drawMouth(paint, p);
  finishImage(img, p, rng);
}

function drawBackground(paint: Painter, img: Float32Array, p: FaceParams, rng: Rng): void {
  const half = IMAGE_SIZE / 2;
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      img[y * IMAGE_SIZE + x] = p.background + p.bgGradX * (x - half) / half +
        p.bgGradY * (y - half) / half;
    }
  }
  // Clutter: a few blobs and bars in pixel coordinates.
  paint.setTransform(0, 0, 0, 1);
  for (let c = 0; c < p.clutter; c++) {
    const value = rng.next();
    const alpha = rng.uniform(0.4, 1);
    if (rng.next() < 0.5) {
      paint.ellipse(
        rng.uniform(0, 48),
        rng.uniform(0, 48),
        rng.uniform(3, 14),
        rng.uniform(3, 14),
        value,
        alpha,
      );
    } else {
      paint.capsule(
        rng.uniform(-10, 58),
        rng.uniform(-10, 58),
        rng.uniform(-10, 58),
        rng.uniform(-10, 58),
        rng.uniform(1, 4),
        value,
        alpha,
      );
    }
  }
}

function drawMouth(paint: Painter, p: FaceParams): void {
  const { expr, skin } = p;
  const w = p.mouthW * expr.mouthWidth;
  const my = p.mouthY;
  const lip = skin * p.lipTone;
  if (expr.mouthOpen > 0.015) {
    const h = expr.mouthOpen;
    // Open mouths curve with the smile too (corners up for an open smile).
    const c2 = -expr.smile / (w * w);
    paint.openMouth(0, my, w, h, c2, -0.03, lip);
    paint.openMouth(0, my, w, h, c2, 0, Math.min(0.12, skin * 0.2));
    if (p.teeth) paint.openMouth(0, my, w, h, c2, 0, Math.min(1, skin + 0.3), h * 0.7);
    return;
  }
  // Closed mouth: corners lifted by `smile`; `sneer` twists it into an S and
  // raises one side (disgust).
  const s = expr.sneer;
  paint.curve(
    0,
    my,
    w,
    0.9 * s / w,
    -expr.smile / (w * w),
    -1.2 * s / (w * w * w),
    0.03,
    p.sneerSide,
    lip,
  );
  // Lower-lip shadow follows the same curve a little lower.
  paint.curve(
    0,
    my + 0.07,
    w * 0.55,
    0,
    -expr.smile / (w * w) * 0.6,
    0,
    0.02,
    1,
    skin * 0.8,
    0.5,
  );
}

/**
 * Lighting (brightness, contrast, a linear gradient) then pixel noise.
 *
 * The noise is an Irwin–Hall sum of the four bytes of one 32-bit draw,
 * (near-)Gaussian and far cheaper than Box–Muller; the draws come from a
 * mulberry32 stream seeded by the row's Rng, because seedrandom's ARC4 would
 * be the bottleneck at 2304 draws per face.
 */
function finishImage(img: Float32Array, p: FaceParams, rng: Rng): void {
  const half = IMAGE_SIZE / 2;
  // Sum of 4 uniform bytes: mean 510, standard deviation √(4·(256²−1)/12) ≈ 147.8.
  const noiseScale = p.noise / 147.8;
  let state = rng.int32() | 0;
  for (let y = 0; y < IMAGE_SIZE; y++) {
    const rowLight = 0.5 + p.brightness + p.lightY * (y - half) / half;
    for (let x = 0; x < IMAGE_SIZE; x++) {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      t = t ^ (t >>> 14);
      const bytes = (t & 255) + ((t >>> 8) & 255) + ((t >>> 16) & 255) + ((t >>> 24) & 255);
      const i = y * IMAGE_SIZE + x;
      img[i] = (img[i] - 0.5) * p.contrast + rowLight + p.lightX * (x - half) / half +
        (bytes - 510) * noiseScale;
    }
  }
}

function quantize(img: Float32Array, out: Uint8Array): void {
  for (let i = 0; i < PIXELS; i++) {
    const v = Math.round(img[i] * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

// Keep the class table and the label space in step.
if (EXPRESSIONS.length !== NUM_CLASSES || SYNTHETIC_CLASS_WEIGHTS.length !== NUM_CLASSES) {
  throw new Error("synthetic.ts: expression table does not match NUM_CLASSES");
}
