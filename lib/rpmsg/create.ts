/**
 * Build an rpmsg bus of either role and its two split virtqueues from their
 * placement in shared memory.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { DeviceQueue } from "../virtio/device_queue.ts";
import { DriverQueue } from "../virtio/driver_queue.ts";
import { RpmsgDeviceBus, type RpmsgDeviceBusOptions } from "./device_bus.ts";
import { RpmsgDriverBus, type RpmsgDriverBusOptions } from "./driver_bus.ts";

/** Where one vring is: descriptor table address, entries, used-ring alignment. */
export interface VringPlacement {
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries (power of two). */
  num: number;
  /** Used ring alignment (power of two). */
  align: number;
}

/** Options of {@linkcode createRpmsgDevice} for the driver (host) role. */
export interface CreateRpmsgDriverOptions extends Omit<RpmsgDriverBusOptions, "vrings"> {
  /** The host: the virtio driver. */
  role: "driver";
  /** vring0 (device -> driver). */
  vring0: VringPlacement;
  /** vring1 (driver -> device). */
  vring1: VringPlacement;
}

/** Options of {@linkcode createRpmsgDevice} for the device (remote) role. */
export interface CreateRpmsgDeviceOptions extends Omit<RpmsgDeviceBusOptions, "vrings"> {
  /** The remote: the virtio device. */
  role: "device";
  /** vring0 (device -> driver). */
  vring0: VringPlacement;
  /** vring1 (driver -> device). */
  vring1: VringPlacement;
}

/** Options of {@linkcode createRpmsgDevice}: a bus's options with placements instead of queues. */
export type CreateRpmsgOptions = CreateRpmsgDriverOptions | CreateRpmsgDeviceOptions;

/**
 * Create the vrings for `options.role` (the device role restricts
 * descriptors to the buffer pool) and the rpmsg bus over them: an
 * {@linkcode RpmsgDriverBus} for `"driver"`, an {@linkcode RpmsgDeviceBus}
 * for `"device"`.
 *
 * @throws {ConfigError} `RPMSG_BAD_ROLE` for any other role (untyped
 *   callers), and the errors of the queue and bus constructors.
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
export function createRpmsgDevice(options: CreateRpmsgDriverOptions): RpmsgDriverBus;
/** Create the device (remote) role: an {@linkcode RpmsgDeviceBus} over device-end vrings. */
export function createRpmsgDevice(options: CreateRpmsgDeviceOptions): RpmsgDeviceBus;
/** Create either role, as `options.role` says at run time. */
export function createRpmsgDevice(options: CreateRpmsgOptions): RpmsgDriverBus | RpmsgDeviceBus;
export function createRpmsgDevice(options: CreateRpmsgOptions): RpmsgDriverBus | RpmsgDeviceBus {
  const { region, pool } = options;
  const where = (name: string, p: VringPlacement) => ({
    name,
    pa: p.pa,
    num: p.num,
    align: p.align,
  });
  if (options.role === "driver") {
    const { vring0, vring1, role: _role, ...rest } = options;
    const q = (name: string, p: VringPlacement) => new DriverQueue(region, where(name, p));
    return new RpmsgDriverBus({ ...rest, vrings: [q("vring0", vring0), q("vring1", vring1)] });
  }
  if (options.role === "device") {
    const { vring0, vring1, role: _role, ...rest } = options;
    const bufferRange = { base: pool.base, size: pool.size };
    const q = (name: string, p: VringPlacement) =>
      new DeviceQueue(region, { ...where(name, p), bufferRange });
    return new RpmsgDeviceBus({ ...rest, vrings: [q("vring0", vring0), q("vring1", vring1)] });
  }
  const role: unknown = (options as { role: unknown }).role;
  throw new ConfigError("RPMSG_BAD_ROLE", `rpmsg role ${String(role)} is not driver or device`);
}
