/**
 * Opening a report page in headless Chromium and checking that it works:
 * every chart rendered, no console errors, no request leaving the machine,
 * tooltips on the marks; optionally a full-page screenshot.
 *
 * Chromium is driven over the DevTools protocol on its WebSocket (Deno has
 * one built in), so no browser-automation package or downloaded browser is
 * needed: Debian's `chromium` package is enough.
 *
 * @example
 * ```ts
 * const check = await checkPage(new URL("file:///repo/reports/index.html"), { screenshot: true });
 * if (check.rendered !== check.total || check.consoleErrors.length) throw new Error("page broken");
 * await Deno.writeFile("reports/index.png", check.screenshot!);
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** Where Chromium is looked for, after `$CHROMIUM`. */
export const CHROMIUM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The flags every run uses: headless, sandbox-free (containers), and nothing phoning home. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--hide-scrollbars",
];

/** Chromium is missing or misbehaved. */
export class BrowserError extends UserError {}

/** What {@link checkPage} saw. */
export interface PageCheck {
  /** Charts the page meant to draw. */
  total: number;
  /** Charts vega-embed finished drawing. */
  rendered: number;
  /** Charts that failed, with the error. */
  failed: string[];
  /** SVG elements inside chart containers. */
  svgs: number;
  /** Scenegraph items carrying a tooltip, per chart id. */
  tooltips: Record<string, number>;
  /** Console errors, uncaught exceptions and failed loads. */
  consoleErrors: string[];
  /** Requests to anything but `file:`, `data:` or `about:` URLs. */
  networkRequests: string[];
  /** Full-page PNG, when asked for. */
  screenshot?: Uint8Array;
  /** Text of the tooltip shown when the pointer rests on the first point of the `hover` chart. */
  hoverTooltip?: string;
}

/** Options of {@link checkPage}. */
export interface CheckOptions {
  /** Chromium binary (default `$CHROMIUM` or the first of {@link CHROMIUM_PATHS}). */
  chromium?: string;
  /** Take a full-page screenshot. */
  screenshot?: boolean;
  /** Give up after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Viewport width in CSS pixels (default 1280). */
  width?: number;
  /** Id of a chart whose first point (symbol mark) the pointer is moved onto, to read its tooltip. */
  hover?: string;
}

/** The Chromium binary to use, or a {@link BrowserError} saying how to get one. */
export async function findChromium(given?: string): Promise<string> {
  const candidates = [given, Deno.env.get("CHROMIUM"), ...CHROMIUM_PATHS].filter((p): p is string => !!p);
  for (const p of candidates) {
    try {
      if ((await Deno.stat(p)).isFile) return p;
    } catch {
      // try the next one
    }
  }
  throw new BrowserError(
    `Chromium not found (looked at ${candidates.join(", ")}); install it with \`apt-get install -y chromium\` ` +
      "or set CHROMIUM=/path/to/chrome",
  );
}

/** Reads Chromium's stderr until it prints its DevTools WebSocket URL. */
export async function devtoolsUrl(stderr: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
    if (m) {
      // Keep draining stderr so Chromium never blocks on a full pipe.
      (async () => {
        try {
          while (!(await reader.read()).done) { /* discard */ }
        } catch { /* closed */ }
      })();
      return m[1];
    }
  }
  throw new BrowserError(`Chromium did not start its DevTools endpoint:\n${seen.slice(-2000)}`);
}

/** A minimal DevTools-protocol client over one WebSocket (flat sessions); the demo's test drives a page with it too. */
export class Cdp {
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners: ((method: string, params: Record<string, unknown>, session?: string) => void)[] = [];
  private constructor(private ws: WebSocket) {
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data));
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new BrowserError(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg.method, msg.params ?? {}, msg.sessionId);
      }
    };
  }

  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new Cdp(ws));
      ws.onerror = (e) => reject(new BrowserError(`cannot connect to ${url}: ${(e as ErrorEvent).message ?? e}`));
    });
  }

  send<T = Record<string, unknown>>(method: string, params: object = {}, sessionId?: string): Promise<T> {
    const id = this.#next++;
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
  }

  on(listener: (method: string, params: Record<string, unknown>, session?: string) => void) {
    this.#listeners.push(listener);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.onclose = () => resolve();
      this.ws.close();
    });
  }
}

