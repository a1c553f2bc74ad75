/**
 * RPMsg wire format (openamp-wire.md section 4): the 16-byte message header,
 * the 40-byte name-service message, the well-known addresses, and the dynamic
 * address bitmap.
 *
 * @module
 */

import { RpmsgError } from "../errors.ts";

/** Size of the message header in bytes. */
export const RPMSG_HDR_SIZE = 16;
/** Header field offsets. */
export const HDR_SRC = 0, HDR_DST = 4, HDR_RESERVED = 8, HDR_LEN = 12, HDR_FLAGS = 14;
/** "Any address": unbound destination, or "allocate one for me". */
export const RPMSG_ADDR_ANY = 0xffff_ffff;
/** Address of the name-service endpoint. */
export const RPMSG_NS_ADDR = 53;
/** Addresses below this are reserved; dynamic allocation starts here. */
export const RPMSG_RESERVED_ADDRESSES = 1024;
/** Size of a name-service message in bytes. */
export const RPMSG_NS_MSG_SIZE = 40;
/** Size of the name field (including its NUL). */
export const RPMSG_NAME_SIZE = 32;
/** Name-service flags. */
export const RPMSG_NS_CREATE = 0, RPMSG_NS_DESTROY = 1;
/** Default buffer size of both directions. */
export const RPMSG_DEFAULT_BUF_SIZE = 512;

/** A decoded message header. */
export interface RpmsgHeader {
  /** Source endpoint address. */
  src: number;
  /** Destination endpoint address. */
  dst: number;
  /** Reserved (senders write 0; never relied on). */
  reserved: number;
  /** Payload length in bytes. */
  len: number;
  /** Flags (senders write 0). */
  flags: number;
}

/**
 * Write a header into `view` at `offset` (reserved and flags are written 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readHeader, writeHeader } from "./_wire.ts";
 * const dv = new DataView(new ArrayBuffer(16));
 * writeHeader(dv, 0, 1024, 53, 40);
 * assert(readHeader(dv, 0).len === 40);
 * ```
 */
export function writeHeader(
  view: DataView,
  offset: number,
  src: number,
  dst: number,
  len: number,
): void {
  view.setUint32(offset + HDR_SRC, src, true);
  view.setUint32(offset + HDR_DST, dst, true);
  view.setUint32(offset + HDR_RESERVED, 0, true);
  view.setUint16(offset + HDR_LEN, len, true);
  view.setUint16(offset + HDR_FLAGS, 0, true);
}

/**
 * Read a header from `view` at `offset` (each field read exactly once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readHeader } from "./_wire.ts";
 * const b = new Uint8Array(16);
 * b[0] = 0x35; b[12] = 5;
 * const h = readHeader(new DataView(b.buffer), 0);
 * assert(h.src === 53 && h.len === 5 && h.dst === 0);
 * ```
 */
export function readHeader(view: DataView, offset: number): RpmsgHeader {
  return readHeaderInto(view, offset, { src: 0, dst: 0, reserved: 0, len: 0, flags: 0 });
}

/**
 * Read a header from `view` at `offset` into `out` (each field read exactly
 * once) and return `out`: the allocation-free form of {@linkcode readHeader}
 * for the receive path, which reuses one object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readHeaderInto, writeHeader } from "./_wire.ts";
 * const dv = new DataView(new ArrayBuffer(32));
 * writeHeader(dv, 16, 1024, 1025, 3);
 * const h = { src: 0, dst: 0, reserved: 0, len: 0, flags: 0 };
 * assert(readHeaderInto(dv, 16, h) === h && h.src === 1024 && h.dst === 1025 && h.len === 3);
 * ```
 */
export function readHeaderInto(view: DataView, offset: number, out: RpmsgHeader): RpmsgHeader {
  out.src = view.getUint32(offset + HDR_SRC, true);
  out.dst = view.getUint32(offset + HDR_DST, true);
  out.reserved = view.getUint32(offset + HDR_RESERVED, true);
  out.len = view.getUint16(offset + HDR_LEN, true);
  out.flags = view.getUint16(offset + HDR_FLAGS, true);
  return out;
}

