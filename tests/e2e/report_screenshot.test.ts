/**
 * The HTML view's screenshot stays in step with the page: the committed
 * `reports/index.png` was taken of the committed `reports/index.html`
 * (`deno task report:check` records which, as Chromium's pixels cannot be
 * compared across versions and fonts), and every way of getting out of step
 * is told apart.
 *
 * The last test needs Chromium (`apt-get install -y chromium`; .ci/run installs it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { confusionChart } from "../../lib/report/charts.ts";
import { copyVendor, renderPage } from "../../lib/report/html.ts";
import {
  PAGE,
  SCREENSHOT,
  SCREENSHOT_RECORD,
  screenshotStaleness,
  sha256Hex,
  writeScreenshot,
} from "../../lib/report/screenshot.ts";
import { runScript } from "../helpers/run_script.ts";

const REPORTS = new URL("../../reports", import.meta.url).pathname;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

Deno.test("reports/index.png is the screenshot of reports/index.html as committed", async () => {
  // When this fails after `deno task report`, the page changed: `deno task report:check` takes the screenshot again.
  assert.equal(await screenshotStaleness(REPORTS), null);
});

Deno.test("sha256Hex is SHA-256", async () => {
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("screenshotStaleness: a rebuilt page, a swapped PNG, a missing or broken record are each named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferlab-shot-" });
  const png = Uint8Array.from([...PNG_SIGNATURE, 1, 2, 3]);
  await Deno.writeTextFile(join(dir, PAGE), "<p>one</p>");
  assert.match((await screenshotStaleness(dir))!, /index\.png is missing: run `deno task report:check`/);

  await writeScreenshot(dir, png, await Deno.readFile(join(dir, PAGE)));
  assert.deepEqual(await Deno.readFile(join(dir, SCREENSHOT)), png);
  assert.equal(await screenshotStaleness(dir), null);

  await Deno.writeTextFile(join(dir, PAGE), "<p>two</p>");
  assert.match((await screenshotStaleness(dir))!, /taken of another index\.html than the one there now/);
  await Deno.writeTextFile(join(dir, PAGE), "<p>one</p>");
  assert.equal(await screenshotStaleness(dir), null, "the same bytes again match again");

  await Deno.writeFile(join(dir, SCREENSHOT), Uint8Array.from([...PNG_SIGNATURE, 9]));
  assert.match((await screenshotStaleness(dir))!, /index\.png is not the screenshot index\.png\.json records/);
  await Deno.writeFile(join(dir, SCREENSHOT), png);

  await Deno.writeTextFile(join(dir, SCREENSHOT_RECORD), "{ cut off");
  assert.match((await screenshotStaleness(dir))!, /index\.png\.json is not valid JSON/);
  await Deno.remove(join(dir, SCREENSHOT_RECORD));
  assert.match((await screenshotStaleness(dir))!, /index\.png\.json is missing, so nothing says which page/);
});

Deno.test({
  name: "report:check records the page it took the screenshot of",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferlab-shot-check-" });
    const spec = confusionChart([[3, 1], [0, 4]], ["a", "b"]);
    await Deno.writeTextFile(join(dir, PAGE), renderPage("shot", [{ kind: "chart", id: "c", spec }]));
    await copyVendor(dir);
    const r = await runScript("tools/report_check.ts", ["--dir", dir], { extra: { write: [dir] } });
    assert.equal(r.code, 0, r.stderr);
    const record = JSON.parse(await Deno.readTextFile(join(dir, SCREENSHOT_RECORD)));
    assert.equal(record.page, PAGE);
    assert.equal(record.pageSha256, await sha256Hex(await Deno.readFile(join(dir, PAGE))));
    const png = await Deno.readFile(join(dir, SCREENSHOT));
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    assert.equal(record.screenshotSha256, await sha256Hex(png));
    assert.equal(await screenshotStaleness(dir), null);
  },
});
