/**
 * Opens the HTML view in headless Chromium, checks that every chart rendered
 * with no console errors and no network requests, and saves a full-page
 * screenshot beside it (`index.png`), with the record of which page it shows
 * (`index.png.json`: the SHA-256 of that `index.html`), which a test holds the
 * committed page and screenshot to.
 *
 *     deno task report:check                 # reports/index.html → reports/index.png
 *     deno task report:check --dir reports/synthetic
 *
 * Needs Chromium (`apt-get install -y chromium`, or CHROMIUM=/path/to/chrome).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseFlags } from "../lib/cli/args.ts";
import { runCli } from "../lib/cli/shell.ts";
import { checkPage } from "../lib/report/browser.ts";
import { PAGE, writeScreenshot } from "../lib/report/screenshot.ts";

await runCli(async () => {
  const v = parseFlags(Deno.args, "deno task report:check", {
    dir: { type: "string", help: "folder holding index.html; index.png is written beside it" },
  }, { dir: "reports" });
  if (!v) return; // --help was printed
  const page = resolve(join(v.dir, PAGE));
  // Read before the browser opens it, so the record names the bytes the screenshot was taken of.
  const pageBytes = await Deno.readFile(page);
  const check = await checkPage(pathToFileURL(page), { screenshot: true });
  const tips = Object.entries(check.tooltips).map(([id, n]) => `${id} ${n}`).join(", ");
  console.error(`${page}: ${check.rendered}/${check.total} charts rendered; tooltips: ${tips}`);
  const problems = [
    ...check.failed.map((f) => `chart failed: ${f}`),
    ...check.consoleErrors.map((e) => `console: ${e}`),
    ...check.networkRequests.map((u) => `network request: ${u}`),
  ];
  if (check.rendered !== check.total) problems.unshift(`${check.total - check.rendered} chart(s) not rendered`);
  const files = await writeScreenshot(v.dir, check.screenshot!, pageBytes);
  console.error(`wrote ${files.join(", ")}`);
  if (problems.length) {
    for (const p of problems) console.error(`problem: ${p}`);
    Deno.exit(1);
  }
});
