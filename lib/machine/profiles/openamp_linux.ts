/**
 * The `openamp-linux` machine (machines.md section 2): upstream OpenAMP's
 * Linux port, two processes sharing the POSIX shm object "openamp.shm" where a
 * physical address is a file offset, notified over a UNIX stream socket.
 *
 * @module
 */

import type { MachineProfile } from "../types.ts";

/** Options for {@linkcode openampLinuxProfile}. */
export interface OpenampLinuxOptions {
  /** Shared-memory object name (default `"openamp.shm"`). */
  shmName?: string;
  /** Notification socket (default `/tmp/openamp.event.0`). */
  socketPath?: string;
}

/**
 * Build the `openamp-linux` profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openampLinuxProfile } from "./openamp_linux.ts";
 * const p = openampLinuxProfile({ socketPath: "/tmp/x.sock" });
 * assert(p.notify.kind === "socket" && p.notify.path === "/tmp/x.sock");
 * assert(p.layout.vrings[1].pa === 0x8000);
 * ```
 */
export function openampLinuxProfile(options: OpenampLinuxOptions = {}): MachineProfile {
  const shmName = options.shmName ?? "openamp.shm";
  return {
    name: "openamp-linux",
    description: "Upstream OpenAMP Linux machine port: shm object, offsets as addresses, " +
      "UNIX socket notification",
    wordSize: 8,
    regions: [
      {
        name: shmName,
        pa: 0,
        size: 0x8_0000,
        backing: { kind: "shm", name: shmName, create: true },
        roles: ["shm"],
      },
    ],
    layout: {
      rscTable: { pa: 0, size: 0x4000 },
      pool: { pa: 0x1_0000, size: 0x4_0000 },
      vrings: [
        { pa: 0x4000, num: 256, align: 0x1000 },
        { pa: 0x8000, num: 256, align: 0x1000 },
      ],
      bufSize: { rx: 512, tx: 512 },
    },
    notify: { kind: "socket", path: options.socketPath ?? "/tmp/openamp.event.0" },
    control: { kind: "openamp-linux" },
    cpus: [0],
  };
}

/** The default `openamp-linux` profile. */
export const OPENAMP_LINUX: MachineProfile = openampLinuxProfile();
