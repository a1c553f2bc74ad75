/**
 * The vhost-user protocol's messages, as pure data: the codes, flags and
 * shapes, and a decoder that bounds every field a front-end sends (the
 * encoders are in `encode.ts`).
 *
 * Wire format (native byte order, little-endian on every target amp runs
 * on): a 12-byte header `{u32 request; u32 flags; u32 size}` followed by
 * `size` payload bytes. Flags bits 0-1 carry the protocol version (1), bit 2
 * marks a reply, bit 3 asks for a reply (REPLY_ACK). Descriptors travel as
 * SCM_RIGHTS ancillary data on the message's first bytes.
 *
 * Payloads: u64; vring state `{u32 index; u32 num}`; vring address
 * `{u32 index; u32 flags; u64 desc, used, avail, log}`; memory table
 * `{u32 num; u32 padding; {u64 guest_addr, size, user_addr, mmap_offset}[num]}`
 * (a front-end may send room for more regions than `num`: UML sends two);
 * config `{u32 offset; u32 size; u32 flags; u8 payload[size]}`.
 *
 * @module
 */

import { AmpError } from "../errors.ts";
import type { VhostErrorCode } from "../error_codes.ts";

/**
 * A vhost-user protocol violation by the front-end (or a request amp cannot serve).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isAmpError } from "../errors.ts";
 * import { VhostError } from "./protocol.ts";
 * const e = new VhostError("VHOST_BAD_INDEX", "SET_VRING_NUM: queue 9 does not exist");
 * assert(isAmpError(e) && e.code === "VHOST_BAD_INDEX" && e.name === "VhostError");
 * ```
 */
export class VhostError extends AmpError {
  /** Create an error with a stable `code` and a human message. */
  constructor(code: VhostErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "VhostError";
  }
}

/** The protocol version carried in flags bits 0-1. */
export const VHOST_USER_VERSION = 1;
/** Flags bits of the version. */
export const FLAG_VERSION_MASK = 0x3;
/** Flag: this message is a reply. */
export const FLAG_REPLY = 0x4;
/** Flag: the sender wants a u64 status reply (protocol feature REPLY_ACK). */
export const FLAG_NEED_REPLY = 0x8;
/** Bytes of the header. */
export const HEADER_SIZE = 12;
/** Largest payload amp accepts (anything it serves is far smaller). */
export const MAX_PAYLOAD = 4096;
/** Most memory regions one table may list. */
export const MAX_MEM_REGIONS = 8;
/** Bytes of one memory region entry. */
export const MEM_REGION_SIZE = 32;
/** Largest config space access. */
export const MAX_CONFIG_SIZE = 256;
/** u64 payload of SET_VRING_KICK/CALL/ERR: the queue index bits. */
export const VRING_INDEX_MASK = 0xff;
/** u64 payload of SET_VRING_KICK/CALL/ERR: set when no descriptor is passed (poll mode). */
export const VRING_NOFD_MASK = 0x100;

/** Front-end request codes. */
export const Request = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  VRING_KICK: 35,
} as const;

/** Names of the request codes, for messages. */
export const REQUEST_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Request).map(([k, v]) => [v, k]),
);

/**
 * Name of a request code for messages, e.g. `SET_MEM_TABLE (5)` or `request 99`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Request, requestName } from "./protocol.ts";
 * assert.equal(requestName(Request.SET_MEM_TABLE), "SET_MEM_TABLE (5)");
 * assert.equal(requestName(99), "request 99");
 * ```
 */
export function requestName(code: number): string {
  const n = REQUEST_NAMES[code];
  return n ? `${n} (${code})` : `request ${code}`;
}

/** Virtio feature: the device follows virtio 1.x (little-endian rings). */
export const VIRTIO_F_VERSION_1 = 32;
/** vhost-user feature bit: protocol features are negotiated. */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;
/** Protocol feature bits amp knows by name. */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  INBAND_NOTIFICATIONS: 14,
} as const;

/** The 12-byte header. */
export interface VhostHeader {
  /** The request code ({@linkcode Request}). */
  request: number;
  /** Flags: the version (bits 0..1), {@linkcode FLAG_REPLY}, {@linkcode FLAG_NEED_REPLY}. */
  flags: number;
  /** Payload bytes that follow the header. */
  size: number;
}

