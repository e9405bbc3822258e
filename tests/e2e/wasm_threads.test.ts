import assert from "node:assert/strict";
// the full package: it registers the gradients that tfjs-core alone lacks
import * as tf from "@tensorflow/tfjs";
import { initWasm, MAX_WASM_THREADS, resolveThreads, shutdownWasm } from "../../lib/backend/wasm/init.ts";
import {
  embeddedWorkerContents,
  ensureWorkerFile,
  WORKER_FILE_NAME,
  WORKER_PRELUDE,
  workerScriptSource,
  writeFileAtomic,
} from "../../lib/backend/wasm/threads.ts";
import { installWasmTrainingKernels } from "../../lib/backend/wasm/register.ts";
import { denoCommand } from "../../lib/cli/permissions.ts";

Deno.test("resolveThreads: auto is one per core, capped at the pool size; explicit counts are checked", () => {
  assert.deepEqual(resolveThreads("auto", 2), { threads: 2, notes: [] });
  assert.deepEqual(resolveThreads("auto", 6), { threads: 6, notes: [] });
  assert.deepEqual(resolveThreads(undefined, 16), { threads: MAX_WASM_THREADS, notes: [] });
  assert.deepEqual(resolveThreads("auto", 1), { threads: 1, notes: [] });
  assert.deepEqual(resolveThreads(3, 2), { threads: 3, notes: [] });
  const capped = resolveThreads(MAX_WASM_THREADS + 4, 2);
  assert.equal(capped.threads, MAX_WASM_THREADS);
  assert.match(capped.notes[0], /capped/);
  for (const bad of [0, -1, 2.5, Number.NaN]) {
    assert.throws(() => resolveThreads(bad, 2), RangeError);
  }
});

Deno.test("workerScriptSource: the shipped worker only parses once its newlines are re-escaped", () => {
  const raw = embeddedWorkerContents();
  assert.throws(() => new Function(raw), SyntaxError);
  const src = workerScriptSource(raw);
  assert.ok(src.startsWith(WORKER_PRELUDE));
  assert.equal(src.slice(WORKER_PRELUDE.length).includes("\n"), false);
  new Function(src); // parses (does not run)
});

Deno.test("writeFileAtomic: writes once, rewrites stale content, leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await writeFileAtomic(`${dir}/sub`, "one");
    assert.equal(path, `${dir}/sub/${WORKER_FILE_NAME}`);
    assert.equal(await Deno.readTextFile(path), "one");
    const before = (await Deno.stat(path)).mtime?.getTime();
    await new Promise((r) => setTimeout(r, 20));
    await writeFileAtomic(`${dir}/sub`, "one");
    assert.equal((await Deno.stat(path)).mtime?.getTime(), before, "up-to-date file rewritten");
    await writeFileAtomic(`${dir}/sub`, "two");
    assert.equal(await Deno.readTextFile(path), "two");
    const names = [...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name);
    assert.deepEqual(names, [WORKER_FILE_NAME]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureWorkerFile: names the directory it could not write", async () => {
  const file = await Deno.makeTempFile();
  try {
    await assert.rejects(ensureWorkerFile({ cacheDir: `${file}/wasm` }), (e: Error) => {
      assert.ok(e.message.includes(`${file}/wasm`), e.message);
      return true;
    });
  } finally {
    await Deno.remove(file);
  }
});

/** Deterministic test data (no RNG needed for a numeric comparison). */
function wave(n: number, f: number, scale = 1): Float32Array {
  return new Float32Array(n).map((_, i) => Math.sin(i * f) * scale);
}

/** Forward conv plus both conv gradients, read back to plain arrays. */
function convAndGrads(): Float32Array[] {
  const x = tf.tensor4d(wave(4 * 12 * 12 * 8, 0.37), [4, 12, 12, 8]);
  const w = tf.tensor4d(wave(3 * 3 * 8 * 16, 0.11, 0.2), [3, 3, 8, 16]);
  const loss = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same")));
  const y = tf.conv2d(x, w, 1, "same");
  const [dx, dw] = tf.grads(loss)([x, w]);
  const out = [y, dx, dw].map((t) => t.dataSync() as Float32Array);
  tf.dispose([x, w, y, dx, dw]);
  return out;
}

