/**
 * Built-in machine profiles, by name.
 *
 * @module
 */

import type { MachineProfile } from "../profile.ts";
import { OPENAMP_LINUX } from "./openamp_linux.ts";
import { RV64_VIRT } from "./rv64_virt.ts";
import { SIM } from "./sim.ts";

export * from "./rv64_virt.ts";
export * from "./sim.ts";
export * from "./openamp_linux.ts";

/**
 * Every built-in profile by name. Treat as read-only: `loadProfile` hands out copies.
 *
 * @example
 * ```ts
 * import { BUILTIN_PROFILES } from "./mod.ts";
 * console.assert(Object.keys(BUILTIN_PROFILES).includes("rv64-virt"));
 * ```
 */
export const BUILTIN_PROFILES: Readonly<Record<string, MachineProfile>> = {
  "rv64-virt": RV64_VIRT,
  "sim": SIM,
  "openamp-linux": OPENAMP_LINUX,
};
