/**
 * The HTML view in headless Chromium: the committed `reports/index.html`
 * renders every chart with tooltips, logs no console error and makes no
 * network request; a page whose chart libraries are missing is caught.
 *
 * Needs Chromium (`apt-get install -y chromium`; .ci/run installs it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { confusionChart } from "../../lib/report/charts.ts";
import { checkPage } from "../../lib/report/browser.ts";
import { copyVendor, renderPage } from "../../lib/report/html.ts";

const PAGE = new URL("../../reports/index.html", import.meta.url);

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(png: Uint8Array): [number, number] {
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "PNG signature");
  const v = new DataView(png.buffer, png.byteOffset);
  return [v.getUint32(16), v.getUint32(20)];
}

Deno.test({
  name: "reports/index.html: every chart renders, with tooltips, no console errors and no network",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const html = await Deno.readTextFile(PAGE);
    const charts = [...html.matchAll(/<div class="chart" id="([^"]+)">/g)].map((m) => m[1]);
    assert.ok(charts.includes("comparison"), "the comparison chart is on the page");
    assert.ok(charts.some((c) => c.endsWith("-curves")) && charts.some((c) => c.endsWith("-recall")));
    assert.doesNotMatch(html, /<script src="https?:/, "no script from the network");

    const curves = charts.find((c) => c.endsWith("-curves"))!;
    const check = await checkPage(PAGE, { screenshot: true, hover: curves });
    assert.deepEqual(check.consoleErrors, []);
    assert.deepEqual(check.networkRequests, []);
    assert.deepEqual(check.failed, []);
    assert.equal(check.total, charts.length);
    assert.equal(check.rendered, charts.length);
    assert.equal(check.svgs, charts.length);
    for (const id of charts) assert.ok(check.tooltips[id] > 0, `chart ${id} has tooltips`);
    // Resting the pointer on the first point of the learning curves shows its values.
    assert.match(check.hoverTooltip ?? "", /epoch\s*1\b/);
    assert.match(check.hoverTooltip ?? "", /value/);
    const [w, h] = pngSize(check.screenshot!);
    assert.equal(w, 1280);
    assert.ok(h > 900, `full-page screenshot, ${h}px tall`);
  },
});

Deno.test({
  name: "a page without its chart libraries is reported: nothing rendered, console errors",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferlab-html-" });
    const spec = confusionChart([[3, 1], [0, 4]], ["a", "b"]);
    const page = join(dir, "index.html");
    await Deno.writeTextFile(page, renderPage("broken", [{ kind: "chart", id: "c", spec }]));
    const broken = await checkPage(pathToFileURL(page));
    assert.equal(broken.total, 1);
    assert.equal(broken.rendered, 0);
    assert.match(broken.failed.join(), /vega-embed did not load/);
    assert.ok(broken.consoleErrors.some((e) => /vendor\/vega/.test(e)), broken.consoleErrors.join("\n"));

    // With the libraries copied beside it, the same page renders.
    await copyVendor(dir);
    const fixed = await checkPage(pathToFileURL(page));
    assert.equal(fixed.rendered, 1);
    assert.deepEqual(fixed.consoleErrors, []);
  },
});
