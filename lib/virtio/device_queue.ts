/**
 * The device end of a split virtqueue (the rpmsg remote): takes the chains
 * the driver made available, checking every descriptor, and returns them on
 * the used ring.
 *
 * @module
 */

import { VirtioError, type VirtioErrorCode } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import {
  type DeviceQueueOptions,
  type VqBuf,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
} from "./types.ts";
import { Virtqueue } from "./virtqueue.ts";

const TWO32 = 4294967296;
/** High words at or above this make a 64-bit address exceed `Number.MAX_SAFE_INTEGER`. */
const SAFE_HI_LIMIT = 0x20_0000;

/**
 * A split virtqueue in shared memory, device end.
 *
 * The fast path is allocation-free: {@linkcode getAvail} returns a head id
 * (or -1) and copies the chain's descriptors into the reused
 * `chain[0..chainLen)`. Batches: {@linkcode getAvail} reads avail.idx once
 * and takes every entry up to it (each entry still checked) before it reads
 * the index again; {@linkcode stageUsed} writes used elements and
 * {@linkcode publish} makes them visible with one store of used.idx.
 *
 * A driver that breaks the protocol breaks the queue with one of:
 * `VQ_AVAIL_IDX_JUMP` (avail.idx moved by more than `num`),
 * `VQ_AVAIL_HEAD_RANGE` (head >= num), `VQ_AVAIL_HEAD_IN_FLIGHT` (a head
 * published again before it was returned), `VQ_DESC_LOOP` (a chain longer
 * than `num`), `VQ_DESC_NEXT_RANGE`, `VQ_DESC_INDIRECT`, `VQ_DESC_ADDR` (an
 * address beyond 2^53, or outside `bufferRange`). Local mistakes leave the
 * queue usable (nothing was written): `VQ_PUT_NOT_IN_FLIGHT` (putUsed of a
 * head getAvail did not hand out, or handed out and already returned),
 * `VQ_PUT_LEN` (putUsed length larger than the chain), `VQ_BAD_ARG`.
 *
 * Shadows: the published used.idx and which heads are in flight are kept
 * privately; the chain copies are what decisions use, never a second read of
 * the descriptors in shared memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DriverQueue } from "./driver_queue.ts";
 * import { DeviceQueue } from "./device_queue.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const shm = heapRegion(0x9000_0000, 0x8000);
 * const o = { pa: 0x9000_0000, num: 8, align: 0x1000 };
 * const drv = new DriverQueue(shm, o);
 * const dev = new DeviceQueue(shm, { ...o, bufferRange: { base: 0x9000_4000, size: 0x4000 } });
 * drv.addChain([
 *   { addr: 0x9000_4000, len: 16, writable: false },
 *   { addr: 0x9000_5000, len: 64, writable: true },
 * ]);
 * const head = dev.getAvail();
 * assert(head === 0 && dev.chainLen === 2 && dev.chain[1]!.writable);
 * dev.putUsed(head, 64);
 * assert(drv.getUsed() === 0 && drv.lastLen === 64);
 * ```
 */
export class DeviceQueue extends Virtqueue {
  /** This side's role. */
  readonly role = "device" as const;

  readonly #bufBase: number;
  readonly #bufSize: number;
  readonly #checkRange: boolean;
  #lastAvail = 0; // avail entries consumed
  #availSeen = 0; // the last avail.idx read and checked (lastAvail..availSeen are valid entries)
  #usedIdx = 0; // shadow of the used.idx this side wrote elements up to (published or staged)
  #published = 0; // shadow of the used.idx this side last release-stored
  readonly #inFlight: Uint8Array; // 1 for a head taken and not yet returned
  readonly #total: Float64Array; // chain bytes per head in flight
  readonly #chain: VqBuf[] = [];
  #chainLen = 0;

