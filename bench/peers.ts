/**
 * `deno task bench:peers`: the JavaScript peers' emotion models (face-api.js's
 * expression model and Human's emotion model, weights read from node_modules)
 * and ferlab's saved models, measured side by side on the official protocol's
 * test faces: accuracy, macro-F1, NLL and ECE with TTA none, flip and ten
 * views,
 * parameters, weight bytes, and milliseconds per face on the wasm backend at
 * batch 1 and batch 64. Writes `reports/peers.md`, `reports/peers.json` and a
 * chart.
 *
 *     deno task bench:peers --data ../shared/data/fer2013-dev.csv.gz --model reports/models/05_budget
 *
 * The machine's CPU, vector ISA, load average (at the start and after each
 * timing), the backend, its kernels and threads are recorded with the
 * timings: on a busy machine the report says so and gives the command that
 * re-times it.
 *
 * @module
 */
import { type BackendInfo, describeBackend, kernelsLabel, selectBackend } from "../lib/backend/select.ts";
import { parseFlags, UsageError } from "../lib/cli/args.ts";
import { runCli } from "../lib/cli/shell.ts";
import { fingerprint } from "../lib/data/fingerprint.ts";
import { loadData } from "../lib/data/locate.ts";
import { makeSyntheticFer2013 } from "../lib/data/synthetic.ts";
import { machineFacts } from "../lib/machine.ts";
import { loadDnnl } from "../lib/backend/native/dnnl.ts";
import { DEFAULT_TIMING } from "../lib/peers/measure.ts";
import { type PeerName, PEERS } from "../lib/peers/models.ts";
import { type PeersRecord, peersReport } from "../lib/peers/report.ts";
import { runPeers } from "../lib/peers/run.ts";
import { writeReport } from "../lib/report/write.ts";

/** ferlab's kernel sets on wasm, or TF.js's stock wasm kernels alone (what a page without ferlab's kernels runs). */
const KERNELS = ["wasm", "native", "auto", "stock"] as const;
type Kernels = typeof KERNELS[number];

const FLAGS = {
  data: { type: "string" as const, help: "FER2013 CSV(.gz) or image folder (default: data/, else synthetic faces)" },
  skipBad: { type: "boolean" as const, help: "skip malformed rows/images (listed) instead of stopping" },
  model: { type: "string" as const, help: "one of ferlab's saved model folders to measure too", multiple: true },
  peers: { type: "string" as const, help: "which peers to measure", choices: ["both", ...PEERS, "none"] },
  threads: { type: "number" as const, help: "wasm threads (0: one per core)", integer: true, range: "[0, 64]" },
  kernels: {
    type: "string" as const,
    help: "wasm kernels: ferlab's wasm SIMD, oneDNN's native, or stock TF.js",
    choices: KERNELS,
  },
  limit: {
    type: "number" as const,
    help: "measure only the first N test rows (0: all)",
    integer: true,
    range: "[0, inf)",
  },
  seconds: { type: "number" as const, help: "time each batch size for at least this many seconds", range: "[0, 600]" },
  out: { type: "string" as const, help: "output folder" },
  name: { type: "string" as const, help: "report name (files NAME.md, NAME.json)" },
  note: { type: "string" as const, help: "a remark on the conditions, kept in the report" },
  render: { type: "string" as const, help: "rebuild the report from this peers.json, measuring nothing" },
};
const DEFAULTS = {
  data: "",
  skipBad: false,
  model: [] as string[],
  peers: "both",
  threads: 0,
  kernels: "wasm" as Kernels,
  limit: 0,
  seconds: DEFAULT_TIMING.minSeconds,
  out: "reports",
  name: "peers",
  note: "",
  render: "",
};
const ABOUT =
  `Every model sees the official protocol's test rows (seed 42, the experiments' split cache): PublicTest when
PrivateTest is absent. Peers' weights come from node_modules (deno install); nothing is fetched.
Timings are the median ms per face over the timed runs at batch 1 and 64; run on a quiet machine.`;

/** `word` as a shell reads it back: quoted when it holds anything but plain path and flag characters. */
function shellWord(word: string): string {
  return /^[\w./:=@,+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/**
 * The vector ISA oneDNN dispatches to, asked of its shim even when the timed
 * kernels are wasm ones: Deno grants /proc/cpuinfo only with all permissions.
 */
function cpuIsa(): string | undefined {
  const dnnl = loadDnnl({ threads: 1 });
  return "reason" in dnnl ? undefined : dnnl.info.isa;
}

await runCli(async () => {
  const args = parseFlags(Deno.args, "deno task bench:peers", FLAGS, DEFAULTS, { about: ABOUT });
  if (!args) return;
  if (args.render) {
    const record = JSON.parse(await Deno.readTextFile(args.render)) as PeersRecord;
    const { files } = await writeReport(args.out, args.name, peersReport(record));
    console.error(`wrote ${files.join(", ")} from ${args.render}`);
    return;
  }
  const peers: PeerName[] = args.peers === "both" ? [...PEERS] : args.peers === "none" ? [] : [args.peers as PeerName];
  if (peers.length === 0 && args.model.length === 0) {
    throw new UsageError("nothing to measure: --peers none and no --model");
  }

  const backend: BackendInfo = await selectBackend("wasm", {
    threads: args.threads || "auto",
    kernels: args.kernels === "stock" ? "wasm" : args.kernels,
    stockWasm: args.kernels === "stock",
  });
  console.error(`backend: ${describeBackend(backend)}`);
  for (const n of backend.notes) console.error(`  note: ${n}`);

  const choice = await loadData({
    data: args.data || undefined,
    skipBad: args.skipBad,
    synthetic: () => makeSyntheticFer2013({ seed: 2013 }),
    log: (m) => console.error(m),
  });
  const { data } = choice;
  const dataFacts = {
    kind: choice.kind,
    source: data.source,
    fingerprint: fingerprint(data),
    synthetic: choice.kind === "synthetic",
  };
  console.error(`data: ${data.source}, ${data.n} rows, fingerprint ${dataFacts.fingerprint}`);

  const machine = machineFacts(backend.native?.isa ?? cpuIsa());
  const given = Deno.args.map(shellWord).join(" ");
  const retime = [
    "deno task bench:peers",
    args.data ? `--data ${shellWord(args.data)}` : "",
    ...args.model.map((m) => `--model ${shellWord(m)}`),
    args.peers !== DEFAULTS.peers ? `--peers ${args.peers}` : "",
    args.threads ? `--threads ${args.threads}` : "",
    args.kernels !== DEFAULTS.kernels ? `--kernels ${args.kernels}` : "",
  ].filter(Boolean).join(" ");
  const record = await runPeers({
    data,
    dataFacts,
    peers,
    models: args.model,
    modes: ["none", "flip", "crops"],
    batches: [1, 64],
    timing: { ...DEFAULT_TIMING, minSeconds: args.seconds },
    limit: args.limit,
    machine,
    backend: {
      name: backend.name,
      description: describeBackend(backend),
      kernels: args.kernels === "stock" ? "TF.js stock wasm" : kernelsLabel(backend),
      threads: backend.threads,
      notes: backend.notes,
    },
    command: `deno task bench:peers${given ? ` ${given}` : ""}`,
    retimeCommand: retime,
    note: args.note,
    log: (m) => console.error(m),
  });
  const { files } = await writeReport(args.out, args.name, peersReport(record));
  console.error(`wrote ${files.join(", ")}`);
});
