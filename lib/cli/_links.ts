/**
 * `--shm-name` and `--socket`: a machine profile with its shared-memory
 * object and notification socket renamed, for `amp remote` and the host verbs.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { MachineProfile } from "../machine/types.ts";
import { validateProfile } from "../machine/validate.ts";

/**
 * `profile` with its shm object and/or notification socket renamed (the
 * machine must have exactly one shm-backed region / a socket).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renameLinks } from "./_links.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * const p = renameLinks(OPENAMP_LINUX, { shmName: "a.shm", socketPath: "/tmp/a.sock" });
 * assert(p.regions[0]?.backing.kind === "shm" && p.regions[0].backing.name === "a.shm");
 * assert(p.notify.kind === "socket" && p.notify.path === "/tmp/a.sock");
 * ```
 */
export function renameLinks(
  profile: MachineProfile,
  names: { shmName?: string; socketPath?: string },
): MachineProfile {
  let regions = profile.regions;
  if (names.shmName !== undefined) {
    const shm = regions.filter((r) => r.backing.kind === "shm");
    if (shm.length !== 1) {
      throw new ConfigError(
        "REMOTE_SHM_NAME",
        `--shm-name: machine "${profile.name}" has ${shm.length} shm-backed regions, not one`,
      );
    }
    const name = names.shmName;
    regions = regions.map((r) =>
      r.backing.kind === "shm"
        ? {
          ...r,
          name: r.name === r.backing.name ? name : r.name,
          backing: { ...r.backing, name },
        }
        : r
    );
  }
  let notify = profile.notify;
  if (names.socketPath !== undefined) {
    if (notify.kind !== "socket") {
      throw new ConfigError(
        "REMOTE_SOCKET",
        `--socket: machine "${profile.name}" notifies by "${notify.kind}", not a socket`,
      );
    }
    notify = { kind: "socket", path: names.socketPath };
  }
  return validateProfile({ ...profile, regions, notify }, `machine "${profile.name}"`);
}