/** One memory table entry (64-bit fields kept exact as bigint). */
export interface MemRegionDesc {
  /** Guest physical address of the first byte. */
  guestAddr: bigint;
  /** Bytes. */
  size: bigint;
  /** The front-end's own (user) address of the first byte. */
  userAddr: bigint;
  /** Offset of the first byte in the region's file (its passed descriptor). */
  mmapOffset: bigint;
}

/** Fields every decoded request has. */
export interface VhostRequestBase {
  /** The request code. */
  request: number;
  /** The header flags. */
  flags: number;
  /** The sender asked for a REPLY_ACK status. */
  needReply: boolean;
}

/** A decoded front-end request. */
export type VhostRequest =
  | VhostRequestBase & {
    type:
      | "GET_FEATURES"
      | "GET_PROTOCOL_FEATURES"
      | "SET_OWNER"
      | "RESET_OWNER"
      | "GET_QUEUE_NUM";
  }
  | VhostRequestBase & { type: "SET_FEATURES" | "SET_PROTOCOL_FEATURES"; value: bigint }
  | VhostRequestBase & {
    type: "SET_VRING_NUM" | "SET_VRING_BASE" | "GET_VRING_BASE" | "SET_VRING_ENABLE" | "VRING_KICK";
    index: number;
    num: number;
  }
  | VhostRequestBase & {
    type: "SET_VRING_ADDR";
    index: number;
    addrFlags: number;
    desc: bigint;
    used: bigint;
    avail: bigint;
    log: bigint;
  }
  | VhostRequestBase & {
    type: "SET_VRING_KICK" | "SET_VRING_CALL" | "SET_VRING_ERR";
    index: number;
    /** The passed descriptor, or null in poll mode (no descriptor). */
    fd: number | null;
  }
  | VhostRequestBase & { type: "SET_MEM_TABLE"; regions: MemRegionDesc[]; fds: number[] }
  | VhostRequestBase & { type: "SET_BACKEND_REQ_FD"; fd: number }
  | VhostRequestBase & {
    type: "GET_CONFIG" | "SET_CONFIG";
    offset: number;
    size: number;
    configFlags: number;
    payload: Uint8Array;
  }
  | VhostRequestBase & { type: "UNSUPPORTED"; name: string };

/**
 * Decode and check a header.
 *
 * @throws {VhostError} `VHOST_SHORT_HEADER`, `VHOST_BAD_VERSION` (flags bits
 *   0-1 not 1), `VHOST_BAD_FLAGS` (unknown flag bits, or a reply where a
 *   request is expected), `VHOST_PAYLOAD_TOO_LARGE`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage } from "./encode.ts";
 * import { decodeHeader, Request } from "./protocol.ts";
 * const m = encodeMessage(Request.GET_FEATURES, 1, new Uint8Array(0));
 * assert.deepEqual(decodeHeader(m), { request: 1, flags: 1, size: 0 });
 * ```
 */
export function decodeHeader(bytes: Uint8Array, expectReply = false): VhostHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new VhostError(
      "VHOST_SHORT_HEADER",
      `vhost-user header needs ${HEADER_SIZE} bytes, got ${bytes.length}`,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const request = v.getUint32(0, true), flags = v.getUint32(4, true), size = v.getUint32(8, true);
  if ((flags & FLAG_VERSION_MASK) !== VHOST_USER_VERSION) {
    throw new VhostError(
      "VHOST_BAD_VERSION",
      `${requestName(request)}: flags 0x${flags.toString(16)} carry protocol version ${
        flags & FLAG_VERSION_MASK
      }, only ${VHOST_USER_VERSION} exists`,
    );
  }
  const allowed = FLAG_VERSION_MASK | FLAG_REPLY | FLAG_NEED_REPLY;
  if ((flags & ~allowed) !== 0 || ((flags & FLAG_REPLY) !== 0) !== expectReply) {
    throw new VhostError(
      "VHOST_BAD_FLAGS",
      `${requestName(request)}: flags 0x${flags.toString(16)} ${
        (flags & ~allowed) !== 0
          ? "have unknown bits"
          : expectReply
          ? "do not mark a reply"
          : "mark a reply where a request was expected"
      }`,
    );
  }
  if (size > MAX_PAYLOAD) {
    throw new VhostError(
      "VHOST_PAYLOAD_TOO_LARGE",
      `${requestName(request)}: payload of ${size} bytes exceeds ${MAX_PAYLOAD}`,
    );
  }
  return { request, flags, size };
}

