/**
 * The driver end of a split virtqueue (the rpmsg host): posts buffers on the
 * avail ring and takes them back from the used ring, checking everything the
 * device wrote there.
 *
 * @module
 */

import type { MemoryRegion } from "../mem/region.ts";
import {
  type VirtqueueOptions,
  type VqBuf,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
} from "./types.ts";
import { Virtqueue } from "./virtqueue.ts";

const TWO32 = 4294967296;

/**
 * A split virtqueue in shared memory, driver end.
 *
 * The fast path is allocation-free: calls return a descriptor head id (or -1)
 * and put the details in reused fields (`lastLen`, `lastToken`). Batches:
 * {@linkcode stageBuf} writes descriptors and avail slots and
 * {@linkcode publish} makes them visible with one store of avail.idx;
 * {@linkcode getUsed} reads used.idx once and takes every entry up to it
 * (each entry still checked) before it reads the index again.
 *
 * A device that breaks the protocol breaks the queue with one of:
 * `VQ_USED_IDX_JUMP` (used.idx moved by more than `num`), `VQ_USED_ID_RANGE`
 * (used id >= num), `VQ_USED_ID_NOT_POSTED` (an id not posted, staged but
 * not yet published, or returned twice), `VQ_USED_LEN` (used length larger
 * than the writable bytes posted).
 * Local mistakes throw `VQ_BAD_ARG` (bad address, length or chain) and leave
 * the queue usable (nothing was written).
 *
 * Used lengths: for a chain with at least one device-writable descriptor,
 * `lastLen` is the used length after checking it against the writable total;
 * for a chain the device only reads, the reported length is ignored (old
 * OpenAMP remotes report the full buffer length there) and `lastLen` is 0.
 *
 * Shadows: the descriptor fields, the published avail.idx and which heads are
 * posted are kept privately; freeing a chain follows the shadow, never the
 * descriptor table in shared memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DriverQueue } from "./driver_queue.ts";
 * import { DeviceQueue } from "./device_queue.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const shm = heapRegion(0x9000_0000, 0x4000);
 * const o = { pa: 0x9000_0000, num: 8, align: 0x1000 };
 * const drv = new DriverQueue(shm, o);
 * const dev = new DeviceQueue(shm, o);
 * const head = drv.addBuf(0x9000_3000, 512, true, 42);
 * assert(dev.getAvail() === head && dev.chain[0]!.len === 512);
 * dev.putUsed(head, 100);
 * assert(drv.getUsed() === head && drv.lastLen === 100 && drv.lastToken === 42);
 * assert(drv.getUsed() === -1);
 * ```
 */
export class DriverQueue extends Virtqueue {
  /** This side's role. */
  readonly role = "driver" as const;

  #availIdx = 0; // shadow of the avail.idx this side wrote slots up to (published or staged)
  #published = 0; // shadow of the avail.idx this side last release-stored
  #lastUsed = 0; // used entries consumed
  #usedSeen = 0; // the last used.idx read and checked (lastUsed..usedSeen are valid entries)
  #freeHead = 0;
  #numFree = 0;
  #lastLen = 0;
  #lastToken = 0;
  readonly #link: Uint16Array; // free-list links
  readonly #sAddr: Float64Array; // shadows of the descriptors this side wrote
  readonly #sLen: Uint32Array;
  readonly #sFlags: Uint16Array;
  readonly #sNext: Uint16Array;
  readonly #posted: Uint8Array; // 1 for a head published and not yet returned
  readonly #sRing: Uint16Array; // shadow of the avail slots this side wrote
  readonly #wlen: Float64Array; // device-writable bytes per head, -1 when read-only
  readonly #token: Float64Array;

  /**
   * Create the driver end over `[options.pa, +vringLayout(num, align, pa).size)`
   * of `region` and initialise the driver's part of the ring (descriptor
   * table and avail ring zeroed, every descriptor free).
   *
   * @throws {VirtioError} `VQ_BAD_NUM`, `VQ_BAD_ALIGN`, `VQ_BAD_PA`,
   *   `VQ_MISALIGNED`, `VQ_BYTE_ORDER`, `VQ_READ_ONLY` (see {@linkcode Virtqueue}).
   * @throws {MemoryBoundsError} `VQ_RING_OUTSIDE` when the ring does not fit the region.
   */
  constructor(region: MemoryRegion, options: VirtqueueOptions) {
    super(region, options, "driver");
    const num = this.num;
    this.#link = new Uint16Array(num);
    this.#sAddr = new Float64Array(num);
    this.#sLen = new Uint32Array(num);
    this.#sFlags = new Uint16Array(num);
    this.#sNext = new Uint16Array(num);
    this.#posted = new Uint8Array(num);
    this.#sRing = new Uint16Array(num);
    this.#wlen = new Float64Array(num);
    this.#token = new Float64Array(num);
    this.reset();
  }

