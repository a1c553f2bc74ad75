/**
 * Zero-copy TX buffers of a bus: the handle `getTxBuffer` returns, its
 * liveness check, and the payload views reused across sends (a buffer at a
 * given pool offset always has the same payload view, so taking it again
 * allocates no new typed array). Internal to the bus (`device.ts`).
 *
 * @module
 */

import { RpmsgError } from "../errors.ts";
import type { RpmsgTxBuffer } from "./types.ts";
import { RPMSG_HDR_SIZE } from "./_wire.ts";

/** Largest batch: buffers staged before they are published on their own. */
export const MAX_BATCH = 64;

/**
 * The batch of a ring of `num` entries: a quarter of the ring, at most
 * {@linkcode MAX_BATCH} (measured between two processes on 256-entry rings:
 * 64 streams faster than 32 or 16, 128 no faster than 64), at least 1.
 */
export function batchSize(num: number): number {
  return Math.max(1, Math.min(MAX_BATCH, num >> 2));
}

/** Payload views kept per pool offset at most (the driver has one per TX buffer). */
const MAX_VIEWS = 4096;

/** A TX buffer handed out by `getTxBuffer`: live until sent, queued or released. */
export class TxBuf implements RpmsgTxBuffer {
  /** False once sent, queued or released. */
  live = true;
  /** A handle over one taken buffer. */
  constructor(
    readonly payload: Uint8Array,
    /** driver: TX buffer index; device: vring0 head. */
    readonly id: number,
    readonly off: number, // pool offset of the buffer
    readonly len: number, // buffer length
    readonly gen: number,
  ) {}
}

/**
 * `buf` as a live TX buffer of session `gen`.
 *
 * @throws {RpmsgError} `RPMSG_BAD_BUFFER` (not from this bus, already sent,
 *   queued or released, or from before a reset).
 */
export function liveTxBuf(buf: RpmsgTxBuffer, gen: number, op: string): TxBuf {
  if (!(buf instanceof TxBuf) || !buf.live || buf.gen !== gen) {
    throw new RpmsgError(
      "RPMSG_BAD_BUFFER",
      `Cannot ${op}: the buffer is not a live TX buffer of this bus (already sent or released, or from before a reset)`,
    );
  }
  return buf;
}

/** Payload views of the pool's buffers, by pool offset (bounded). */
export class TxViews {
  readonly #bytes: Uint8Array;
  readonly #views = new Map<number, Uint8Array>();

  /** Views into `bytes` (the pool). */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** The payload area of the `len`-byte buffer at pool offset `off`. */
  payload(off: number, len: number): Uint8Array {
    const want = len - RPMSG_HDR_SIZE;
    const v = this.#views.get(off);
    if (v !== undefined && v.length === want) return v;
    const views = this.#views;
    if (views.size >= MAX_VIEWS) views.clear();
    const n = this.#bytes.subarray(off + RPMSG_HDR_SIZE, off + len);
    views.set(off, n);
    return n;
  }
}
