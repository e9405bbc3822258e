/**
 * Rebuilds ferlab's oneDNN shim from `ferlab_dnnl.c`:
 *
 *     deno task build:native
 *
 * Needs Debian's clang-16 and oneDNN's headers (`apt-get install clang-16
 * libdnnl-dev`). Writes `libferlab_dnnl.so` next to this file, committed so
 * that users need only the runtime library (`apt-get install libdnnl2`). It
 * links oneDNN by its soname, `libdnnl.so.2`, and OpenMP (`libgomp.so.1`),
 * whose thread count the shim sets.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = `${here}libferlab_dnnl.so`;
const args = [
  "-O2",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-shared",
  "-fPIC",
  "-o",
  out,
  `${here}ferlab_dnnl.c`,
  "-l:libdnnl.so.2",
  "-l:libgomp.so.1",
  // the same bytes from the same source: no build id or path in the binary
  "-Wl,--build-id=none",
  `-ffile-prefix-map=${here}=`,
];
const r = await new Deno.Command("clang-16", { args }).output().catch((e) => {
  console.error(`clang-16 not found (${(e as Error).message}): apt-get install clang-16 libdnnl-dev`);
  Deno.exit(1);
});
if (!r.success) {
  console.error(new TextDecoder().decode(r.stderr));
  Deno.exit(1);
}
console.log(`wrote ${out} (${(await Deno.stat(out)).size} bytes)`);
