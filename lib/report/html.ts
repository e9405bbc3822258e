/**
 * The self-contained HTML view of the results (`reports/index.html`): the
 * comparison table, its chart, the speed summary, and every experiment's
 * interactive charts (curves with tooltips, the confusion matrix as counts
 * and as row-normalised recall, the reliability diagram when recorded).
 *
 * Charts are drawn in the browser by vega-embed from specs inlined in the
 * page; Vega, Vega-Lite and vega-embed come from our npm dependencies, copied
 * into `vendor/` beside the page, so viewing needs no network (a `file://`
 * URL works). The page records in `window.ferlab` how many charts rendered and
 * which failed, which the browser test reads.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ChartSpec } from "./charts.ts";
import { writeFileAtomic } from "../atomic_write.ts";

/** A table cell: text, or text linking somewhere. */
export type HtmlCell = string | { text: string; href: string };

/** One block of the page, in order. */
export type Block =
  | { kind: "heading"; text: string; level?: 1 | 2 | 3 }
  | { kind: "paragraph"; text: string }
  | { kind: "table"; headers: string[]; align?: ("left" | "right")[]; rows: HtmlCell[][] }
  | { kind: "chart"; id: string; spec: ChartSpec }
  | { kind: "list"; items: string[] };

/** Browser builds of the chart libraries, copied to `vendor/`, in load order. */
export const VENDOR = [
  { pkg: "vega", file: "vega.min.js" },
  { pkg: "vega-lite", file: "vega-lite.min.js" },
  { pkg: "vega-embed", file: "vega-embed.min.js" },
] as const;

const ID_RE = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Minimal inline Markdown of our own texts: `code` and [text](href). */
function inline(s: string): string {
  return escapeHtml(s)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
}

function cell(c: HtmlCell, align: string | undefined): string {
  const style = align === "right" ? ' class="num"' : "";
  const body = typeof c === "string" ? inline(c) : `<a href="${escapeHtml(c.href)}">${escapeHtml(c.text)}</a>`;
  return `<td${style}>${body}</td>`;
}

function renderBlock(b: Block): string {
  switch (b.kind) {
    case "heading": {
      const level = b.level ?? 2;
      return `<h${level}>${inline(b.text)}</h${level}>`;
    }
    case "paragraph":
      return `<p>${inline(b.text)}</p>`;
    case "list":
      return `<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join("")}</ul>`;
    case "table":
      return [
        "<table>",
        `<thead><tr>${b.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>`,
        "<tbody>",
        ...b.rows.map((r) => `<tr>${r.map((c, i) => cell(c, b.align?.[i])).join("")}</tr>`),
        "</tbody>",
        "</table>",
      ].join("\n");
    case "chart":
      return `<div class="chart" id="${b.id}"></div>`;
  }
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; padding: 0 16px; color: #222; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
.chart { margin: 12px 0 24px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
#chart-errors { color: #b00; }`;

/**
 * The page's HTML. Specs are inlined as one JSON block (with `<` escaped so
 * no data can close the script tag).
 *
 * @throws RangeError for a chart id that is not a plain identifier or repeats.
 */
export function renderPage(title: string, blocks: readonly Block[]): string {
  const specs: Record<string, ChartSpec> = {};
  for (const b of blocks) {
    if (b.kind !== "chart") continue;
    if (!ID_RE.test(b.id)) throw new RangeError(`chart id "${b.id}" must be a plain identifier`);
    if (b.id in specs) throw new RangeError(`chart id "${b.id}" repeats`);
    specs[b.id] = b.spec;
  }
  const json = JSON.stringify(specs).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}
</style>
${VENDOR.map((v) => `<script src="vendor/${v.file}"></script>`).join("\n")}
</head>
<body>
${blocks.map(renderBlock).join("\n")}
<p id="chart-errors"></p>
<script id="ferlab-specs" type="application/json">${json}</script>
<script>
(function () {
  var specs = JSON.parse(document.getElementById("ferlab-specs").textContent);
  var ids = Object.keys(specs);
  var state = { total: ids.length, rendered: 0, failed: [], views: {}, done: false };
  window.ferlab = state;
  if (typeof vegaEmbed !== "function") {
    state.failed.push("vega-embed did not load (vendor/ missing next to this page?)");
    document.getElementById("chart-errors").textContent = state.failed.join("; ");
    state.done = true;
    return;
  }
  Promise.all(ids.map(function (id) {
    return vegaEmbed("#" + id, specs[id], { actions: false, renderer: "svg" }).then(function (r) {
      state.views[id] = r.view;
      state.rendered++;
    }).catch(function (e) {
      state.failed.push(id + ": " + e);
      console.error("chart " + id + " failed: " + e);
    });
  })).then(function () {
    state.done = true;
    if (state.failed.length) document.getElementById("chart-errors").textContent = state.failed.join("; ");
  });
})();
</script>
</body>
</html>
`;
}

/** Where an npm package's browser build lives in node_modules. */
function vendorSource(pkg: string, file: string): string {
  const require = createRequire(import.meta.url);
  // The packages export only their module entry, which sits in build/ beside the minified bundle.
  return join(dirname(require.resolve(pkg)), file);
}

/**
 * Copies the chart libraries into `outDir/vendor/` (only when the bytes
 * differ, so a rebuild leaves them untouched) and returns the paths.
 */
export async function copyVendor(outDir: string): Promise<string[]> {
  const dir = join(outDir, "vendor");
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const v of VENDOR) {
    const src = vendorSource(v.pkg, v.file);
    const text = await Deno.readTextFile(src);
    const dst = join(dir, v.file);
    const old = await Deno.readTextFile(dst).catch(() => undefined);
    if (old !== text) await writeFileAtomic(dst, text);
    const license = join(dirname(src), "..", "LICENSE");
    const lic = await Deno.readTextFile(license).catch(() => undefined);
    if (lic !== undefined) {
      const ldst = join(dir, `${v.pkg}.LICENSE`);
      if ((await Deno.readTextFile(ldst).catch(() => undefined)) !== lic) await writeFileAtomic(ldst, lic);
    }
    written.push(dst);
  }
  return written;
}
