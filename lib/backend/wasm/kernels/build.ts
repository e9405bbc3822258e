/**
 * Rebuilds ferlab's wasm SIMD conv kernels from `conv_gemm.c`:
 *
 *     deno task build:kernels
 *
 * Needs Debian's clang-16 and lld-16 (`apt-get install clang-16 lld-16`).
 * Writes four modules next to this file, all committed so users need no
 * compiler: {relaxed SIMD, plain SIMD} × {shared memory (threaded TF.js
 * build), unshared memory (single-threaded build)}. Each imports `env.memory`
 * (TF.js's heap) and has no data segments and no stack use, which the build
 * checks.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const EXPORTS = [
  "conv_filter_grad",
  "conv_gemm",
  "conv_input_grad_narrow",
  "pack_weights",
  "bn_stats",
  "bn_grad_sums",
  "bn_apply",
  "leaky",
  "pool2x2_grad",
  "peak_madd",
  "ferlab_flavour",
];

/** The file name of one build. */
export function kernelFileName(relaxed: boolean, shared: boolean): string {
  return `conv_gemm_${relaxed ? "relaxed" : "simd"}${shared ? "_shared" : ""}.wasm`;
}

/** Section ids of a wasm binary, in order. */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let i = 8;
  while (i < bytes.length) {
    const id = bytes[i++];
    let size = 0, shift = 0, b;
    do {
      b = bytes[i++];
      size |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    ids.push(id);
    i += size;
  }
  return ids;
}

/**
 * Fails the build if the module could write into TF.js's heap behind its back:
 * a data section (written at instantiation) or any use of the C stack pointer.
 */
async function checkSafe(file: string): Promise<void> {
  const bytes = await Deno.readFile(file);
  if (sectionIds(bytes).includes(11)) throw new Error(`${file}: has a data section`);
  const wat = await new Deno.Command("wasm2wat", { args: ["--enable-all", file], stdout: "piped" }).output()
    .catch(() => null);
  if (!wat?.success) {
    console.warn("wasm2wat (wabt) not found: stack use not checked");
    return;
  }
  const text = new TextDecoder().decode(wat.stdout);
  if (/global\.(get|set) (0|\$__stack_pointer)\b/.test(text)) throw new Error(`${file}: uses the C stack`);
}

async function build(relaxed: boolean, shared: boolean): Promise<string> {
  const out = here + kernelFileName(relaxed, shared);
  const args = [
    "--target=wasm32",
    "-O3",
    "-msimd128",
    ...(relaxed ? ["-mrelaxed-simd", "-DFERLAB_RELAXED"] : []),
    "-mbulk-memory",
    ...(shared ? ["-matomics"] : []),
    "-nostdlib",
    "-fuse-ld=lld",
    "-Wl,--no-entry",
    "-Wl,--import-memory",
    ...(shared ? ["-Wl,--shared-memory", "-Wl,--max-memory=4294967296"] : []),
    "-Wl,-z,stack-size=0",
    "-Wl,--initial-memory=65536",
    ...EXPORTS.map((e) => `-Wl,--export=${e}`),
    "-o",
    out,
    here + "conv_gemm.c",
  ];
  const r = await new Deno.Command("clang-16", { args, stderr: "inherit", stdout: "inherit" }).output();
  if (!r.success) throw new Error(`clang-16 failed building ${out}`);
  await checkSafe(out);
  return out;
}

if (import.meta.main) {
  for (const relaxed of [true, false]) {
    for (const shared of [true, false]) console.log(`built ${await build(relaxed, shared)}`);
  }
}
