/**
 * A static file server for the demo, on the loopback interface only: files
 * under one folder, GET and HEAD, nothing else. It sends the two headers
 * that make the page cross-origin isolated (so TF.js's wasm backend may use
 * threads through SharedArrayBuffer) and `no-store`, so that a re-assembled
 * demo is never served from the browser's cache. Every request is recorded,
 * for the tests.
 *
 * @example
 * ```ts
 * const server = serveStatic("reports", { port: 8019 });
 * console.log(`${server.url}demo.html`);
 * await server.shutdown();
 * ```
 *
 * @module
 */
import { extname, join, normalize, sep } from "node:path";

/** Content types by extension (the wasm one matters: streaming compilation requires it). */
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".md": "text/markdown; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** One request the server answered. */
export interface ServedRequest {
  method: string;
  path: string;
  status: number;
}

/** A running server. */
export interface StaticServer {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  port: number;
  /** Every request so far, in order. */
  requests: ServedRequest[];
  shutdown(): Promise<void>;
}

/** Options of {@link serveStatic}. */
export interface ServeOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Called after each request. */
  onRequest?: (r: ServedRequest) => void;
}

/** The file a URL path names under `root`, or null when it would leave it. */
export function fileFor(root: string, pathname: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (path.includes("\0")) return null;
  const rel = normalize(path.endsWith("/") ? `${path}index.html` : path).replace(/^[/\\]+/, "");
  if (rel === ".." || rel.startsWith(`..${sep}`)) return null;
  return join(root, rel);
}

/** Serves the files under `root` on 127.0.0.1. */
export function serveStatic(root: string, opts: ServeOptions = {}): StaticServer {
  const requests: ServedRequest[] = [];
  const record = (method: string, path: string, status: number) => {
    const r = { method, path, status };
    requests.push(r);
    opts.onRequest?.(r);
  };
  const headers = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cache-Control": "no-store",
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: opts.port ?? 0, onListen: () => {} },
    async (req) => {
      const { pathname } = new URL(req.url);
      if (req.method !== "GET" && req.method !== "HEAD") {
        record(req.method, pathname, 405);
        return new Response("method not allowed\n", { status: 405, headers: { ...headers, Allow: "GET, HEAD" } });
      }
      const file = fileFor(root, pathname);
      let body: Uint8Array<ArrayBuffer> | null = null;
      if (file) {
        try {
          if ((await Deno.stat(file)).isFile) body = await Deno.readFile(file);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
        }
      }
      if (!file || !body) {
        record(req.method, pathname, 404);
        return new Response(`${pathname}: not found\n`, { status: 404, headers });
      }
      record(req.method, pathname, 200);
      const type = TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { ...headers, "Content-Type": type, "Content-Length": String(body.length) },
      });
    },
  );
  const port = server.addr.port;
  return { url: `http://127.0.0.1:${port}/`, port, requests, shutdown: () => server.shutdown() };
}
