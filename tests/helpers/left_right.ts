/**
 * The training tests' toy task: n square grey images, class 0 bright on the
 * left half and class 1 on the right (alternating), plus uniform noise drawn
 * pixel by pixel in row order from a seeded generator.
 *
 * @module
 */
import { makeRng } from "../../lib/rng.ts";

/** Image side and grey levels of {@link leftRightImages}. */
export interface LeftRightOptions {
  /** Side of the square images (default 12). */
  size?: number;
  /** Mean grey level of the bright half (default 170) and of the dark half (default 70). */
  bright?: number;
  dark?: number;
  /** Width of the uniform noise around those levels (default 60). */
  noise?: number;
}

/** `n` left/right images and their labels (0, 1, 0, 1, …). */
export function leftRightImages(
  n: number,
  seed: number,
  { size = 12, bright = 170, dark = 70, noise = 60 }: LeftRightOptions = {},
): { pixels: Uint8Array; labels: Uint8Array } {
  const rng = makeRng(seed);
  const pixels = new Uint8Array(n * size * size);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < size * size; p++) {
      const lit = (p % size < size / 2) === (labels[i] === 0);
      pixels[i * size * size + p] = Math.round((lit ? bright : dark) + noise * (rng.next() - 0.5));
    }
  }
  return { pixels, labels };
}
