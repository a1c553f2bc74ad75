/**
 * One control backend per machine profile, by its control kind: the seed
 * board's sysfs module, kernel remoteproc, QEMU, the simulated core. The only
 * place that knows every backend (each lives with its machine's package).
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { ControlSpec, MachineProfile } from "../machine/types.ts";
import {
  KernelRemoteprocBackend,
  type KernelRemoteprocOptions,
} from "../remoteproc/backends/kernel_remoteproc.ts";
import { QemuRv64Backend, type QemuRv64BackendOptions } from "../qemu/backend.ts";
import { Rv64SysfsBackend, type Rv64SysfsOptions } from "../remoteproc/backends/rv64_sysfs.ts";
import type { RemoteprocBackend } from "../remoteproc/types.ts";
import { SimBackend, type SimBackendOptions } from "../sim/backend.ts";

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
 * The backend for `profile.control.kind`. `ConfigError`
 * `BACKEND_UNAVAILABLE` for a kind no backend implements (e.g.
 * `openamp-linux`, whose remote is a separate process amp does not start).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createBackend } from "./backends.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * assert(createBackend(RV64_VIRT).kind === "rv64-sysfs");
 * let code = "";
 * try {
 *   createBackend(OPENAMP_LINUX);
 * } catch (e) {
 *   code = (e as { code: string }).code;
 * }
 * assert(code === "BACKEND_UNAVAILABLE");
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
      `Machine "${profile.name}": control kind "${profile.control.kind}" has no backend ` +
        `(available: ${[...FACTORIES.keys()].join(", ")})`,
    );
  }
  return f(profile, options);
}