function sizeIs(h: VhostHeader, want: number, payload: Uint8Array): void {
  if (h.size !== want || payload.length !== want) {
    throw new VhostError(
      "VHOST_BAD_SIZE",
      `${
        requestName(h.request)
      }: payload is ${h.size} bytes (${payload.length} read), must be ${want}`,
    );
  }
}

function fdsAre(h: VhostHeader, fds: readonly number[], want: number): void {
  if (fds.length !== want) {
    throw new VhostError(
      "VHOST_BAD_FDS",
      `${requestName(h.request)}: came with ${fds.length} descriptor(s), must come with ${want}`,
    );
  }
}

/**
 * Decode one request from its header, payload and the descriptors that came
 * with it. Sizes, descriptor counts, index ranges and reserved bits are all
 * checked; descriptors stay owned by the caller (close them on error).
 *
 * Requests amp does not implement (logging, IOTLB, net-only ones, any
 * unknown code) decode as `UNSUPPORTED` with their payload unchecked, so the
 * caller can refuse them with a clear message.
 *
 * @throws {VhostError} `VHOST_BAD_SIZE`, `VHOST_BAD_FDS`, `VHOST_BAD_INDEX`,
 *   `VHOST_BAD_FIELD`, `VHOST_TOO_MANY_REGIONS`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage, statePayload } from "./encode.ts";
 * import { decodeHeader, decodeRequest, Request } from "./protocol.ts";
 * const m = encodeMessage(Request.SET_VRING_NUM, 1, statePayload(0, 256));
 * const r = decodeRequest(decodeHeader(m), m.subarray(12), []);
 * assert(r.type === "SET_VRING_NUM" && r.index === 0 && r.num === 256);
 * ```
 */
