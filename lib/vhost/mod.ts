/**
 * amp as a vhost-user back-end: the protocol codec, guest memory mapping,
 * the listening server and the rpmsg device glue (`amp remote --vhost-user`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHeader, encodeMessage, Request } from "./mod.ts";
 * const h = decodeHeader(encodeMessage(Request.GET_FEATURES, 1, new Uint8Array(0)));
 * assert.equal(h.request, Request.GET_FEATURES);
 * ```
 *
 * @module
 */

export {
  decodeHeader,
  decodeRequest,
  FLAG_NEED_REPLY,
  FLAG_REPLY,
  HEADER_SIZE,
  MAX_MEM_REGIONS,
  MAX_PAYLOAD,
  type MemRegionDesc,
  ProtocolFeature,
  Request,
  requestName,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_VERSION,
  VhostError,
  type VhostHeader,
  type VhostRequest,
  type VhostRequestBase,
  VIRTIO_F_VERSION_1,
} from "./protocol.ts";
export {
  addrPayload,
  configPayload,
  encodeMessage,
  encodeReply,
  memTablePayload,
  statePayload,
  u64Payload,
} from "./encode.ts";
export {
  checkMemTable,
  type GuestRegion,
  mapGuestMemory,
  placeQueue,
  userToGuest,
} from "./memory.ts";
export { VringFdNotifier } from "./notifier.ts";
export { OFFERED_PROTOCOL_FEATURES, VhostUserServer } from "./backend.ts";
export type {
  VhostConnectionEnd,
  VhostDevice,
  VhostQueue,
  VhostServerOptions,
  VhostSession,
} from "./types.ts";
export {
  rpmsgVhostDevice,
  serveVhostUserRpmsg,
  type VhostRpmsgDevice,
  type VhostRpmsgOptions,
} from "./rpmsg_backend.ts";