/** A decoded name-service message. */
export interface NsMessage {
  /** Service name (up to the first NUL). */
  name: string;
  /** Announced endpoint address. */
  addr: number;
  /** RPMSG_NS_CREATE (0) or RPMSG_NS_DESTROY (1). */
  flags: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encode a name-service message (exactly 40 bytes). The name must fit in 31
 * UTF-8 bytes so that it stays NUL-terminated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNs, encodeNs, RPMSG_NS_CREATE } from "./_wire.ts";
 * const m = encodeNs("rpmsg-client-sample", 1024, RPMSG_NS_CREATE);
 * assert(m.length === 40 && decodeNs(m).addr === 1024);
 * ```
 */
export function encodeNs(name: string, addr: number, flags: number): Uint8Array {
  const out = new Uint8Array(RPMSG_NS_MSG_SIZE);
  const res = encoder.encodeInto(name, out.subarray(0, RPMSG_NAME_SIZE - 1));
  if (res.read !== name.length) {
    throw new RpmsgError(
      "RPMSG_NAME_TOO_LONG",
      `Endpoint name "${name}" is ${encoder.encode(name).length} bytes; at most ${
        RPMSG_NAME_SIZE - 1
      } fit the name-service message`,
    );
  }
  const dv = new DataView(out.buffer);
  dv.setUint32(32, addr, true);
  dv.setUint32(36, flags, true);
  return out;
}

/**
 * Decode a name-service message from an untrusted payload. Throws RpmsgError
 * `RPMSG_NS_BAD_LENGTH` (length != 40), `RPMSG_NS_NAME_UNTERMINATED` (no NUL
 * in the 32 name bytes), `RPMSG_NS_EMPTY_NAME` (a name of no bytes: no host
 * could ask for it, it would only take a slot), `RPMSG_NS_BAD_FLAGS` (flags
 * not 0/1), or `RPMSG_NS_BAD_ADDR` (addr = ANY).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNs } from "./_wire.ts";
 * try {
 *   decodeNs(new Uint8Array(39));
 * } catch (e) {
 *   assert((e as { code: string }).code === "RPMSG_NS_BAD_LENGTH");
 * }
 * ```
 */
export function decodeNs(payload: Uint8Array): NsMessage {
  if (payload.length !== RPMSG_NS_MSG_SIZE) {
    throw new RpmsgError(
      "RPMSG_NS_BAD_LENGTH",
      `Name-service message is ${payload.length} bytes, expected ${RPMSG_NS_MSG_SIZE}`,
    );
  }
  const copy = payload.slice(); // one read of shared memory, then work on the copy
  const nul = copy.subarray(0, RPMSG_NAME_SIZE).indexOf(0);
  if (nul < 0) {
    throw new RpmsgError(
      "RPMSG_NS_NAME_UNTERMINATED",
      `Name-service name has no NUL within its ${RPMSG_NAME_SIZE} bytes`,
    );
  }
  if (nul === 0) {
    throw new RpmsgError("RPMSG_NS_EMPTY_NAME", `Name-service message with an empty name`);
  }
  const dv = new DataView(copy.buffer);
  const addr = dv.getUint32(32, true);
  const flags = dv.getUint32(36, true);
  const name = decoder.decode(copy.subarray(0, nul));
  if (flags !== RPMSG_NS_CREATE && flags !== RPMSG_NS_DESTROY) {
    throw new RpmsgError(
      "RPMSG_NS_BAD_FLAGS",
      `Name-service message for "${name}" has flags ${flags}, expected 0 (create) or 1 (destroy)`,
    );
  }
  if (addr === RPMSG_ADDR_ANY) {
    throw new RpmsgError(
      "RPMSG_NS_BAD_ADDR",
      `Name-service message for "${name}" announces address ANY (0xffffffff)`,
    );
  }
  return { name, addr, flags };
}

/**
 * Dynamic endpoint addresses: a bitmap over `[RPMSG_RESERVED_ADDRESSES,
 * RPMSG_RESERVED_ADDRESSES + size)`, lowest free first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressBitmap } from "./_wire.ts";
 * const b = new AddressBitmap(64);
 * assert(b.alloc() === 1024 && b.alloc() === 1025);
 * b.free(1024);
 * assert(b.alloc() === 1024);
 * ```
 */
export class AddressBitmap {
  /** Number of dynamic addresses. */
  readonly size: number;
  readonly #bits: Uint32Array;

  /** A bitmap of `size` dynamic addresses (default 1024). */
  constructor(size = 1024) {
    this.size = size;
    this.#bits = new Uint32Array(Math.ceil(size / 32));
  }

  /** True when `addr` is in the dynamic range. */
  inRange(addr: number): boolean {
    return addr >= RPMSG_RESERVED_ADDRESSES && addr - RPMSG_RESERVED_ADDRESSES < this.size;
  }

  /** Take the lowest free address, or -1 when all are in use. */
  alloc(): number {
    const bits = this.#bits;
    for (let w = 0; w < bits.length; w++) {
      const v = bits[w]!;
      if (v === 0xffff_ffff) continue;
      const bit = 31 - Math.clz32(~v & (v + 1));
      const i = w * 32 + bit;
      if (i >= this.size) return -1;
      bits[w] = v | (1 << bit);
      return RPMSG_RESERVED_ADDRESSES + i;
    }
    return -1;
  }

  /** Mark a specific dynamic address used; false if it already was. */
  take(addr: number): boolean {
    if (!this.inRange(addr)) return true;
    const i = addr - RPMSG_RESERVED_ADDRESSES;
    const w = i >>> 5, m = 1 << (i & 31);
    if (this.#bits[w]! & m) return false;
    this.#bits[w] = this.#bits[w]! | m;
    return true;
  }

  /** Release an address (ignored outside the dynamic range). */
  free(addr: number): void {
    if (!this.inRange(addr)) return;
    const i = addr - RPMSG_RESERVED_ADDRESSES;
    this.#bits[i >>> 5] = this.#bits[i >>> 5]! & ~(1 << (i & 31));
  }
}
