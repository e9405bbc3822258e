/**
 * FER2013 PublicTest faces for the tests that paste real faces into photos
 * (detection, predict, the demo). The file is CI's and never committed
 * (FER2013's terms), so a test needing it checks {@link REAL_DATA} first and
 * is skipped, with a message, where it is absent.
 *
 * @module
 */
import { loadFer2013Csv } from "../../lib/data/csv.ts";
import { PIXELS, USAGES } from "../../lib/data/fer2013.ts";

/** Where CI keeps the real data (`.ci/run`'s machines have it; a clone elsewhere may not). */
export const REAL_DATA = new URL("../../../shared/data/fer2013-dev.csv.gz", import.meta.url).pathname;

let dataSet: ReturnType<typeof loadFer2013Csv> | undefined;

/** PublicTest rows `from`…`to` of the dev file as 48×48 faces (the file is read once per test module). */
export async function publicTestFaces(from: number, to: number): Promise<Uint8Array[]> {
  const data = await (dataSet ??= loadFer2013Csv(REAL_DATA));
  const publicTest = USAGES.indexOf("PublicTest");
  const rows = [];
  for (let i = 0; i < data.n && rows.length < to; i++) if (data.usage[i] === publicTest) rows.push(i);
  return rows.slice(from).map((r) => data.pixels.slice(r * PIXELS, (r + 1) * PIXELS));
}
