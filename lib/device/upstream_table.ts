/**
 * The resource table a self-hosting remote publishes at the start of shared
 * memory (machines.md section 2): one rpmsg vdev whose vrings sit where the
 * machine's layout puts them.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { MachineProfile } from "../machine/types.ts";
import { RSC_HEADER_SIZE, VDEV_STATUS, VIRTIO_STATUS_DRIVER_OK } from "../rsc/layout.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../rsc/table.ts";

/** Notify ids the published table gives the vdev, vring0 and vring1 (as upstream's Linux port). */
export const REMOTE_NOTIFY_IDS = { vdev: 0, vring0: 1, vring1: 2 } as const;

/** Offset of the rpmsg vdev entry in the published table (header and one offset slot before it). */
export const REMOTE_VDEV_OFFSET: number = RSC_HEADER_SIZE + 4;

/** Offset of the vdev status byte in the published table (0x2C). */
export const REMOTE_STATUS_OFFSET: number = REMOTE_VDEV_OFFSET + VDEV_STATUS;

/**
 * True when a status byte value has DRIVER_OK.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasDriverOk } from "./upstream_table.ts";
 * assert(hasDriverOk(4) && !hasDriverOk(0));
 * ```
 */
export function hasDriverOk(status: number): boolean {
  return (status & VIRTIO_STATUS_DRIVER_OK) !== 0;
}

/**
 * Serialize the table the remote of `profile` writes at
 * `layout.rscTable.pa`: header with one offset, then an rpmsg vdev (id 7,
 * dfeatures = name service, gfeatures and status 0) with the layout's two
 * vrings at fixed addresses. For `openamp-linux` these are exactly the 88
 * bytes upstream's device apps write at offset 0 of "openamp.shm".
 *
 * @throws {ConfigError} `REMOTE_TABLE_SIZE` when the table does not fit `layout.rscTable.size`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteTable } from "./upstream_table.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * const t = remoteTable(OPENAMP_LINUX);
 * assert(t.length === 0x58 && t[0x14] === 3 && t[0x30 + 1] === 0x40);
 * ```
 */
export function remoteTable(profile: MachineProfile): Uint8Array {
  const [v0, v1] = profile.layout.vrings;
  const table = buildResourceTable([
    rpmsgVdev({
      notifyid: REMOTE_NOTIFY_IDS.vdev,
      vrings: [
        { da: v0.pa, align: v0.align, num: v0.num, notifyid: REMOTE_NOTIFY_IDS.vring0 },
        { da: v1.pa, align: v1.align, num: v1.num, notifyid: REMOTE_NOTIFY_IDS.vring1 },
      ],
    }),
  ]);
  const bytes = serializeResourceTable(table);
  if (bytes.length > profile.layout.rscTable.size) {
    throw new ConfigError(
      "REMOTE_TABLE_SIZE",
      `Machine "${profile.name}": the ${bytes.length}-byte resource table does not fit the layout's ${profile.layout.rscTable.size}-byte table area`,
    );
  }
  return bytes;
}
