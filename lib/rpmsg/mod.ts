/**
 * RPMsg over virtio (openamp-wire.md section 4): endpoints, name service,
 * copying and zero-copy send/receive, in the host (driver) or remote (device)
 * role. `createRpmsgDevice` builds an {@linkcode RpmsgDriverBus} or an
 * {@linkcode RpmsgDeviceBus}; both are an {@linkcode RpmsgDevice}, the bus
 * shared by the two roles. Received payloads are live views of shared
 * memory, valid during the callback (see `RpmsgDevice`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRpmsgDevice } from "./mod.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/mod.ts";
 * const shm = heapRegion(0, 0x50000);
 * const [nh, nr] = InProcessNotifier.pair();
 * const layout = {
 *   vring0: { pa: 0x4000, num: 256, align: 0x1000 },
 *   vring1: { pa: 0x8000, num: 256, align: 0x1000 },
 *   pool: { base: 0x10000, size: 0x40000 },
 * };
 * const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
 * const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
 * remote.createEndpoint({ name: "echo", onMessage: (d, _src, ep) => ep.trySend(d) });
 * let reply = "";
 * const ep = host.createEndpoint({ name: "echo", onMessage: (d) => (reply = new TextDecoder().decode(d)) });
 * remote.poll();
 * host.poll();
 * await ep.send(new TextEncoder().encode("ping"));
 * remote.poll();
 * host.poll();
 * assert(reply === "ping");
 * ```
 *
 * @module
 */

export { RpmsgDevice } from "./device.ts";
export { RpmsgDriverBus, type RpmsgDriverBusOptions } from "./driver_bus.ts";
export { RpmsgDeviceBus, type RpmsgDeviceBusOptions } from "./device_bus.ts";
export {
  type RpmsgBus,
  type RpmsgCallback,
  RpmsgEndpoint,
  type RpmsgEndpointOptions,
} from "./endpoint.ts";
export type {
  RpmsgCounters,
  RpmsgDeviceCounters,
  RpmsgDeviceOptions,
  RpmsgPool,
  RpmsgRole,
  RpmsgRunOptions,
  RpmsgRxHandle,
  RpmsgSendOptions,
  RpmsgTxBuffer,
  RpmsgWaitOptions,
} from "./types.ts";
export { RPMSG_MAX_REMOTE_SERVICES } from "./_name_service.ts";
export {
  createRpmsgDevice,
  type CreateRpmsgDeviceOptions,
  type CreateRpmsgDriverOptions,
  type CreateRpmsgOptions,
  type VringPlacement,
} from "./create.ts";
export {
  AddressBitmap,
  decodeNs,
  encodeNs,
  type NsMessage,
  readHeader,
  readHeaderInto,
  RPMSG_ADDR_ANY,
  RPMSG_DEFAULT_BUF_SIZE,
  RPMSG_HDR_SIZE,
  RPMSG_NAME_SIZE,
  RPMSG_NS_ADDR,
  RPMSG_NS_CREATE,
  RPMSG_NS_DESTROY,
  RPMSG_NS_MSG_SIZE,
  RPMSG_RESERVED_ADDRESSES,
  type RpmsgHeader,
  writeHeader,
} from "./_wire.ts";
export { type ServeRemoteOptions, serveRpmsgRemote } from "./device_sessions.ts";