  /** Descriptors not posted. */
  get numFree(): number {
    return this.#numFree;
  }
  /** Used length of the last {@linkcode getUsed} (0 for read-only chains). */
  get lastLen(): number {
    return this.#lastLen;
  }
  /** Token of the last {@linkcode getUsed}. */
  get lastToken(): number {
    return this.#lastToken;
  }

  #checkBuf(addr: number, len: number): void {
    if (!(addr >= 0 && addr <= Number.MAX_SAFE_INTEGER && Math.floor(addr) === addr)) {
      this.badArg(`buffer address ${addr} is not a valid physical address`);
    }
    if ((len >>> 0) !== len) this.badArg(`buffer length ${len} is not a u32`);
  }

  #writeDesc(d: number, addr: number, len: number, flags: number, next: number): void {
    const u32 = this.u32;
    const w = d << 2;
    // A field that already holds the value (per the shadow of what this side
    // wrote) is not stored again: an unchanged descriptor line stays shared
    // in the device's cache instead of moving to this core and back.
    if (this.#sAddr[d] !== addr) {
      const lo = addr >>> 0;
      u32[w] = lo;
      u32[w + 1] = (addr - lo) / TWO32;
      this.#sAddr[d] = addr;
    }
    if (this.#sLen[d] !== len) {
      u32[w + 2] = len;
      this.#sLen[d] = len;
    }
    if (this.#sFlags[d] !== flags || this.#sNext[d] !== next) {
      const u16 = this.u16;
      const h = d << 3;
      u16[h + 6] = flags;
      u16[h + 7] = next;
      this.#sFlags[d] = flags;
      this.#sNext[d] = next;
    }
  }

  /** Write `head` into the next avail slot; the index is published by {@linkcode publish}. */
  #stage(head: number): void {
    const idx = this.#availIdx;
    const slot = idx & this.mask;
    this.u16[this.availRingI + slot] = head;
    this.#sRing[slot] = head;
    this.#availIdx = (idx + 1) & 0xffff;
  }

  /** Avail entries written by {@linkcode stageBuf} and not yet published. */
  get staged(): number {
    return (this.#availIdx - this.#published) & 0xffff;
  }

  /**
   * Publish every staged entry with one release-store of avail.idx. Returns
   * how many entries it published (0: nothing was staged, nothing written).
   */
  publish(): number {
    this.enter();
    const to = this.#availIdx;
    let i = this.#published;
    const n = (to - i) & 0xffff;
    if (n === 0) return 0;
    // A head counts as posted (the device may return it) only once published.
    const sRing = this.#sRing, posted = this.#posted, mask = this.mask;
    for (; i !== to; i = (i + 1) & 0xffff) posted[sRing[i & mask]!] = 1;
    this.#published = to;
    Atomics.store(this.u16, this.availIdxI, to);
    return n;
  }

  /**
   * Post one buffer and publish it (release-store of avail.idx, which also
   * publishes anything staged before it). Returns the head id, or -1 when no
   * descriptor is free. `token` (default: the head id) comes back in
   * `lastToken`.
   */
  addBuf(addr: number, len: number, writable: boolean, token?: number): number {
    const d = this.stageBuf(addr, len, writable, token);
    if (d >= 0) this.publish();
    return d;
  }

  /**
   * Post one buffer like {@linkcode addBuf} but leave it unpublished: the
   * descriptor and the avail slot are written, avail.idx is not. A batch of
   * staged buffers becomes visible to the device with one
   * {@linkcode publish} (the split ring allows several slots, then one index
   * store). Staged entries count against the free descriptors at once.
   */
  stageBuf(addr: number, len: number, writable: boolean, token?: number): number {
    this.enter();
    this.#checkBuf(addr, len);
    if (this.#numFree === 0) return -1;
    const d = this.#freeHead;
    this.#freeHead = this.#link[d]!;
    this.#numFree--;
    this.#writeDesc(d, addr, len, writable ? VRING_DESC_F_WRITE : 0, 0);
    this.#wlen[d] = writable ? len : -1;
    this.#token[d] = token ?? d;
    this.#stage(d);
    return d;
  }

  /**
   * Post a chain of buffers as one element and publish it. Returns the head
   * id, or -1 when fewer than `bufs.length` descriptors are free.
   */
  addChain(bufs: readonly VqBuf[], token?: number): number {
    this.enter();
    const n = bufs.length;
    if (n === 0 || n > this.num) this.badArg(`chain of ${n} buffers (1..${this.num} allowed)`);
    let wlen = -1;
    for (let i = 0; i < n; i++) {
      const b = bufs[i]!;
      this.#checkBuf(b.addr, b.len);
      if (b.writable) wlen = (wlen < 0 ? 0 : wlen) + b.len;
    }
    if (n > this.#numFree) return -1;
    const head = this.#freeHead;
    let d = head;
    for (let i = 0; i < n; i++) {
      const b = bufs[i]!;
      const next = this.#link[d]!;
      const last = i === n - 1;
      this.#writeDesc(
        d,
        b.addr,
        b.len,
        (b.writable ? VRING_DESC_F_WRITE : 0) | (last ? 0 : VRING_DESC_F_NEXT),
        last ? 0 : next,
      );
      if (last) this.#freeHead = next;
      d = next;
    }
    this.#numFree -= n;
    this.#wlen[head] = wlen;
    this.#token[head] = token ?? head;
    this.#stage(head);
    this.publish();
    return head;
  }

  /** True when the device returned buffers not yet taken with getUsed (cheap poll). */
  hasUsed(): boolean {
    this.enter();
    return this.#usedSeen !== this.#lastUsed ||
      Atomics.load(this.u16, this.usedIdxI) !== this.#lastUsed;
  }

  /**
   * Take the next used element, checking it. Returns its head id or -1 when
   * none; on success `lastLen` is the used length (checked) and `lastToken`
   * the token given to add.
   */
  getUsed(): number {
    this.enter();
    const last = this.#lastUsed;
    const num = this.num;
    if (this.#usedSeen === last) {
      // One acquire-load of used.idx covers every entry up to it: later calls
      // take those entries without touching the index again.
      const usedIdx = this.loadPeerIdx(this.usedIdxI, last, "used.idx", "VQ_USED_IDX_JUMP");
      if (usedIdx === last) return -1;
      this.#usedSeen = usedIdx;
    }
    const e = this.usedRingI + ((last & this.mask) << 1);
    const u32 = this.u32;
    const id = u32[e]!;
    const len = u32[e + 1]!;
    if (id >= num) this.fail("VQ_USED_ID_RANGE", `used id ${id} >= num ${num}`);
    if (this.#posted[id] === 0) {
      this.fail("VQ_USED_ID_NOT_POSTED", `used id ${id} is not a buffer posted and pending`);
    }
    const wlen = this.#wlen[id]!;
    if (wlen >= 0) {
      if (len > wlen) {
        this.fail("VQ_USED_LEN", `used len ${len} for id ${id} > ${wlen} writable bytes posted`);
      }
      this.#lastLen = len;
    } else {
      this.#lastLen = 0;
    }
    this.#lastToken = this.#token[id]!;
    this.#posted[id] = 0;
    // Free the chain by following the shadow of what this side wrote.
    let d = id;
    let n = 1;
    const sFlags = this.#sFlags, sNext = this.#sNext;
    while ((sFlags[d]! & VRING_DESC_F_NEXT) !== 0) {
      d = sNext[d]!;
      n++;
    }
    this.#link[d] = this.#freeHead;
    this.#freeHead = id;
    this.#numFree += n;
    this.#lastUsed = (last + 1) & 0xffff;
    return id;
  }

  /**
   * Driver's part of a reset: zeroes the descriptor table and the avail ring,
   * frees every descriptor, expects used.idx to restart at 0.
   */
  protected clearOwnPart(): void {
    const u16 = this.u16;
    const num = this.num;
    u16.fill(0, 0, this.usedEventI + 1);
    Atomics.store(u16, this.availIdxI, 0);
    this.#availIdx = 0;
    this.#published = 0;
    this.#lastUsed = 0;
    this.#usedSeen = 0;
    this.#lastLen = 0;
    this.#lastToken = 0;
    for (let i = 0; i < num; i++) this.#link[i] = i + 1;
    this.#freeHead = 0;
    this.#numFree = num;
    this.#sAddr.fill(0);
    this.#sLen.fill(0);
    this.#sFlags.fill(0);
    this.#sNext.fill(0);
    this.#posted.fill(0);
    this.#sRing.fill(0);
    this.#wlen.fill(0);
    this.#token.fill(0);
  }
}
