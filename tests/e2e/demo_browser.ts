/**
 * One headless Chromium page driven over the DevTools protocol (the client
 * of `lib/report/browser.ts`), for the demo's test: extra Chromium flags (a
 * fake camera), evaluating expressions, dropping a file on the page, a
 * screenshot, and a record of console errors and of every URL the page
 * requested.
 *
 * @module
 */
import { launchChromium, openBlankPage, pageError, screenshotPng } from "../../lib/report/browser.ts";

/** An open page. */
export interface PageSession {
  /** Evaluates `expression` in the page (awaiting a promise) and returns its value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; throws with `what` after `timeoutMs`. */
  waitFor<T>(expression: string, what: string, timeoutMs: number): Promise<T>;
  /** Drops the file at `path` on the page at (x, y), as a user dragging it from a file manager does. */
  dropFile(path: string, x: number, y: number): Promise<void>;
  /** A PNG of the viewport. */
  screenshot(): Promise<Uint8Array>;
  /** Console errors, uncaught exceptions and failed loads, in order. */
  consoleErrors: string[];
  /** Every URL the page (and its workers) requested. */
  requests: string[];
  close(): Promise<void>;
}

/** Options of {@link openPage}. */
export interface OpenOptions {
  /** Chromium flags besides browser.ts's `CHROMIUM_FLAGS`. */
  flags?: string[];
  width?: number;
  height?: number;
  /** For Chromium's start. */
  timeoutMs?: number;
}

/** Starts Chromium and opens `url` in it. */
export async function openPage(url: string, opts: OpenOptions = {}): Promise<PageSession> {
  const browser = await launchChromium({
    flags: opts.flags,
    timeoutMs: opts.timeoutMs ?? 60_000,
    profilePrefix: "ferlab-demo-chromium-",
  });
  const cdp = browser.cdp;
  const close = async () => {
    await cdp.send("Browser.close").catch(() => {});
    await browser.close();
  };
  try {
    const sessionId = await openBlankPage(cdp);
    const consoleErrors: string[] = [];
    const requests: string[] = [];
    const sessions = new Set([sessionId]);
    cdp.on((method, p, session) => {
      if (method === "Target.attachedToTarget") {
        // A worker of the page (TF.js's wasm threads): its requests and errors count as the page's.
        const worker = p.sessionId as string;
        sessions.add(worker);
        for (const d of ["Runtime", "Network"]) cdp.send(`${d}.enable`, {}, worker).catch(() => {});
        cdp.send("Runtime.runIfWaitingForDebugger", {}, worker).catch(() => {});
        return;
      }
      if (!session || !sessions.has(session)) return;
      const error = pageError(method, p);
      if (error !== undefined) consoleErrors.push(error);
      else if (method === "Network.requestWillBeSent") requests.push((p.request as { url: string }).url);
    });
    for (const domain of ["Runtime", "Log", "Page", "Network"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    await cdp.send(
      "Target.setAutoAttach",
      { autoAttach: true, waitForDebuggerOnStart: true, flatten: true },
      sessionId,
    );
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: opts.width ?? 1280,
      height: opts.height ?? 900,
      deviceScaleFactor: 1,
      mobile: false,
    }, sessionId);
    await cdp.send("Page.navigate", { url }, sessionId);

    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = await cdp.send<{ result: { value?: T }; exceptionDetails?: { text: string } }>(
        "Runtime.evaluate",
        { expression, returnByValue: true, awaitPromise: true },
        sessionId,
      );
      if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
      return r.result.value as T;
    };
    return {
      evaluate,
      async waitFor<T>(expression: string, what: string, timeoutMs: number): Promise<T> {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          const v = await evaluate<T>(expression).catch(() => undefined);
          if (v) return v;
          await new Promise((res) => setTimeout(res, 250));
        }
        const state = await evaluate<unknown>("JSON.stringify(window.ferlabDemo ?? null)").catch((e) => String(e));
        throw new Error(
          `${what}: not within ${timeoutMs / 1000} s; page state ${state}; console: ${consoleErrors.join(" | ")}`,
        );
      },
      async dropFile(path: string, x: number, y: number) {
        const data = { items: [], files: [path], dragOperationsMask: 1 };
        for (const type of ["dragEnter", "dragOver", "drop"]) {
          await cdp.send("Input.dispatchDragEvent", { type, x, y, data }, sessionId);
        }
      },
      screenshot: () => screenshotPng(cdp, sessionId),
      consoleErrors,
      requests,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