export function decodeRequest(
  h: VhostHeader,
  payload: Uint8Array,
  fds: readonly number[],
): VhostRequest {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const base: VhostRequestBase = {
    request: h.request,
    flags: h.flags,
    needReply: (h.flags & FLAG_NEED_REPLY) !== 0,
  };
  const name = REQUEST_NAMES[h.request];
  switch (h.request) {
    case Request.GET_FEATURES:
    case Request.GET_PROTOCOL_FEATURES:
    case Request.SET_OWNER:
    case Request.RESET_OWNER:
    case Request.GET_QUEUE_NUM:
      sizeIs(h, 0, payload);
      fdsAre(h, fds, 0);
      return { ...base, type: name as "GET_FEATURES" };
    case Request.SET_FEATURES:
    case Request.SET_PROTOCOL_FEATURES:
      sizeIs(h, 8, payload);
      fdsAre(h, fds, 0);
      return { ...base, type: name as "SET_FEATURES", value: v.getBigUint64(0, true) };
    case Request.SET_VRING_NUM:
    case Request.SET_VRING_BASE:
    case Request.GET_VRING_BASE:
    case Request.SET_VRING_ENABLE:
    case Request.VRING_KICK: {
      sizeIs(h, 8, payload);
      fdsAre(h, fds, 0);
      const index = v.getUint32(0, true), num = v.getUint32(4, true);
      checkIndex(h, index);
      return { ...base, type: name as "SET_VRING_NUM", index, num };
    }
    case Request.SET_VRING_ADDR: {
      sizeIs(h, 40, payload);
      fdsAre(h, fds, 0);
      const index = v.getUint32(0, true);
      checkIndex(h, index);
      return {
        ...base,
        type: "SET_VRING_ADDR",
        index,
        addrFlags: v.getUint32(4, true),
        desc: v.getBigUint64(8, true),
        used: v.getBigUint64(16, true),
        avail: v.getBigUint64(24, true),
        log: v.getBigUint64(32, true),
      };
    }
    case Request.SET_VRING_KICK:
    case Request.SET_VRING_CALL:
    case Request.SET_VRING_ERR: {
      sizeIs(h, 8, payload);
      const u = v.getBigUint64(0, true);
      if ((u & ~BigInt(VRING_INDEX_MASK | VRING_NOFD_MASK)) !== 0n) {
        throw new VhostError(
          "VHOST_BAD_FIELD",
          `${requestName(h.request)}: payload 0x${
            u.toString(16)
          } has bits beyond the index and no-fd flag`,
        );
      }
      const noFd = (u & BigInt(VRING_NOFD_MASK)) !== 0n;
      fdsAre(h, fds, noFd ? 0 : 1);
      return {
        ...base,
        type: name as "SET_VRING_KICK",
        index: Number(u & BigInt(VRING_INDEX_MASK)),
        fd: noFd ? null : fds[0]!,
      };
    }
    case Request.SET_MEM_TABLE: {
      if (h.size < 8 || payload.length !== h.size) {
        throw new VhostError(
          "VHOST_BAD_SIZE",
          `${requestName(h.request)}: payload is ${h.size} bytes, the table needs at least 8`,
        );
      }
      const num = v.getUint32(0, true);
      if (num < 1 || num > MAX_MEM_REGIONS) {
        throw new VhostError(
          "VHOST_TOO_MANY_REGIONS",
          `${requestName(h.request)}: ${num} regions, must be 1..${MAX_MEM_REGIONS}`,
        );
      }
      const need = 8 + MEM_REGION_SIZE * num;
      if (h.size < need || h.size > 8 + MEM_REGION_SIZE * MAX_MEM_REGIONS) {
        throw new VhostError(
          "VHOST_BAD_SIZE",
          `${requestName(h.request)}: payload is ${h.size} bytes; ${num} region(s) need ${need}..${
            8 + MEM_REGION_SIZE * MAX_MEM_REGIONS
          }`,
        );
      }
      fdsAre(h, fds, num);
      const regions: MemRegionDesc[] = [];
      for (let i = 0; i < num; i++) {
        const o = 8 + MEM_REGION_SIZE * i;
        regions.push({
          guestAddr: v.getBigUint64(o, true),
          size: v.getBigUint64(o + 8, true),
          userAddr: v.getBigUint64(o + 16, true),
          mmapOffset: v.getBigUint64(o + 24, true),
        });
      }
      return { ...base, type: "SET_MEM_TABLE", regions, fds: [...fds] };
    }
    case Request.SET_BACKEND_REQ_FD:
      if (h.size !== 0 && h.size !== 8) sizeIs(h, 0, payload);
      fdsAre(h, fds, 1);
      return { ...base, type: "SET_BACKEND_REQ_FD", fd: fds[0]! };
    case Request.GET_CONFIG:
    case Request.SET_CONFIG: {
      if (h.size < 12 || payload.length !== h.size) {
        throw new VhostError(
          "VHOST_BAD_SIZE",
          `${
            requestName(h.request)
          }: payload is ${h.size} bytes, a config access needs at least 12`,
        );
      }
      fdsAre(h, fds, 0);
      const offset = v.getUint32(0, true), size = v.getUint32(4, true);
      if (size > MAX_CONFIG_SIZE || offset > MAX_CONFIG_SIZE - size || h.size !== 12 + size) {
        throw new VhostError(
          "VHOST_BAD_FIELD",
          `${
            requestName(h.request)
          }: config range [${offset}, +${size}) with a ${h.size}-byte payload (the range must lie in 0..${MAX_CONFIG_SIZE} and the payload be 12 + size bytes)`,
        );
      }
      return {
        ...base,
        type: name as "GET_CONFIG",
        offset,
        size,
        configFlags: v.getUint32(8, true),
        payload: payload.slice(12, 12 + size),
      };
    }
    default:
      return { ...base, type: "UNSUPPORTED", name: requestName(h.request) };
  }
}

function checkIndex(h: VhostHeader, index: number): void {
  if (index > VRING_INDEX_MASK) {
    throw new VhostError(
      "VHOST_BAD_INDEX",
      `${requestName(h.request)}: queue index ${index} is out of range 0..${VRING_INDEX_MASK}`,
    );
  }
}