/**
 * OS threads of node:worker_threads workers (Deno names them "worker-N"), or
 * null where /proc is missing. Deno's test sanitizers do not track these
 * workers, so this is how we see that shutdownWasm() really ends them.
 */
function workerThreadCount(): number | null {
  try {
    return [...Deno.readDirSync("/proc/self/task")].filter((t) => {
      try {
        return Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`).startsWith("worker-");
      } catch {
        return false; // thread ended while we looked
      }
    }).length;
  } catch {
    return null;
  }
}

/** Polls {@link workerThreadCount} until it is `want` (threads vanish just after "exit"). */
async function settleWorkerThreads(want: number | null): Promise<number | null> {
  let n = workerThreadCount();
  for (let i = 0; i < 50 && n !== want; i++) {
    await new Promise((r) => setTimeout(r, 20));
    n = workerThreadCount();
  }
  return n;
}

Deno.test({
  name: "initWasm: 2 threads run and match 1 thread (forward and conv grads)",
  fn: async () => {
    const threadsBefore = workerThreadCount();
    try {
      const webWorker = globalThis.Worker;
      const two = await initWasm({ threads: 2 });
      assert.deepEqual(two, { threads: 2, simd: true, notes: [] });
      assert.equal(tf.getBackend(), "wasm");
      assert.equal(globalThis.Worker, webWorker, "emscripten's global Worker swap was not undone");
      assert.equal(await initWasm({ threads: 2 }), two, "same options should reuse the module");
      installWasmTrainingKernels();
      const multi = convAndGrads();

      if (threadsBefore != null) assert.ok(workerThreadCount()! > threadsBefore, "no pthread workers");

      const one = await initWasm({ threads: 1 }); // shuts the 2-thread module down first
      assert.deepEqual(one, { threads: 1, simd: true, notes: [] });
      assert.equal(await settleWorkerThreads(threadsBefore), threadsBefore, "workers outlived shutdown");
      const single = convAndGrads();
      for (let k = 0; k < single.length; k++) {
        assert.equal(multi[k].length, single[k].length);
        let worst = 0;
        for (let i = 0; i < single[k].length; i++) {
          const scale = Math.max(1, Math.abs(single[k][i]));
          worst = Math.max(worst, Math.abs(multi[k][i] - single[k][i]) / scale);
        }
        assert.ok(worst <= 1e-5, `output ${k} differs by ${worst}`);
      }
    } finally {
      await shutdownWasm();
    }
  },
});

Deno.test({
  name: "initWasm: falls back to 1 thread with a note when the worker script cannot be written",
  fn: async () => {
    const file = await Deno.makeTempFile();
    try {
      const res = await initWasm({ threads: 2, cacheDir: `${file}/wasm` });
      assert.equal(res.threads, 1);
      assert.equal(res.notes.length, 1);
      assert.match(res.notes[0], /threaded wasm failed, using 1 thread: .*cannot write/);
      const y = tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, "same");
      assert.equal(y.dataSync()[5], 9); // interior pixel sees all 9 ones
      y.dispose();
    } finally {
      await shutdownWasm();
      await Deno.remove(file);
    }
  },
});

// Runs under the experiment scripts' permission set (not -A): the worker script goes to .cache/wasm/.
Deno.test("a script using 2 threads under -P=experiment exits on its own, without shutdownWasm", async () => {
  const script = `
    import * as tf from "@tensorflow/tfjs-core";
    import { initWasm } from ${JSON.stringify(new URL("../../lib/backend/wasm/init.ts", import.meta.url).href)};
    const r = await initWasm({ threads: 2 });
    tf.conv2d(tf.ones([2, 8, 8, 4]), tf.ones([3, 3, 4, 4]), 1, "same").dataSync();
    console.log(JSON.stringify(r));`;
  const child = new Deno.Command(denoCommand(), {
    args: ["run", "-P=experiment", "-"],
    cwd: new URL("../..", import.meta.url),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.signal, null, `killed: the script hung (stderr: ${stderr})`);
  assert.equal(out.code, 0, stderr);
  assert.equal(JSON.parse(new TextDecoder().decode(out.stdout)).threads, 2);
});
