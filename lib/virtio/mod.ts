/**
 * Virtio for OpenAMP: split virtqueues in shared memory, one class per role
 * ({@linkcode DriverQueue}, {@linkcode DeviceQueue}) over a shared ring core
 * ({@linkcode Virtqueue}), hardened against a hostile peer; and the vdev
 * status/feature handshake through the resource table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeviceQueue, DriverQueue, vringLayout } from "./mod.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const shm = heapRegion(0x9000_0000, vringLayout(16, 0x1000).size);
 * const o = { pa: 0x9000_0000, num: 16, align: 0x1000 };
 * const tx = new DriverQueue(shm, o);
 * const rx = new DeviceQueue(shm, o);
 * tx.addBuf(0x9100_0000, 512, false, 1);
 * const head = rx.getAvail();
 * rx.putUsed(head, 512);
 * assert(tx.getUsed() === head && tx.lastToken === 1);
 * ```
 *
 * @module
 */

export {
  type DeviceQueueOptions,
  type VirtqueueOptions,
  type VirtqueueRole,
  type VirtqueueSnapshot,
  type VqBuf,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
  type VringLayout,
} from "./types.ts";
export {
  readVringSnapshot,
  Virtqueue,
  VRING_MAX_ALIGN,
  VRING_MAX_NUM,
  type VringGeometry,
  vringLayout,
} from "./virtqueue.ts";
export { DriverQueue } from "./driver_queue.ts";
export { DeviceQueue } from "./device_queue.ts";
export {
  SharedVdev,
  type SharedVdevOptions,
  VDEV_MAX_VRINGS,
  type VdevVring,
  type WaitDriverOkOptions,
} from "./vdev.ts";