  /**
   * Create the device end over `[options.pa, +vringLayout(num, align, pa).size)`
   * of `region` and initialise the device's part of the ring (used ring
   * zeroed).
   *
   * @throws {VirtioError} `VQ_BAD_NUM`, `VQ_BAD_ALIGN`, `VQ_BAD_PA`,
   *   `VQ_MISALIGNED`, `VQ_BYTE_ORDER`, `VQ_READ_ONLY` (see
   *   {@linkcode Virtqueue}), `VQ_BAD_RANGE` (an invalid `bufferRange`).
   * @throws {MemoryBoundsError} `VQ_RING_OUTSIDE` when the ring does not fit the region.
   */
  constructor(region: MemoryRegion, options: DeviceQueueOptions) {
    super(region, options, "device");
    let bufBase = 0, bufSize = 0;
    const range = options.bufferRange;
    if (range !== undefined) {
      bufBase = range.base;
      bufSize = range.size;
      if (
        !Number.isSafeInteger(bufBase) || !Number.isSafeInteger(bufSize) || bufBase < 0 ||
        bufSize < 0 || bufBase > Number.MAX_SAFE_INTEGER - bufSize
      ) {
        throw new VirtioError(
          "VQ_BAD_RANGE",
          `${this.name}: buffer range [${bufBase}, +${bufSize}) is not a valid address range`,
        );
      }
    }
    this.#bufBase = bufBase;
    this.#bufSize = bufSize;
    this.#checkRange = range !== undefined;
    this.#inFlight = new Uint8Array(this.num);
    this.#total = new Float64Array(this.num);
    for (let i = 0; i < Math.min(this.num, 8); i++) {
      this.#chain.push({ addr: 0, len: 0, writable: false });
    }
    this.reset();
  }

