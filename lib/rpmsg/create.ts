/**
 * Build an {@linkcode RpmsgDevice} and its two split virtqueues from their
 * placement in shared memory.
 *
 * @module
 */

import { DeviceQueue } from "../virtio/device_queue.ts";
import { DriverQueue } from "../virtio/driver_queue.ts";
import { RpmsgDevice, type RpmsgDeviceOptions } from "./device.ts";

/** Where one vring is: descriptor table address, entries, used-ring alignment. */
export interface VringPlacement {
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries (power of two). */
  num: number;
  /** Used ring alignment (power of two). */
  align: number;
}

/** Options for {@linkcode createRpmsgDevice}: those of RpmsgDevice with placements instead of queues. */
export interface CreateRpmsgOptions extends Omit<RpmsgDeviceOptions, "vrings"> {
  /** vring0 (device -> driver). */
  vring0: VringPlacement;
  /** vring1 (driver -> device). */
  vring1: VringPlacement;
}

/**
 * Create the vrings for `options.role` (the device role restricts descriptors
 * to the buffer pool) and the rpmsg bus over them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRpmsgDevice } from "./create.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/in_process.ts";
 * const shm = heapRegion(0, 0x50000);
 * const [nh, nr] = InProcessNotifier.pair();
 * const layout = {
 *   vring0: { pa: 0x4000, num: 256, align: 0x1000 },
 *   vring1: { pa: 0x8000, num: 256, align: 0x1000 },
 *   pool: { base: 0x10000, size: 0x40000 },
 * };
 * const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
 * const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
 * assert(host.rxBuffers === 256 && host.txBuffers === 256);
 * assert(remote.vrings[0].hasAvail());
 * ```
 */
export function createRpmsgDevice(options: CreateRpmsgOptions): RpmsgDevice {
  const { vring0, vring1, ...rest } = options;
  const device = options.role === "device";
  const bufferRange = device ? { base: options.pool.base, size: options.pool.size } : undefined;
  const q = (name: string, p: VringPlacement) => {
    const o = { name, pa: p.pa, num: p.num, align: p.align };
    return device
      ? new DeviceQueue(options.region, { ...o, bufferRange })
      : new DriverQueue(options.region, o);
  };
  return new RpmsgDevice({
    ...rest,
    vrings: [q("vring0", vring0), q("vring1", vring1)] as RpmsgDeviceOptions["vrings"],
  });
}
