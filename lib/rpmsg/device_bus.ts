/**
 * The rpmsg bus as the virtio device (the remote): it allocates nothing. It
 * sends in buffers the driver made available on vring0 (taken one at a time,
 * and kept in a stash when taken but not used) and receives in the buffers
 * the driver posts on vring1, checking every descriptor against the pool.
 *
 * @module
 */

import { hex } from "../mem/region.ts";
import type { DeviceQueue } from "../virtio/device_queue.ts";
import { RpmsgDevice } from "./device.ts";
import type { RpmsgDeviceOptions } from "./types.ts";
import { RPMSG_DEFAULT_BUF_SIZE, RPMSG_HDR_SIZE } from "./_wire.ts";
import { batchSize } from "./_tx.ts";

/** Options of {@linkcode RpmsgDeviceBus}. */
export interface RpmsgDeviceBusOptions extends RpmsgDeviceOptions {
  /**
   * vring0 (device -> driver) and vring1 (driver -> device), device ends
   * (`createRpmsgDevice` restricts their descriptors to the pool).
   */
  vrings: readonly [DeviceQueue, DeviceQueue];
  /**
   * Used length reported for filled vring0 buffers: the full buffer
   * (default, as upstream) or only the message (header + payload).
   */
  usedLength?: "buffer" | "message";
}

/**
 * An rpmsg bus in the device (remote) role.
 *
 * It touches nothing in the rings until a session starts: before its first
 * {@linkcode reset} (which the remote calls when it sees the host's
 * DRIVER_OK) the rings may hold anything, e.g. a stale earlier run. Until then
 * name-service announcements of new endpoints are queued (and sent by the
 * reset), `hasWork` is false and nothing is read or written. Only an explicit
 * `poll`, send or `getTxBuffer` by the owner starts using the rings without a
 * reset (in-process setups where the driver was built first).
 *
 * A buffer the driver posted that is not one plain descriptor inside the
 * pool, of the right direction and at least a header long, is given back
 * unused (length 0) and counted: `RPMSG_DESC_CHAIN`, `RPMSG_DESC_BAD_FLAGS`,
 * `RPMSG_DESC_OUTSIDE_POOL`, `RPMSG_SHORT_BUFFER`. Each send or poll looks at
 * most `num` buffers of a ring, so a driver that keeps posting bad buffers
 * cannot hold it in a loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RpmsgDeviceBus } from "./device_bus.ts";
 * import { DeviceQueue } from "../virtio/device_queue.ts";
 * import { DriverQueue } from "../virtio/driver_queue.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/in_process.ts";
 * const shm = heapRegion(0, 0x10000);
 * const [n] = InProcessNotifier.pair();
 * const o = (pa: number) => ({ pa, num: 8, align: 0x100 });
 * const host0 = new DriverQueue(shm, o(0));
 * const remote = new RpmsgDeviceBus({
 *   region: shm,
 *   vrings: [new DeviceQueue(shm, o(0)), new DeviceQueue(shm, o(0x1000))],
 *   pool: { base: 0x4000, size: 0x2000 },
 *   notifier: n,
 * });
 * host0.addBuf(0x4000, 256, true); // the driver posts a 256-byte RX buffer
 * const ep = remote.createEndpoint({ addr: 1024, dst: 1024, onMessage: () => {} });
 * assert(ep.trySend(new Uint8Array(8)) && remote.maxPayload === 240);
 * assert(host0.getUsed() === 0 && host0.lastLen === 256);
 * ```
 */
export class RpmsgDeviceBus extends RpmsgDevice {
  /** This side's role. */
  readonly role = "device" as const;

  readonly #vq0: DeviceQueue;
  readonly #vq1: DeviceQueue;
  readonly #fullUsed: boolean;
  #learnedTxLen = RPMSG_DEFAULT_BUF_SIZE;
  #bufOff = 0; // pool offset and length of the buffer #checkBuf accepted last
  #bufLen = 0;
  // vring0 buffers taken but not used yet (LIFO)
  #stashHead: number[] = [];
  #stashOff: number[] = [];
  #stashLen: number[] = [];
  #receiving = false; // inside receive: returned vring1 buffers are published once at its end
  readonly #recycleBatch: number; // buffers a drain gives back with one used.idx store at most

