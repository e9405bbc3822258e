/**
 * Headless rendering of Vega-Lite specs to SVG.
 *
 * Vega runs here without a DOM or canvas (`renderer: "none"`) and estimates
 * text widths, which is plenty for report charts. Its loader is replaced by
 * one that refuses every request, so a spec that names a URL fails loudly
 * instead of reaching the network in the middle of an experiment.
 *
 * @module
 */

import * as vega from "vega";
import { compile } from "vega-lite";
import type { ChartSpec } from "./charts.ts";

/** Raised when a spec cannot be compiled or rendered. */
export class RenderError extends Error {
  /** @param message what went wrong, naming the chart where known */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RenderError";
  }
}

/** A Vega spec compiled from Vega-Lite, plus what the compiler warned. */
export interface CompiledSpec {
  /** The compiled Vega spec. */
  vega: vega.Spec;
  /** Vega-Lite compiler warnings (an empty array for a clean spec). */
  warnings: string[];
}

/**
 * A logger that collects warnings instead of printing them, so callers
 * (and tests) decide what a warning means. Errors still throw at the call
 * sites inside Vega, so `error` only records.
 */
function collectingLogger(warnings: string[]): vega.LoggerInterface {
  let level = vega.Warn;
  const record = (...args: readonly unknown[]) => {
    warnings.push(args.map(String).join(" "));
  };
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: readonly unknown[]) {
      record(...args);
      return logger;
    },
    warn(...args: readonly unknown[]) {
      if (level >= vega.Warn) record(...args);
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger as vega.LoggerInterface;
}

/** A Vega loader that refuses all I/O: report charts carry inline data. */
const offlineLoader: vega.Loader = {
  load: (uri) => Promise.reject(new RenderError(`refusing to load "${uri}"`)),
  sanitize: (uri) => Promise.reject(new RenderError(`refusing to load "${uri}"`)),
  http: (uri) => Promise.reject(new RenderError(`refusing to fetch "${uri}"`)),
  file: (file) => Promise.reject(new RenderError(`refusing to read "${file}"`)),
};

/**
 * Compiles a Vega-Lite spec to Vega, collecting compiler warnings.
 *
 * @throws RenderError wrapping the compiler's error for an invalid spec.
 */
export function compileSpec(spec: ChartSpec): CompiledSpec {
  const warnings: string[] = [];
  try {
    const { spec: vg } = compile(spec, { logger: collectingLogger(warnings) });
    return { vega: vg, warnings };
  } catch (e) {
    throw new RenderError(
      `Vega-Lite could not compile ${describe(spec)}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/** Options of {@link renderSvg}. */
export interface RenderOptions {
  /**
   * Receives compiler and runtime warnings; by default they are dropped
   * (a chart with a warning is usually still worth writing).
   */
  onWarning?: (message: string) => void;
}

/**
 * Renders a Vega-Lite spec to a standalone SVG string, without DOM,
 * canvas or network.
 *
 * @throws RenderError when the spec does not compile or Vega fails.
 */
export async function renderSvg(
  spec: ChartSpec,
  { onWarning }: RenderOptions = {},
): Promise<string> {
  const { vega: vg, warnings } = compileSpec(spec);
  let view: vega.View | undefined;
  try {
    view = new vega.View(vega.parse(vg), {
      renderer: "none",
      loader: offlineLoader,
      logger: collectingLogger(warnings),
      logLevel: vega.Warn,
    });
    return await view.toSVG();
  } catch (e) {
    throw new RenderError(
      `Vega could not render ${describe(spec)}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  } finally {
    // Releases timers and listeners so Deno tests see no leaked resources.
    view?.finalize();
    if (onWarning) warnings.forEach((w) => onWarning(w));
  }
}

/** Names a spec in error messages by its title when it has one. */
function describe(spec: ChartSpec): string {
  const t = (spec as { title?: unknown }).title;
  const text = typeof t === "string" ? t : (t && typeof t === "object" && "text" in t ? String(t.text) : undefined);
  return text === undefined ? "chart" : `chart "${text}"`;
}
