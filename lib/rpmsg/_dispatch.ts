/**
 * Dispatch of received buffers: parse the header (read once), route the
 * payload to the name service or to its endpoint, run the callback, and hand
 * the buffer back unless the callback held it. Internal to the bus
 * (`device.ts`).
 *
 * @module
 */

import { RpmsgError } from "../errors.ts";
import { type RpmsgEndpoint, setDst } from "./endpoint.ts";
import { countDrop, type DropLog } from "./_drop_log.ts";
import type { NameService } from "./_name_service.ts";
import type { RpmsgDeviceCounters, RpmsgRxHandle } from "./types.ts";
import {
  readHeaderInto,
  RPMSG_ADDR_ANY,
  RPMSG_HDR_SIZE,
  RPMSG_NS_ADDR,
  type RpmsgHeader,
} from "./_wire.ts";

class RxHandle implements RpmsgRxHandle {
  live = true;
  constructor(
    readonly data: Uint8Array,
    readonly id: number,
    readonly off: number,
    readonly len: number,
    readonly gen: number,
  ) {}
}

/** Where the dispatcher reads and what it calls back. */
export interface DispatchTarget {
  /** Zero-copy view of the pool (headers). */
  readonly view: DataView;
  /** Zero-copy bytes of the pool (payloads). */
  readonly bytes: Uint8Array;
  /** Local endpoints by address. */
  readonly endpoints: ReadonlyMap<number, RpmsgEndpoint>;
  /** The bus's name service. */
  readonly ns: NameService;
  /** The bus's counters. */
  readonly stats: RpmsgDeviceCounters;
  /** The bus's drop log. */
  readonly drops: DropLog;
  /** Give a received buffer back to the peer. */
  recycle(id: number, off: number, len: number): void;
}

/** The receive side of a bus: dispatch, and buffers held past their callback. */
export class Dispatcher {
  readonly #t: DispatchTarget;
  readonly #hdr: RpmsgHeader = { src: 0, dst: 0, reserved: 0, len: 0, flags: 0 };
  #gen = 0;
  #held = false;
  #curId = -1;
  #curOff = 0;
  #curLen = 0;
  #curData: Uint8Array | null = null;

  /** A dispatcher for one bus. */
  constructor(target: DispatchTarget) {
    this.#t = target;
  }

  /** A new session (reset) started: handles of generation `gen` are current, older ones void. */
  newSession(gen: number): void {
    this.#gen = gen;
    this.#held = false;
    this.#curId = -1;
  }

  /**
   * Parse and dispatch one received buffer (`avail` bytes at pool offset
   * `off`), then recycle it unless the callback held it. Each header field
   * is read once into a local; every bound comes from those reads.
   */
  deliver(id: number, off: number, avail: number): void {
    const t = this.#t;
    let held = false;
    try {
      if (avail < RPMSG_HDR_SIZE) {
        t.drops.drop(
          null,
          "RPMSG_SHORT_BUFFER",
          `Dropped a message: ${avail} bytes received, less than the ${RPMSG_HDR_SIZE}-byte header`,
        );
        return;
      }
      const h = readHeaderInto(t.view, off, this.#hdr);
      const src = h.src, dst = h.dst, len = h.len;
      if (len > avail - RPMSG_HDR_SIZE) {
        t.drops.drop(
          t.endpoints.get(dst) ?? null,
          "RPMSG_BAD_HDR_LEN",
          `Dropped a message from ${src} to ${dst}: its header len ${len} exceeds the ${
            avail - RPMSG_HDR_SIZE
          } payload bytes received`,
        );
        return;
      }
      const data = t.bytes.subarray(off + RPMSG_HDR_SIZE, off + RPMSG_HDR_SIZE + len);
      const s = t.stats;
      if (dst === RPMSG_NS_ADDR && t.ns.enabled) {
        s.rxMessages++;
        s.rxBytes += len;
        t.ns.handle(data);
        return;
      }
      const ep = t.endpoints.get(dst);
      if (ep === undefined) {
        t.drops.drop(
          null,
          "RPMSG_UNKNOWN_DST",
          `Dropped a message from ${src}: no endpoint ${dst}`,
        );
        return;
      }
      if (ep.dst === RPMSG_ADDR_ANY) setDst(ep, src);
      const es = ep.stats;
      s.rxMessages++;
      s.rxBytes += len;
      es.rxMessages++;
      es.rxBytes += len;
      this.#curId = id;
      this.#curOff = off;
      this.#curLen = avail;
      this.#curData = data;
      this.#held = false;
      try {
        ep.onMessage(data, src, ep);
      } catch (e) {
        countDrop(es.drops, "RPMSG_CALLBACK_ERROR");
        countDrop(s.drops, "RPMSG_CALLBACK_ERROR");
        throw e;
      } finally {
        held = this.#held;
        this.#held = false;
        this.#curId = -1;
        this.#curData = null;
      }
    } finally {
      if (!held) t.recycle(id, off, avail);
    }
  }

  /**
   * Inside an `onMessage` callback: keep the current RX buffer past the
   * callback.
   *
   * @throws {RpmsgError} `RPMSG_NOT_IN_CALLBACK`, `RPMSG_ALREADY_HELD`.
   */
  hold(): RpmsgRxHandle {
    const data = this.#curData;
    if (data === null || this.#curId < 0) {
      throw new RpmsgError(
        "RPMSG_NOT_IN_CALLBACK",
        "Cannot hold an RX buffer: holdRx() is only valid inside onMessage",
      );
    }
    if (this.#held) {
      throw new RpmsgError("RPMSG_ALREADY_HELD", "Cannot hold an RX buffer: it is already held");
    }
    this.#held = true;
    return new RxHandle(data, this.#curId, this.#curOff, this.#curLen, this.#gen);
  }

  /**
   * Give a held buffer back to the peer (nothing to give back when the ring
   * was reset since).
   *
   * @throws {RpmsgError} `RPMSG_BAD_HANDLE` (not a held buffer, or released twice).
   */
  release(handle: RpmsgRxHandle): void {
    if (!(handle instanceof RxHandle) || !handle.live) {
      throw new RpmsgError(
        "RPMSG_BAD_HANDLE",
        "Cannot release an RX buffer: it is not held, or was released twice",
      );
    }
    handle.live = false;
    if (handle.gen !== this.#gen) return;
    this.#t.recycle(handle.id, handle.off, handle.len);
  }
}
