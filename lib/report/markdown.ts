/**
 * Small pure helpers for writing report Markdown (GitHub-flavoured).
 *
 * @module
 */

/** Column alignment of {@link mdTable}. */
export type Align = "left" | "right" | "center";

/** A table cell: strings verbatim, numbers via `String`. */
export type Cell = string | number;

/** Makes a value safe inside one GFM table cell. */
function escapeCell(cell: Cell): string {
  // A raw pipe would split the cell and a newline would end the table row.
  return String(cell).replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

/** Separator-row marker per alignment; no alignment means GFM's default. */
function alignMarker(a: Align | undefined): string {
  switch (a) {
    case "left":
      return ":---";
    case "right":
      return "---:";
    case "center":
      return ":---:";
    default:
      return "---";
  }
}

/**
 * A GitHub-flavoured Markdown table, one line per row, ending in a newline.
 *
 * ```ts
 * mdTable(["model", "acc"], [["cnn", "53.4%"]], ["left", "right"]);
 * // "| model | acc |\n| :--- | ---: |\n| cnn | 53.4% |\n"
 * ```
 *
 * @throws RangeError when a row's length differs from the header's, or
 *   `align` is given with a different length.
 */
export function mdTable(
  headers: readonly Cell[],
  rows: readonly (readonly Cell[])[],
  align?: readonly (Align | undefined)[],
): string {
  if (headers.length === 0) throw new RangeError("mdTable: no headers");
  if (align && align.length !== headers.length) {
    throw new RangeError(
      `mdTable: ${align.length} alignments for ${headers.length} columns`,
    );
  }
  rows.forEach((r, i) => {
    if (r.length !== headers.length) {
      throw new RangeError(
        `mdTable: row ${i} has ${r.length} cells, expected ${headers.length}`,
      );
    }
  });
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |\n`;
  return line(headers.map(escapeCell)) +
    line(headers.map((_, i) => alignMarker(align?.[i]))) +
    rows.map((r) => line(r.map(escapeCell))).join("");
}

/**
 * A fraction as a percentage: `pct(0.5343)` → `"53.43%"`.
 * Non-finite input (a metric that could not be computed) gives `"n/a"`.
 */
export function pct(x: number, digits = 2): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : "n/a";
}

/**
 * A number with fixed decimals, or `"n/a"` when not finite:
 * `fmtNumber(1.23456, 3)` → `"1.235"`.
 */
export function fmtNumber(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "n/a";
}

/**
 * A calibration gap (mean confidence − accuracy) in percentage points with its direction, or `"n/a"`:
 * `fmtOverconfidence(-0.052)` → `"−5.2 pts (under)"`.
 */
export function fmtOverconfidence(gap: number): string {
  if (!Number.isFinite(gap)) return "n/a";
  const points = Math.abs(100 * gap).toFixed(1);
  if (Number(points) === 0) return "±0.0 pts";
  return gap > 0 ? `+${points} pts (over)` : `−${points} pts (under)`;
}

/** An integer with thousands separators: `fmtInt(32298)` → `"32,298"`. */
export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+$)/g, ",");
  return n < 0 && Math.round(n) !== 0 ? `-${s}` : s;
}

/**
 * A duration for humans: `fmtSeconds(754)` → `"12m 34s"`,
 * `fmtSeconds(3725)` → `"1h 02m 05s"`, `fmtSeconds(5.25)` → `"5.3s"`.
 * Under a minute keeps one decimal; longer durations round to the second.
 */
export function fmtSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "n/a";
  if (seconds < 0) return `-${fmtSeconds(-seconds)}`;
  // Decide the unit after rounding so 59.97 s reads "1m 00s", not "60.0s".
  if (Math.round(seconds * 10) / 10 < 60) {
    const s = Math.round(seconds * 10) / 10;
    return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
  }
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (v: number) => String(v).padStart(2, "0");
  return h > 0 ? `${h}h ${two(m)}m ${two(s)}s` : `${m}m ${two(s)}s`;
}

/**
 * A fenced JSON code block of a (resolved) config, so a report records
 * exactly what ran. The fence grows past any backtick run in the content.
 *
 * @throws TypeError when `obj` has no JSON form (undefined, a function,
 *   a BigInt, a cycle).
 */
export function configBlock(obj: unknown): string {
  const json = JSON.stringify(obj, null, 2);
  if (json === undefined) {
    throw new TypeError(`configBlock: ${typeof obj} has no JSON form`);
  }
  const longest = Math.max(
    0,
    ...(json.match(/`+/g) ?? []).map((r) => r.length),
  );
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}json\n${json}\n${fence}\n`;
}

/**
 * A Markdown image link: `imageLink("loss", "run.curves.svg")` →
 * `"![loss](run.curves.svg)"`. Brackets in the alt text are escaped and
 * spaces or parentheses in the path percent-encoded so the link stays one
 * token.
 */
export function imageLink(alt: string, file: string): string {
  const safeAlt = alt.replace(/[\\[\]]/g, (c) => `\\${c}`);
  const safeFile = file.replace(
    /[ ()]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `![${safeAlt}](${safeFile})`;
}
