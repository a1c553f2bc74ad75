/**
 * Built-in machine profiles, by name.
 *
 * @module
 */

import type { MachineProfile } from "../types.ts";
import { OPENAMP_LINUX } from "./openamp_linux.ts";
import { QEMU_RV64 } from "./qemu_rv64.ts";
import { RV64_VIRT } from "./rv64_virt.ts";
import { SIM } from "./sim.ts";

export * from "./rv64_virt.ts";
export * from "./sim.ts";
export * from "./openamp_linux.ts";
export * from "./qemu_rv64.ts";

/**
 * Every built-in profile by name. Treat as read-only: `loadProfile` hands out copies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_PROFILES } from "./mod.ts";
 * assert(Object.keys(BUILTIN_PROFILES).includes("rv64-virt"));
 * ```
 */
export const BUILTIN_PROFILES: Readonly<Record<string, MachineProfile>> = {
  "rv64-virt": RV64_VIRT,
  "sim": SIM,
  "openamp-linux": OPENAMP_LINUX,
  "qemu-rv64": QEMU_RV64,
};