  /**
   * Set up the bus; the rings stay untouched until the first reset (or use).
   *
   * @throws {ConfigError} `RPMSG_VQ_ROLE` (a vring that is not a device end)
   *   and those of {@linkcode RpmsgDevice}.
   */
  constructor(options: RpmsgDeviceBusOptions) {
    super(options, "device");
    [this.#vq0, this.#vq1] = options.vrings;
    this.#recycleBatch = batchSize(this.#vq1.num);
    this.#fullUsed = (options.usedLength ?? "buffer") === "buffer";
    this.init();
  }

  /** The virtqueues [vring0, vring1], device ends. */
  get vrings(): readonly [DeviceQueue, DeviceQueue] {
    return [this.#vq0, this.#vq1];
  }
  /** Largest payload one message can carry, learned from the last vring0 buffer taken (default 496). */
  get maxPayload(): number {
    return this.#learnedTxLen - RPMSG_HDR_SIZE;
  }
  /** The buffer size is known only once a buffer is taken. */
  protected get txLimit(): number {
    return Infinity;
  }

  /** Forget the stash; set the ring flags when the rings may be touched. */
  protected initRings(live: boolean): void {
    // Re-posted RX buffers need no kick (vring0 used.flags NO_NOTIFY), as OpenAMP's device does.
    // Not before the session: the rings are the driver's to set up first.
    if (live) this.#vq0.disableNotifications();
    this.#stashHead = [];
    this.#stashOff = [];
    this.#stashLen = [];
  }

  /** First use without a reset: set vring0's NO_NOTIFY. */
  protected activateRings(): void {
    this.#vq0.disableNotifications();
  }

  /**
   * A stashed vring0 buffer, else the next good one the driver made
   * available (bad ones are given back and counted; at most vring0.num are
   * looked at per call).
   */
  protected takeTx(): number {
    const sh = this.#stashHead;
    if (sh.length > 0) {
      this.txOff = this.#stashOff.pop()!;
      this.txLen = this.#stashLen.pop()!;
      return sh.pop()!;
    }
    const vq0 = this.#vq0;
    const max = vq0.num;
    for (let k = 0; k < max; k++) {
      const head = vq0.getAvail();
      if (head < 0) break;
      if (this.#checkBuf(vq0, head, true)) {
        this.txOff = this.#bufOff;
        this.txLen = this.#learnedTxLen = this.#bufLen;
        return head;
      }
    }
    // None left: staged buffers must reach the driver before it can post them again.
    this.flushTx();
    return -1;
  }

  /** Keep a taken vring0 buffer for the next send. */
  protected untakeTx(id: number, off: number, len: number): void {
    this.#stashHead.push(id);
    this.#stashOff.push(off);
    this.#stashLen.push(len);
  }

  /** Stage vring0 buffer `id` filled (used length: the buffer, or header + `msgLen`). */
  protected postTx(id: number, _off: number, bufLen: number, msgLen: number): void {
    this.#vq0.stageUsed(id, this.#fullUsed ? bufLen : RPMSG_HDR_SIZE + msgLen);
  }

  /** Publish the staged vring0 buffers (one used.idx store); kick unless the driver set NO_INTERRUPT. */
  protected flushTx(): void {
    const vq0 = this.#vq0;
    if (vq0.publish() > 0 && vq0.kickNeeded()) this.kick(0);
  }

  /** Return vring1 buffer `id` (read: its length) to the driver (published at once outside receive). */
  protected recycleRx(id: number, _off: number, len: number): void {
    const vq1 = this.#vq1;
    vq1.stageUsed(id, len);
    // Outside receive at once; inside it in slices while a long drain goes
    // on (the driver refills meanwhile) and the rest at its end.
    if (!this.#receiving || vq1.staged >= this.#recycleBatch) this.#publishRx();
  }

  /**
   * Publish the vring1 buffers given back (one used.idx store) and kick the
   * driver unless it set NO_INTERRUPT: a driver out of TX buffers unmasks
   * that interrupt and sleeps until it comes (Linux's virtio_rpmsg does), so
   * buffers returned without it would leave the sender waiting out its
   * timeout. amp's and OpenAMP's drivers keep it masked.
   */
  #publishRx(): void {
    const vq1 = this.#vq1;
    if (vq1.publish() > 0 && vq1.kickNeeded()) this.kick(1);
  }

  /** While a wait looks at the rings itself: hold the peer's kicks off (vring1 used.flags NO_NOTIFY). */
  protected muteRx(on: boolean): void {
    this.#vq1.holdNotifications(on);
  }

  /** The peer's receive-ring flag (vring0 avail.flags NO_INTERRUPT): set by a peer that polls (amp while it spins). */
  protected peerPolls(): boolean {
    const vq = this.#vq0;
    return vq.broken === null && !vq.kickNeeded();
  }

  /**
   * Deliver the buffers the driver sent on vring1 (at most vring1.num).
   * While it drains vring1 it asks the driver not to kick (used.flags
   * NO_NOTIFY); it clears the flag before it returns and looks at the ring
   * once more, so a buffer posted between its last look and the clear is not
   * left without a kick. While a wait holds the flag (muteRx) it stays set and
   * the second look is not needed. The buffers it gives back are published
   * with one used.idx store at the end.
   */
  protected receive(): number {
    const vq1 = this.#vq1;
    if (!vq1.hasAvail()) return 0;
    const max = vq1.num;
    let n = 0, done = false;
    this.#receiving = true;
    vq1.disableNotifications();
    try {
      n = this.#drain(max);
      vq1.enableNotifications(); // the flag stays while a wait holds it: no second look needed
      if (!vq1.held) n += this.#drain(max - n);
      done = true;
    } finally {
      this.#receiving = false;
      if (vq1.broken === null) {
        if (!done) vq1.enableNotifications();
        this.#publishRx();
      }
    }
    return n;
  }

  /** Deliver up to `max` buffers from vring1. */
  #drain(max: number): number {
    const vq1 = this.#vq1;
    let n = 0;
    for (; n < max; n++) {
      const head = vq1.getAvail();
      if (head < 0) break;
      if (this.#checkBuf(vq1, head, false)) this.deliver(head, this.#bufOff, this.#bufLen);
    }
    return n;
  }

  /** The driver sent buffers. */
  protected rxPending(): boolean {
    return this.#vq1.hasAvail();
  }

  /** The driver made vring0 buffers available. */
  protected txReturned(): boolean {
    return this.#vq0.hasAvail();
  }

  /**
   * Check the chain just taken from `vq`: one descriptor, writable as
   * wanted, inside the pool, at least a header long. On success keeps its
   * pool offset and length (from the private copy of the descriptor); else
   * gives it back unused and counts the reason.
   */
  #checkBuf(vq: DeviceQueue, head: number, wantWritable: boolean): boolean {
    let reason: string | null = null;
    const b = vq.chain[0]!;
    const pool = this.pool;
    if (vq.chainLen !== 1) reason = "RPMSG_DESC_CHAIN";
    else if (b.writable !== wantWritable) reason = "RPMSG_DESC_BAD_FLAGS";
    else if (b.addr < pool.base || b.len > pool.size || b.addr - pool.base > pool.size - b.len) {
      reason = "RPMSG_DESC_OUTSIDE_POOL";
    } else if (b.len < RPMSG_HDR_SIZE) reason = "RPMSG_SHORT_BUFFER";
    if (reason === null) {
      this.#bufOff = b.addr - pool.base;
      this.#bufLen = b.len;
      return true;
    }
    this.drop(
      null,
      reason,
      `Dropped a buffer the driver posted: ${vq.name} head ${head}: ${vq.chainLen} descriptor(s), first [${
        hex(b.addr)
      }, +${hex(b.len)}) ${b.writable ? "writable" : "read-only"}; pool [${hex(pool.base)}, +${
        hex(pool.size)
      })`,
    );
    vq.putUsed(head, 0);
    return false;
  }
}
