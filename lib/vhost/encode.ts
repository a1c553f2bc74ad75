/**
 * Encoders of vhost-user messages: the back-end's replies, and (for tests
 * and hostile-peer drivers) whole requests with their payloads. The wire
 * format is described in `protocol.ts`.
 *
 * @module
 */

import {
  FLAG_REPLY,
  HEADER_SIZE,
  MEM_REGION_SIZE,
  type MemRegionDesc,
  VHOST_USER_VERSION,
} from "./protocol.ts";

/**
 * A whole message: header (`flags` as given) and payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage, u64Payload } from "./encode.ts";
 * assert.equal(encodeMessage(2, 1, u64Payload(1n)).length, 20);
 * ```
 */
export function encodeMessage(request: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request >>> 0, true);
  v.setUint32(4, flags >>> 0, true);
  v.setUint32(8, payload.length, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/**
 * A u64 payload (little-endian).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { u64Payload } from "./encode.ts";
 * assert.deepEqual([...u64Payload(0x102n)], [2, 1, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function u64Payload(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return out;
}

/**
 * A vring state payload `{index, num}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statePayload } from "./encode.ts";
 * const v = new DataView(statePayload(1, 256).buffer);
 * assert(v.getUint32(0, true) === 1 && v.getUint32(4, true) === 256);
 * ```
 */
export function statePayload(index: number, num: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, index >>> 0, true);
  v.setUint32(4, num >>> 0, true);
  return out;
}

/**
 * A vring address payload `{index, flags, desc, used, avail, log}` (`log`
 * defaults to all ones: no logging).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addrPayload, encodeMessage } from "./encode.ts";
 * import { decodeHeader, decodeRequest, Request } from "./protocol.ts";
 * const m = encodeMessage(Request.SET_VRING_ADDR, 1, addrPayload(0, { desc: 0x1000n, used: 0x3000n, avail: 0x2000n }));
 * const r = decodeRequest(decodeHeader(m), m.subarray(12), []);
 * assert(r.type === "SET_VRING_ADDR" && r.avail === 0x2000n);
 * ```
 */
export function addrPayload(
  index: number,
  a: { desc: bigint; used: bigint; avail: bigint; log?: bigint; flags?: number },
): Uint8Array {
  const out = new Uint8Array(40);
  const v = new DataView(out.buffer);
  v.setUint32(0, index >>> 0, true);
  v.setUint32(4, (a.flags ?? 0) >>> 0, true);
  v.setBigUint64(8, BigInt.asUintN(64, a.desc), true);
  v.setBigUint64(16, BigInt.asUintN(64, a.used), true);
  v.setBigUint64(24, BigInt.asUintN(64, a.avail), true);
  v.setBigUint64(32, BigInt.asUintN(64, a.log ?? (1n << 64n) - 1n), true);
  return out;
}

/**
 * A memory table payload; `slots` (>= regions) pads it as front-ends with fixed arrays do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memTablePayload } from "./encode.ts";
 * const p = memTablePayload([{ guestAddr: 0n, size: 0x1000n, userAddr: 0n, mmapOffset: 0n }], 2);
 * assert.equal(p.length, 8 + 2 * 32);
 * assert.equal(new DataView(p.buffer).getUint32(0, true), 1);
 * ```
 */
export function memTablePayload(
  regions: readonly MemRegionDesc[],
  slots = regions.length,
): Uint8Array {
  const out = new Uint8Array(8 + MEM_REGION_SIZE * Math.max(slots, regions.length));
  const v = new DataView(out.buffer);
  v.setUint32(0, regions.length, true);
  regions.forEach((r, i) => {
    const o = 8 + MEM_REGION_SIZE * i;
    v.setBigUint64(o, BigInt.asUintN(64, r.guestAddr), true);
    v.setBigUint64(o + 8, BigInt.asUintN(64, r.size), true);
    v.setBigUint64(o + 16, BigInt.asUintN(64, r.userAddr), true);
    v.setBigUint64(o + 24, BigInt.asUintN(64, r.mmapOffset), true);
  });
  return out;
}

/**
 * A config payload `{offset, size, flags, payload}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configPayload } from "./encode.ts";
 * const p = configPayload(4, new Uint8Array([7, 8]));
 * assert(p.length === 14 && new DataView(p.buffer).getUint32(4, true) === 2 && p[12] === 7);
 * ```
 */
export function configPayload(offset: number, data: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, offset >>> 0, true);
  v.setUint32(4, data.length, true);
  v.setUint32(8, flags >>> 0, true);
  out.set(data, 12);
  return out;
}

/**
 * A reply (`flags` = version | REPLY) to `request` with `payload`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeReply, u64Payload } from "./encode.ts";
 * import { decodeHeader, FLAG_REPLY, Request } from "./protocol.ts";
 * const h = decodeHeader(encodeReply(Request.GET_FEATURES, u64Payload(1n)), true);
 * assert(h.request === Request.GET_FEATURES && (h.flags & FLAG_REPLY) !== 0 && h.size === 8);
 * ```
 */
export function encodeReply(request: number, payload: Uint8Array): Uint8Array {
  return encodeMessage(request, VHOST_USER_VERSION | FLAG_REPLY, payload);
}