/** A headless Chromium with a DevTools connection, from {@link launchChromium}. */
export interface Chromium {
  cdp: Cdp;
  /** Closes the connection, kills Chromium and removes its temporary profile. */
  close(): Promise<void>;
}

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /** Chromium binary (default: {@link findChromium}'s choice). */
  chromium?: string;
  /** Chromium flags besides {@link CHROMIUM_FLAGS}. */
  flags?: string[];
  /** For Chromium's start. */
  timeoutMs: number;
  /** Prefix of the temporary profile folder's name. */
  profilePrefix: string;
}

/** Starts headless Chromium on a fresh profile and connects to its DevTools endpoint. */
export async function launchChromium(opts: LaunchOptions): Promise<Chromium> {
  const binary = await findChromium(opts.chromium);
  const profile = await Deno.makeTempDir({ prefix: opts.profilePrefix });
  const child = new Deno.Command(binary, {
    args: [
      ...CHROMIUM_FLAGS,
      ...(opts.flags ?? []),
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let cdp: Cdp | undefined;
  const close = async () => {
    await cdp?.close();
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  try {
    cdp = await Cdp.open(await devtoolsUrl(child.stderr, opts.timeoutMs));
    return { cdp, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Opens a blank page and attaches to it (flat session); returns the page's session id. */
export async function openBlankPage(cdp: Cdp): Promise<string> {
  const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true });
  return sessionId;
}

/** The error a DevTools event reports (a console error, an uncaught exception, a failed load), else undefined. */
export function pageError(method: string, p: Record<string, unknown>): string | undefined {
  if (method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
    return `console.${p.type}: ${consoleText(p)}`;
  } else if (method === "Runtime.exceptionThrown") {
    const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
    return `uncaught: ${d.exception?.description ?? d.text}`;
  } else if (method === "Log.entryAdded") {
    const e = p.entry as { level: string; text: string; url?: string };
    if (e.level === "error") return `${e.text}${e.url ? ` (${e.url})` : ""}`;
  }
  return undefined;
}

/** A PNG of what the page's viewport shows. */
export async function screenshotPng(cdp: Cdp, sessionId: string): Promise<Uint8Array> {
  const shot = await cdp.send<{ data: string }>("Page.captureScreenshot", { format: "png" }, sessionId);
  return Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0));
}

/** What the page reports about its charts. */
type PageState = Omit<PageCheck, "consoleErrors" | "networkRequests"> & { done?: boolean };

/** Evaluated in the page once it says it is done: the page's own account of its charts. */
const INSPECT = `(() => {
  const s = window.ferlab;
  if (!s) return null;
  const tooltips = {};
  for (const [id, view] of Object.entries(s.views)) {
    let n = 0;
    const walk = (node) => {
      if (!node) return;
      if (node.tooltip !== undefined && node.tooltip !== null) n++;
      if (node.items) node.items.forEach(walk);
    };
    walk(view.scenegraph().root);
    tooltips[id] = n;
  }
  return { total: s.total, rendered: s.rendered, failed: s.failed, done: s.done,
    svgs: document.querySelectorAll(".chart svg").length, tooltips };
})()`;

/** Moves the pointer onto the first point of chart `id` and returns the tooltip's text ("" when none shows). */
async function hoverFirstPoint(cdp: Cdp, sessionId: string, id: string): Promise<string> {
  const where = `(() => {
    const p = document.querySelector(${JSON.stringify(`#${id} .mark-symbol path`)});
    if (!p) return null;
    p.scrollIntoView({ block: "center" });
    const r = p.getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
  })()`;
  const r: { result: { value?: { x: number; y: number } | null } } = await cdp.send(
    "Runtime.evaluate",
    { expression: where, returnByValue: true },
    sessionId,
  );
  const at = r.result.value;
  if (!at) throw new BrowserError(`chart ${id} has no point to hover`);
  await cdp.send("Input.dispatchMouseEvent", { type: "mouseMoved", x: at.x, y: at.y }, sessionId);
  await new Promise((res) => setTimeout(res, 300));
  const t: { result: { value?: string } } = await cdp.send("Runtime.evaluate", {
    expression: `(() => { const t = document.getElementById("vg-tooltip-element");
      return t && t.classList.contains("visible") ? t.innerText : ""; })()`,
    returnByValue: true,
  }, sessionId);
  return t.result.value ?? "";
}

/** The text of a `Runtime.consoleAPICalled` event's arguments. */
export function consoleText(params: Record<string, unknown>): string {
  const args = (params.args as { value?: unknown; description?: string }[] | undefined) ?? [];
  return args.map((a) => (a.value !== undefined ? String(a.value) : a.description ?? "")).join(" ");
}

/**
 * Loads `url` in headless Chromium, waits until the page's charts are done,
 * and reports what it saw (see {@link PageCheck}).
 *
 * @throws BrowserError when Chromium is missing, does not start, or the page
 *   does not finish within the timeout.
 */
export async function checkPage(url: URL | string, opts: CheckOptions = {}): Promise<PageCheck> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const browser = await launchChromium({ chromium: opts.chromium, timeoutMs, profilePrefix: "ferlab-chromium-" });
  try {
    const cdp = browser.cdp;
    const sessionId = await openBlankPage(cdp);
    const consoleErrors: string[] = [];
    const networkRequests: string[] = [];
    cdp.on((method, p, session) => {
      if (session !== sessionId) return;
      const error = pageError(method, p);
      if (error !== undefined) {
        consoleErrors.push(error);
      } else if (method === "Network.requestWillBeSent") {
        const u = (p.request as { url: string }).url;
        if (!/^(file|data|about|blob):/.test(u)) networkRequests.push(u);
      }
    });
    for (const domain of ["Runtime", "Log", "Page", "Network"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    const width = opts.width ?? 1280;
    await cdp.send(
      "Emulation.setDeviceMetricsOverride",
      { width, height: 900, deviceScaleFactor: 1, mobile: false },
      sessionId,
    );
    await cdp.send("Page.navigate", { url: String(url) }, sessionId);

    const deadline = Date.now() + timeoutMs;
    let seen: PageState | null = null;
    while (Date.now() < deadline) {
      const r: { result: { value?: PageState } } = await cdp.send(
        "Runtime.evaluate",
        { expression: INSPECT, returnByValue: true },
        sessionId,
      );
      seen = r.result.value ?? null;
      if (seen?.done) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    if (!seen?.done) {
      throw new BrowserError(
        `${url}: charts not done after ${timeoutMs / 1000}s (${
          seen ? `${seen.rendered}/${seen.total} rendered` : "no window.ferlab"
        }` +
          `${consoleErrors.length ? `; console: ${consoleErrors.join("; ")}` : ""})`,
      );
    }
    const hoverTooltip = opts.hover === undefined ? undefined : await hoverFirstPoint(cdp, sessionId, opts.hover);
    let screenshot: Uint8Array | undefined;
    if (opts.screenshot) {
      const m = await cdp.send<{ cssContentSize: { height: number } }>("Page.getLayoutMetrics", {}, sessionId);
      const height = Math.min(16_000, Math.ceil(m.cssContentSize.height));
      await cdp.send(
        "Emulation.setDeviceMetricsOverride",
        { width, height, deviceScaleFactor: 1, mobile: false },
        sessionId,
      );
      screenshot = await screenshotPng(cdp, sessionId);
    }
    await cdp.send("Browser.close").catch(() => {});
    return {
      total: seen.total,
      rendered: seen.rendered,
      failed: seen.failed,
      svgs: seen.svgs,
      tooltips: seen.tooltips,
      consoleErrors,
      networkRequests,
      screenshot,
      hoverTooltip,
    };
  } finally {
    await browser.close();
  }
}
