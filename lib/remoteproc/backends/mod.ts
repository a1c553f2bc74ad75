/**
 * Control backends, chosen from a machine profile's `control.kind` through a
 * registry (data, not an `if` chain). Kinds without a backend yet
 * (`openamp-linux`) can be added with {@linkcode registerBackend}.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { ControlSpec, MachineProfile } from "../../machine/profile.ts";
import type { RemoteprocBackend } from "../types.ts";
import { KernelRemoteprocBackend, type KernelRemoteprocOptions } from "./kernel_remoteproc.ts";
import { QemuRv64Backend, type QemuRv64BackendOptions } from "./qemu_rv64.ts";
import { Rv64SysfsBackend, type Rv64SysfsOptions } from "./rv64_sysfs.ts";
import { SimBackend, type SimBackendOptions } from "./sim.ts";

export * from "./kernel_remoteproc.ts";
export * from "./qemu_rv64.ts";
export * from "./rv64_sysfs.ts";
export * from "./sim.ts";

/** Options passed through to whichever backend is created. */
export type BackendOptions =
  & Rv64SysfsOptions
  & KernelRemoteprocOptions
  & SimBackendOptions
  & QemuRv64BackendOptions;

/** Creates a backend for a profile. */
export type BackendFactory = (
  profile: MachineProfile,
  options: BackendOptions,
) => RemoteprocBackend;

const FACTORIES = new Map<ControlSpec["kind"], BackendFactory>([
  ["rv64-sysfs", (p, o) => new Rv64SysfsBackend(p, o)],
  ["remoteproc", (p, o) => new KernelRemoteprocBackend(p, o)],
  ["sim", (p, o) => new SimBackend(p, o)],
  ["qemu-rv64", (p, o) => new QemuRv64Backend(p, o)],
]);

/**
 * Register (or replace) the backend factory of a control kind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createBackend, registerBackend } from "./mod.ts";
 * import { SimBackend } from "./sim.ts";
 * import { openampLinuxProfile } from "../../machine/profiles/openamp_linux.ts";
 * registerBackend("openamp-linux", (p) => new SimBackend({ ...p, cpus: [0] }));
 * assert(createBackend(openampLinuxProfile()).kind === "sim");
 * ```
 */
export function registerBackend(kind: ControlSpec["kind"], factory: BackendFactory): void {
  FACTORIES.set(kind, factory);
}

/**
 * Create the backend for `profile.control.kind`. Throws `ConfigError`
 * `BACKEND_UNAVAILABLE` for a kind with no registered backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createBackend } from "./mod.ts";
 * import { RV64_VIRT } from "../../machine/profiles/rv64_virt.ts";
 * assert(createBackend(RV64_VIRT, { sysfsRoot: "/tmp/sys" }).kind === "rv64-sysfs");
 * ```
 */
export function createBackend(
  profile: MachineProfile,
  options: BackendOptions = {},
): RemoteprocBackend {
  const f = FACTORIES.get(profile.control.kind);
  if (!f) {
    throw new ConfigError(
      "BACKEND_UNAVAILABLE",
      `Machine "${profile.name}": control kind "${profile.control.kind}" has no backend yet ` +
        `(available: ${[...FACTORIES.keys()].join(", ")})`,
    );
  }
  return f(profile, options);
}
