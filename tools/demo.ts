/**
 * The browser demo: puts `reports/demo/` together (the page's bundled code,
 * TF.js's wasm binaries, face-api's detector weights, the emotion model) and
 * serves `reports/` on 127.0.0.1, so that `reports/demo.html` finds every
 * face in a dropped photo or the webcam's frames and shows their emotions,
 * with nothing fetched from anywhere but this server.
 *
 *     deno task demo                            # then open http://127.0.0.1:8019/demo.html
 *     deno task demo --port 9000
 *     deno task demo --model reports/models/03_deep
 *     deno task demo --build-only               # reports/demo/ only; any static server can serve reports/
 *
 * The model is `reports/demo.json`'s (`"model": "auto"`: the one
 * `deno task predict` uses by default), unless `--model` names another.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { parseFlags } from "../lib/cli/args.ts";
import { runCli } from "../lib/cli/shell.ts";
import { denoCommand } from "../lib/cli/permissions.ts";
import { bestModelDir, readResults } from "../lib/compare/results.ts";
import { assembleDemo, ASSETS, DemoError, type DemoModel, readConfig } from "../lib/demo/assemble.ts";
import { serveStatic } from "../lib/demo/serve.ts";

const REPORTS = new URL("../reports", import.meta.url).pathname;
const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** `--model`, else the config's model: `auto` is predict's default, the best committed model. */
async function demoModel(configured: string, given?: string): Promise<DemoModel> {
  const { results } = await readResults(REPORTS);
  if (given === undefined && configured === "auto") {
    const best = await bestModelDir(REPORTS, results);
    if (!best) throw new DemoError(`no saved model under ${REPORTS}/models (run an experiment, or pass --model)`);
    return { dir: best.dir, title: best.result.title, testAccuracy: best.result.testAccuracy };
  }
  const dir = given === undefined ? join(REPORTS, configured) : resolve(given);
  const r = results.find((r) => r.modelDir !== undefined && resolve(REPORTS, r.modelDir) === dir);
  return { dir, title: r?.title, testAccuracy: r?.testAccuracy };
}

await runCli(async () => {
  const v = parseFlags(
    Deno.args,
    "deno task demo",
    {
      port: { type: "number", help: "port on 127.0.0.1 to serve reports/ from", integer: true, range: "[0, 65535]" },
      model: { type: "string", help: "a saved model folder (default: reports/demo.json's, predict's default)" },
      buildOnly: { type: "boolean", help: "put reports/demo/ together and exit, without serving it" },
    },
    { port: 8019, model: undefined as string | undefined, buildOnly: false },
    {
      about: "Serves the browser demo, reports/demo.html: faces and their emotions in a photo or the webcam, " +
        "computed in the page, offline.",
    },
  );
  if (!v) return; // --help was printed
  const model = await demoModel((await readConfig(REPORTS)).model, v.model);
  const built = await assembleDemo({ reports: REPORTS, out: REPORTS, model, deno: denoCommand() });
  const { manifest, bytes } = built;
  console.error(
    `${built.dir}: model ${manifest.name} (${MB(bytes.model)}), page code ${MB(bytes.code)}, ` +
      `TF.js ${manifest.tfjs} wasm ${MB(bytes.wasm)}, face detectors ${MB(bytes.detectors)}`,
  );
  if (v.buildOnly) return;
  const server = serveStatic(REPORTS, {
    port: v.port,
    onRequest: (r) => r.status !== 200 && console.error(`${r.status} ${r.method} ${r.path}`),
  });
  console.log(`demo: ${server.url}demo.html (the comparison: ${server.url}index.html); Ctrl-C stops it`);
  console.error(`serving ${REPORTS} (${ASSETS}/ is rebuilt by each \`deno task demo\`)`);
  await new Promise<void>((done) => {
    Deno.addSignalListener("SIGINT", () => server.shutdown().then(done));
  });
});
