/**
 * What machine a measurement ran on: CPU model, vector ISA and load. Our
 * machines differ from session to session (AVX2-only EPYCs, AVX-512 Xeons and
 * EPYCs), and speed ratios differ with them, so every timing records these.
 *
 * Each reading degrades to "unknown" instead of failing when a permission set
 * does not grant it: a report may record the load, a run must never stop for
 * want of it.
 *
 * @example
 * ```ts
 * const m = machineFacts("avx512_core"); // { cpu: "AMD EPYC", isa: "avx512_core", cores: 2, loadAverage: 0.4 }
 * machineLine(m); // "AMD EPYC (avx512_core, 2 cores), load 0.4"
 * ```
 *
 * @module
 */
import { cpus } from "node:os";

/** The facts a timing is recorded with. */
export interface MachineFacts {
  /** CPU model name, as the OS reports it. */
  cpu: string;
  /** The vector ISA oneDNN's kernels dispatched to ("avx512_core", "avx2"), or "ISA unknown" without them. */
  isa: string;
  cores: number;
  /** 1-minute load average when read; absent where the permission set does not grant it. */
  loadAverage?: number;
}

/** Whether `sys` access `kind` is granted, without prompting. */
function sysGranted(kind: "loadavg" | "cpus"): boolean {
  return Deno.permissions.querySync({ name: "sys", kind }).state === "granted";
}

/** The 1-minute load average, or undefined where it cannot be read here. */
export function loadAverage(): number | undefined {
  if (!sysGranted("loadavg")) return undefined;
  return Deno.loadavg()[0];
}

/** The CPU model name, or "unknown CPU". */
export function cpuModel(): string {
  if (!sysGranted("cpus")) return "unknown CPU";
  return cpus()[0]?.model?.trim() || "unknown CPU";
}

/**
 * All of the above, read now. The ISA is what oneDNN dispatched to, when the
 * native kernels loaded: Deno grants /proc/cpuinfo only with all permissions,
 * and wasm cannot see the host's vector units.
 */
export function machineFacts(isa?: string): MachineFacts {
  const load = loadAverage();
  return {
    cpu: cpuModel(),
    isa: isa ?? "ISA unknown",
    cores: navigator.hardwareConcurrency,
    ...(load === undefined ? {} : { loadAverage: load }),
  };
}

/** "AMD EPYC (avx512_core, 2 cores), load 0.4" — or "load unknown". */
export function machineLine(m: MachineFacts): string {
  const load = m.loadAverage === undefined ? "load unknown" : `load ${m.loadAverage.toFixed(1)}`;
  return `${m.cpu} (${m.isa}, ${m.cores} cores), ${load}`;
}
