/**
 * Keeping the HTML view's screenshot (`index.png`) in step with the page.
 *
 * Chromium's pixels differ across versions and fonts, so a test cannot take
 * the screenshot again and compare. Instead `deno task report:check` records
 * beside it (`index.png.json`) the SHA-256 of the `index.html` it was taken
 * from and of the PNG itself; a page rebuilt since, or a PNG put there by other
 * means, no longer matches the record, and a test says so.
 *
 * @example
 * ```ts
 * await writeScreenshot("reports", png, await Deno.readFile("reports/index.html"));
 * const stale = await screenshotStaleness("reports"); // null: index.png shows this index.html
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../atomic_write.ts";

/** The page, its screenshot and the record tying them, all in one folder. */
export const PAGE = "index.html";
export const SCREENSHOT = "index.png";
export const SCREENSHOT_RECORD = "index.png.json";

/** What `index.png.json` holds. */
export interface ScreenshotRecord {
  /** The page the screenshot was taken of, relative to the folder. */
  page: string;
  /** SHA-256 of that page's bytes, hex. */
  pageSha256: string;
  /** SHA-256 of the PNG's bytes, hex. */
  screenshotSha256: string;
}

/** SHA-256 of `bytes`, hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes `png` as `dir/index.png` and the record that it was taken of a page whose bytes are `page`. */
export async function writeScreenshot(dir: string, png: Uint8Array, page: Uint8Array): Promise<string[]> {
  const record: ScreenshotRecord = {
    page: PAGE,
    pageSha256: await sha256Hex(page),
    screenshotSha256: await sha256Hex(png),
  };
  const files = [join(dir, SCREENSHOT), join(dir, SCREENSHOT_RECORD)];
  await writeFileAtomic(files[0], png);
  await writeFileAtomic(files[1], JSON.stringify(record, null, 2) + "\n");
  return files;
}

/** A file's bytes, or undefined when it is not there. */
async function readIfThere(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Why `dir/index.png` does not show `dir/index.html` as it is now, in a sentence ending in what to run; null
 * when the record says it does.
 */
export async function screenshotStaleness(dir: string): Promise<string | null> {
  const again = "run `deno task report:check`";
  const png = await readIfThere(join(dir, SCREENSHOT));
  if (!png) return `${join(dir, SCREENSHOT)} is missing: ${again}`;
  const text = await readIfThere(join(dir, SCREENSHOT_RECORD));
  if (!text) {
    return `${join(dir, SCREENSHOT_RECORD)} is missing, so nothing says which page ${SCREENSHOT} shows: ${again}`;
  }
  let record: Partial<ScreenshotRecord>;
  try {
    record = JSON.parse(new TextDecoder().decode(text));
  } catch {
    return `${join(dir, SCREENSHOT_RECORD)} is not valid JSON: ${again}`;
  }
  if (record.screenshotSha256 !== await sha256Hex(png)) {
    return `${join(dir, SCREENSHOT)} is not the screenshot ${SCREENSHOT_RECORD} records: ${again}`;
  }
  const page = await readIfThere(join(dir, PAGE));
  if (!page) return `${join(dir, PAGE)} is missing: run \`deno task report\`, then ${again}`;
  if (record.page !== PAGE || record.pageSha256 !== await sha256Hex(page)) {
    return `${join(dir, SCREENSHOT)} was taken of another ${PAGE} than the one there now: ${again}`;
  }
  return null;
}
