/**
 * Remoteproc: load ELF firmware into a remote core's memory, process its
 * resource table for the machine layout, start and stop the core through a
 * machine-specific backend (rv64 sysfs and kernel remoteproc here; `lib/sim`
 * and `lib/qemu` bring their own), with the lifecycle offline → loaded →
 * running → stopped/crashed. Which process owns a running core is
 * `lib/runtime`'s concern.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Lifecycle, TRANSITIONS } from "./mod.ts";
 * const lc = new Lifecycle("cpu 1");
 * assert(TRANSITIONS.offline.load === "loaded" && !lc.can("start"));
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./lifecycle.ts";
export * from "./remoteproc.ts";
export * from "./loader.ts";
export * from "./backends/mod.ts";
export type { ControlFs } from "./_fs.ts";
