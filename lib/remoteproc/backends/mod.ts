/**
 * Control backends for platforms amp drives through the kernel: the seed
 * board's `/sys/firmware/openamp` module (`rv64-sysfs`) and the kernel's
 * remoteproc framework (`remoteproc`). The QEMU and simulated machines have
 * their own packages; `lib/runtime/backends.ts` picks one per profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rv64SysfsBackend } from "./mod.ts";
 * import { RV64_VIRT } from "../../machine/profiles/rv64_virt.ts";
 * assert(new Rv64SysfsBackend(RV64_VIRT).kind === "rv64-sysfs");
 * ```
 *
 * @module
 */

export * from "./kernel_remoteproc.ts";
export * from "./rv64_sysfs.ts";