  /** Private copies of the last chain taken (first {@linkcode chainLen} valid). */
  get chain(): readonly VqBuf[] {
    return this.#chain;
  }
  /** Descriptors in the last chain taken. */
  get chainLen(): number {
    return this.#chainLen;
  }
  /** Chains taken by getAvail and not yet returned. */
  get numInFlight(): number {
    let n = 0;
    for (let i = 0; i < this.#inFlight.length; i++) n += this.#inFlight[i]!;
    return n;
  }

  /** The peer broke the protocol: no chain is valid any more. */
  protected override fail(code: VirtioErrorCode, message: string): never {
    this.#chainLen = 0;
    return super.fail(code, message);
  }

  /** True when the driver posted chains not yet taken with getAvail (cheap poll). */
  hasAvail(): boolean {
    this.enter();
    return this.#availSeen !== this.#lastAvail ||
      Atomics.load(this.u16, this.availIdxI) !== this.#lastAvail;
  }

  /**
   * Take the next available chain, checking it. Returns its head id or -1
   * when none; on success `chain[0..chainLen)` holds private copies of its
   * descriptors.
   */
  getAvail(): number {
    this.enter();
    const last = this.#lastAvail;
    const u16 = this.u16;
    const num = this.num;
    if (this.#availSeen === last) {
      // One acquire-load of avail.idx covers every entry up to it: later calls
      // take those entries without touching the index again.
      const availIdx = this.loadPeerIdx(this.availIdxI, last, "avail.idx", "VQ_AVAIL_IDX_JUMP");
      if (availIdx === last) return -1;
      this.#availSeen = availIdx;
    }
    const head = u16[this.availRingI + (last & this.mask)]!;
    if (head >= num) this.fail("VQ_AVAIL_HEAD_RANGE", `avail head ${head} >= num ${num}`);
    if (this.#inFlight[head] !== 0) {
      this.fail("VQ_AVAIL_HEAD_IN_FLIGHT", `avail head ${head} is already in flight`);
    }
    const u32 = this.u32;
    const chain = this.#chain;
    let d = head;
    let n = 0;
    let total = 0;
    for (;;) {
      const w = d << 2;
      const lo = u32[w]!;
      const hi = u32[w + 1]!;
      const len = u32[w + 2]!;
      const flags = u16[(d << 3) + 6]!;
      const next = u16[(d << 3) + 7]!;
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) {
        this.fail("VQ_DESC_INDIRECT", `descriptor ${d} (chain ${head}) is indirect`);
      }
      if (hi >= SAFE_HI_LIMIT) {
        this.fail(
          "VQ_DESC_ADDR",
          `descriptor ${d} (chain ${head}) address 0x${hi.toString(16)}${
            lo.toString(16).padStart(8, "0")
          } is beyond any usable address`,
        );
      }
      const addr = hi * TWO32 + lo;
      if (
        this.#checkRange &&
        (addr < this.#bufBase || len > this.#bufSize || addr - this.#bufBase > this.#bufSize - len)
      ) {
        this.fail(
          "VQ_DESC_ADDR",
          `descriptor ${d} (chain ${head}) [${hex(addr)}, +${hex(len)}) is outside the buffers [${
            hex(this.#bufBase)
          }, +${hex(this.#bufSize)})`,
        );
      }
      let b = chain[n];
      if (b === undefined) {
        b = { addr: 0, len: 0, writable: false };
        chain.push(b);
      }
      b.addr = addr;
      b.len = len;
      b.writable = (flags & VRING_DESC_F_WRITE) !== 0;
      total += len;
      n++;
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      if (next >= num) {
        this.fail(
          "VQ_DESC_NEXT_RANGE",
          `descriptor ${d} (chain ${head}) next ${next} >= num ${num}`,
        );
      }
      if (n >= num) {
        this.fail("VQ_DESC_LOOP", `chain ${head} is longer than num ${num} descriptors (a loop)`);
      }
      d = next;
    }
    this.#chainLen = n;
    this.#inFlight[head] = 1;
    this.#total[head] = total;
    this.#lastAvail = (last + 1) & 0xffff;
    return head;
  }

  /**
   * Return a chain taken by getAvail, with the number of bytes written into
   * it, and publish it (release-store of used.idx, which also publishes
   * anything staged before it).
   */
  putUsed(head: number, len: number): void {
    this.stageUsed(head, len);
    this.publish();
  }

  /** Used elements written by {@linkcode stageUsed} and not yet published. */
  get staged(): number {
    return (this.#usedIdx - this.#published) & 0xffff;
  }

  /**
   * Publish every staged used element with one release-store of used.idx.
   * Returns how many it published (0: nothing was staged, nothing written).
   */
  publish(): number {
    this.enter();
    const to = this.#usedIdx;
    const n = (to - this.#published) & 0xffff;
    if (n === 0) return 0;
    this.#published = to;
    Atomics.store(this.u16, this.usedIdxI, to);
    return n;
  }

  /**
   * Return a chain like {@linkcode putUsed} but leave it unpublished: the
   * used element is written, used.idx is not, so a batch of returns becomes
   * visible to the driver with one {@linkcode publish}. The same checks as
   * putUsed apply; the head is no longer in flight at once.
   */
  stageUsed(head: number, len: number): void {
    this.enter();
    if (!(head >= 0 && head < this.num && (head | 0) === head) || this.#inFlight[head] === 0) {
      throw new VirtioError(
        "VQ_PUT_NOT_IN_FLIGHT",
        `${this.name}: putUsed(${head}): no chain with that head is in flight`,
      );
    }
    if ((len >>> 0) !== len) this.badArg(`used length ${len} is not a u32`);
    if (len > this.#total[head]!) {
      throw new VirtioError(
        "VQ_PUT_LEN",
        `${this.name}: putUsed(${head}, ${len}): the chain has only ${this.#total[head]} bytes`,
      );
    }
    const idx = this.#usedIdx;
    const e = this.usedRingI + ((idx & this.mask) << 1);
    const u32 = this.u32;
    u32[e] = head;
    u32[e + 1] = len;
    this.#inFlight[head] = 0;
    this.#usedIdx = (idx + 1) & 0xffff;
  }

  /** Device's part of a reset: zeroes the used ring, expects avail.idx to restart at 0. */
  protected clearOwnPart(): void {
    const u16 = this.u16;
    u16.fill(0, this.usedFlagsI, u16.length);
    Atomics.store(u16, this.usedIdxI, 0);
    this.#usedIdx = 0;
    this.#published = 0;
    this.#lastAvail = 0;
    this.#availSeen = 0;
    this.#chainLen = 0;
    this.#inFlight.fill(0);
    this.#total.fill(0);
  }
}
