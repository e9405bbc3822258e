/**
 * Loads ferlab's oneDNN shim (`libferlab_dnnl.so`, built from
 * `ferlab_dnnl.c` against Debian's `libdnnl2`) through Deno's FFI, and calls
 * its kernels on the TF.js wasm heap in place.
 *
 * Least privilege: the permission sets grant `--allow-ffi` for the shim's
 * path only, which refuses `Deno.UnsafePointer`. So the heap goes over as a
 * `buffer` argument (a Uint8Array view of the shared `WebAssembly.Memory`)
 * with byte offsets, and every oneDNN handle stays inside the shim.
 *
 * @example
 * ```ts
 * const dnnl = loadDnnl({ threads: 2 });
 * if ("reason" in dnnl) console.log(`wasm kernels: ${dnnl.reason}`);
 * else console.log(dnnl.info); // { version: "2.6.3", isa: "avx512_core_bf16", threads: 2 }
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The shim's path: it sits beside this module. */
export const SHIM_PATH = fileURLToPath(new URL("./libferlab_dnnl.so", import.meta.url));

/** What ran: oneDNN's version, the ISA its kernels dispatched to, and its thread count. */
export interface DnnlInfo {
  version: string;
  isa: string;
  threads: number;
}

const SYMBOLS = {
  ferlab_init: { parameters: ["i32"], result: "i32" },
  ferlab_info: { parameters: ["buffer", "i32"], result: "i32" },
  ferlab_last_error: { parameters: ["buffer", "i32"], result: "i32" },
  ferlab_impl: { parameters: ["buffer", "buffer", "i32"], result: "i32" },
  ferlab_conv: { parameters: ["i32", "buffer", "buffer", "u32", "u32", "u32", "u32"], result: "i32" },
  ferlab_bn: { parameters: ["i32", "buffer", "buffer", "buffer"], result: "i32" },
} as const;

type Shim = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Operation codes shared with `ferlab_dnnl.c`. */
export const OP = { convForward: 0, convBackwardData: 1, convBackwardWeights: 2, bnForward: 3, bnBackward: 4 } as const;

/** The shim's cache key length (KEY_INTS in `ferlab_dnnl.c`). */
const KEY_INTS = 24;

/** A kernel call that oneDNN refused (an unsupported shape, out of memory). */
export class DnnlError extends Error {}

/** The loaded shim. */
export class Dnnl {
  constructor(private readonly shim: Shim, readonly info: DnnlInfo) {}

  private check(status: number, what: string): void {
    if (status === 0) return;
    throw new DnnlError(`oneDNN ${what}: ${readString((b, n) => this.shim.ferlab_last_error(b, n))}`);
  }

  /** A convolution on `heap`; geometry and offsets as documented in `ferlab_dnnl.c`. */
  conv(op: number, heap: Uint8Array, geometry: Int32Array, a: number, b: number, c: number, out: number): void {
    this.check(this.shim.ferlab_conv(op, heap, geometry, a, b, c, out), `convolution (op ${op})`);
  }

  /** Batch norm on `heap`; `ptrs` are the arguments' byte offsets in the shim's order. */
  bn(op: number, heap: Uint8Array, geometry: Int32Array, ptrs: Uint32Array): void {
    this.check(this.shim.ferlab_bn(op, heap, geometry, ptrs), `batch norm (op ${op})`);
  }

  /** The oneDNN implementation behind the cached primitive for `key` (op, then geometry), e.g. "brg:avx512_core". */
  implementation(key: ArrayLike<number>): string {
    const padded = new Int32Array(KEY_INTS);
    padded.set(key);
    return readString((b, n) => this.shim.ferlab_impl(padded, b, n));
  }
}

function readString(fill: (buf: Uint8Array, len: number) => number): string {
  const buf = new Uint8Array(512);
  fill(buf, buf.length);
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

/** Why the shim cannot load here, in words a user can act on. */
function whyNot(e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  if (e instanceof Deno.errors.NotCapable || /Requires ffi access|NotCapable/i.test(msg)) {
    return `FFI is not allowed for ${SHIM_PATH} under this permission set`;
  }
  if (/libdnnl\.so\.2/.test(msg)) return "oneDNN is not installed (apt-get install libdnnl2)";
  if (/libferlab_dnnl\.so/.test(msg) && /No such file/i.test(msg)) {
    return `the shim ${SHIM_PATH} is missing (deno task build:native)`;
  }
  return msg.split("\n")[0];
}

/**
 * OpenMP's threads sleep as soon as a kernel ends (unless the user chose
 * otherwise): the wasm kernels' threads run on the same cores between
 * oneDNN's calls, and a spinning OpenMP thread takes a core from them.
 * libgomp reads this when it loads, which is when the shim loads.
 */
function setWaitPolicy(): void {
  const name = "OMP_WAIT_POLICY";
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return;
  if (Deno.env.get(name) === undefined) Deno.env.set(name, WAIT_POLICY);
}

/** The default `OMP_WAIT_POLICY` (measured in `deno task bench`: see reports/bench.md). */
export const WAIT_POLICY = "PASSIVE";

let loaded: { shim: Shim } | { reason: string } | undefined;

/**
 * Loads the shim once per process and sets oneDNN's thread count (a later
 * call only changes the thread count). Returns the shim, or why it cannot load.
 */
export function loadDnnl(opts: { threads: number }): Dnnl | { reason: string } {
  if (!loaded) {
    try {
      setWaitPolicy();
      loaded = { shim: Deno.dlopen(SHIM_PATH, SYMBOLS).symbols };
    } catch (e) {
      loaded = { reason: whyNot(e) };
    }
  }
  if ("reason" in loaded) return loaded;
  const { shim } = loaded;
  if (shim.ferlab_init(opts.threads) !== 0) {
    loaded = { reason: `oneDNN did not start: ${readString((b, n) => shim.ferlab_last_error(b, n))}` };
    return loaded;
  }
  const [version, isa, threads] = readString((b, n) => shim.ferlab_info(b, n)).split(" ");
  return new Dnnl(shim, { version, isa, threads: Number(threads) });
}
