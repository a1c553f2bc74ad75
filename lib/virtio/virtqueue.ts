/**
 * The split vring (openamp-wire.md section 3): its layout, a read-only
 * decoder for diagnosis, and {@linkcode Virtqueue}, the ring core shared by
 * the two roles ({@linkcode DriverQueue} in `driver_queue.ts`,
 * {@linkcode DeviceQueue} in `device_queue.ts`).
 *
 * Design:
 * - The geometry is validated once; a queue then keeps one zero-copy
 *   `Uint16Array` and one `Uint32Array` over the ring bytes and uses direct
 *   offsets, with no per-access bounds check. Indices are published with
 *   `Atomics.store` after plain stores of the descriptors and ring slots
 *   (once per buffer, or once per batch of staged ones), and the peer's
 *   index is read with `Atomics.load` before its slots (once per batch:
 *   every entry up to the index read is taken, each checked, before the
 *   index is read again).
 * - Everything a side writes has a private shadow (descriptor fields, the
 *   published index, the flags word, which heads are posted or in flight).
 *   Decisions never read this side's own fields back from shared memory.
 * - Everything the peer writes is checked. A failed check breaks the queue:
 *   {@linkcode Virtqueue.broken} holds the error and every later operation
 *   throws that same error until {@linkcode Virtqueue.reset}.
 * - The role is the class: a driver operation on a device queue (or the
 *   reverse) does not compile.
 *
 * Ownership of the ring bytes: the driver owns the descriptor table and the
 * avail ring (flags, idx, ring, used_event); the device owns the used ring
 * (flags, idx, elements, avail_event). Construction and `reset()` initialise
 * exactly the part this side owns.
 *
 * @module
 */

import { MemoryBoundsError, VirtioError, type VirtioErrorCode } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import {
  type VirtqueueOptions,
  type VirtqueueRole,
  type VirtqueueSnapshot,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
  type VringLayout,
} from "./types.ts";

/** Largest queue size a split virtqueue allows. */
export const VRING_MAX_NUM = 32768;
/** Largest `align` accepted (the vdev field is a u32). */
export const VRING_MAX_ALIGN = 0x8000_0000;

const TWO32 = 4294967296;
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isPow2(n: number, max: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && n <= max && (n & (n - 1)) === 0;
}

function checkGeometry(name: string, num: number, align: number, pa: number): void {
  if (!isPow2(num, VRING_MAX_NUM)) {
    throw new VirtioError(
      "VQ_BAD_NUM",
      `${name}: num ${num} is not a power of two in 1..${VRING_MAX_NUM}`,
    );
  }
  if (!isPow2(align, VRING_MAX_ALIGN)) {
    throw new VirtioError(
      "VQ_BAD_ALIGN",
      `${name}: align ${align} is not a power of two in 1..${hex(VRING_MAX_ALIGN)}`,
    );
  }
  if (!Number.isSafeInteger(pa) || pa < 0) {
    throw new VirtioError("VQ_BAD_PA", `${name}: address ${pa} is not a valid physical address`);
  }
}

/**
 * Byte offsets of the descriptor table, avail ring and used ring of a split
 * vring of `num` entries with used-ring alignment `align`, placed at physical
 * address `pa` (the padding before the used ring depends on the alignment of
 * `pa`; with the default `pa = 0`, or any `align`-aligned `pa`, it is the
 * classic `vring_size` layout).
 *
 * @throws {VirtioError} `VQ_BAD_NUM`, `VQ_BAD_ALIGN`, `VQ_BAD_PA` for invalid inputs
 *   (including a ring that would run past `Number.MAX_SAFE_INTEGER`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vringLayout } from "./virtqueue.ts";
 * const l = vringLayout(256, 0x1000);
 * assert(l.desc === 0 && l.avail === 0x1000 && l.used === 0x2000 && l.size === 0x2806);
 * ```
 */
export function vringLayout(num: number, align: number, pa = 0): VringLayout {
  checkGeometry("vring", num, align, pa);
  const avail = 16 * num;
  const availEnd = avail + 4 + 2 * num + 2;
  if (pa > Number.MAX_SAFE_INTEGER - (availEnd + align + 8 * num + 6)) {
    throw new VirtioError("VQ_BAD_PA", `vring at ${hex(pa)} would run past the address space`);
  }
  const mis = (pa + availEnd) % align;
  const used = mis === 0 ? availEnd : availEnd + (align - mis);
  return { desc: 0, avail, used, size: used + 4 + 8 * num + 2 };
}

/** Geometry of a ring to decode with {@linkcode readVringSnapshot}. */
export interface VringGeometry {
  /** Name shown in the snapshot. */
  name?: string;
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries (power of two, 1..32768). */
  num: number;
  /** Used ring alignment (power of two). */
  align: number;
}

/**
 * Decode a ring straight from shared memory, for diagnosis (`amp vring dump`).
 * Read-only; every read stays inside the ring. Hostile content never makes it
 * throw: values are reported as found, and in-flight entries whose head is out
 * of range have `addr`, `len`, `flags` and `next` set to -1. The in-flight list
 * covers the avail entries from `used.idx` to `avail.idx` (at most `num`).
 *
 * @throws {VirtioError} for invalid geometry; {@linkcode MemoryBoundsError}
 *   `VQ_RING_OUTSIDE` when the ring is not inside `region`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readVringSnapshot } from "./virtqueue.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const r = heapRegion(0x1000_0000, 0x4000);
 * r.setU16(0x1000_0000 + 16 * 4 + 2, 1); // avail.idx = 1 (avail ring after 4 descriptors)
 * const s = readVringSnapshot(r, { pa: 0x1000_0000, num: 4, align: 16 });
 * assert(s.availIdx === 1 && s.inFlight.length === 1 && s.inFlight[0]!.head === 0);
 * ```
 */
export function readVringSnapshot(
  region: MemoryRegion,
  geometry: VringGeometry,
  broken: VirtioError | null = null,
): VirtqueueSnapshot {
  const { pa, num, align } = geometry;
  const name = geometry.name ?? `vring@${hex(pa)}`;
  checkGeometry(name, num, align, pa);
  const l = vringLayout(num, align, pa);
  if (!region.contains(pa, l.size)) {
    throw new MemoryBoundsError(
      "VQ_RING_OUTSIDE",
      `${name}: ring [${hex(pa)}, +${hex(l.size)}) is outside region ${region.name} [${
        hex(region.base)
      }, +${hex(region.size)})`,
    );
  }
  const availFlags = region.u16(pa + l.avail);
  const availIdx = region.u16(pa + l.avail + 2);
  const usedFlags = region.u16(pa + l.used);
  const usedIdx = region.u16(pa + l.used + 2);
  const inFlight: VirtqueueSnapshot["inFlight"] = [];
  const n = Math.min((availIdx - usedIdx) & 0xffff, num);
  for (let k = 0; k < n; k++) {
    const slot = (usedIdx + k) & (num - 1);
    const head = region.u16(pa + l.avail + 4 + 2 * slot);
    if (head >= num) {
      inFlight.push({ head, addr: -1, len: -1, flags: -1, next: -1 });
      continue;
    }
    const d = pa + l.desc + 16 * head;
    inFlight.push({
      head,
      addr: region.u32(d + 4) * TWO32 + region.u32(d),
      len: region.u32(d + 8),
      flags: region.u16(d + 12),
      next: region.u16(d + 14),
    });
  }
  return {
    name,
    pa,
    num,
    align,
    availFlags,
    availIdx,
    usedFlags,
    usedIdx,
    inFlight,
    broken: broken === null ? null : `${broken.code}: ${broken.message}`,
  };
}

/**
 * The ring core shared by the two ends of a split virtqueue: geometry, the
 * zero-copy views of the ring, the broken state, this side's notification
 * flags, and the snapshot. The operations of each end live in its class:
 * {@linkcode DriverQueue} (`driver_queue.ts`) and {@linkcode DeviceQueue}
 * (`device_queue.ts`), so a driver operation on a device queue does not
 * compile. Code that serves both ends (dumps, error handling) takes a
 * `Virtqueue`.
 *
 * Every operation of a broken queue throws the error that broke it, until
 * {@linkcode reset}; every operation on a closed region throws `VQ_CLOSED`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Virtqueue } from "./virtqueue.ts";
 * import { DriverQueue } from "./driver_queue.ts";
 * import { DeviceQueue } from "./device_queue.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const shm = heapRegion(0x9000_0000, 0x4000);
 * const o = { pa: 0x9000_0000, num: 8, align: 0x1000 };
 * const ends: Virtqueue[] = [new DriverQueue(shm, o), new DeviceQueue(shm, o)];
 * assert.deepEqual(ends.map((q) => [q.role, q.broken, q.snapshot().availIdx]), [
 *   ["driver", null, 0],
 *   ["device", null, 0],
 * ]);
 * ```
 */
export abstract class Virtqueue {
  /** Name used in errors and snapshots. */
  readonly name: string;
  /** This side's role. */
  abstract readonly role: VirtqueueRole;
  /** Physical address of the descriptor table. */
  readonly pa: number;
  /** Number of entries. */
  readonly num: number;
  /** Used ring alignment. */
  readonly align: number;
  /** Byte offsets of the ring parts from {@linkcode pa}. */
  readonly layout: VringLayout;

  /** The region holding the ring. */
  protected readonly region: MemoryRegion;
  /** Zero-copy u16 view of the whole ring (length 0 once the region is closed). */
  protected readonly u16: Uint16Array;
  /** Zero-copy u32 view of the whole ring. */
  protected readonly u32: Uint32Array;
  /** `num - 1`: a free-running index masked to a slot. */
  protected readonly mask: number;
  /** u16 index of avail.flags. */
  protected readonly availFlagsI: number;
  /** u16 index of avail.idx. */
  protected readonly availIdxI: number;
  /** u16 index of avail.ring[0]. */
  protected readonly availRingI: number;
  /** u16 index of avail.used_event (the last driver-owned word). */
  protected readonly usedEventI: number;
  /** u16 index of used.flags. */
  protected readonly usedFlagsI: number;
  /** u16 index of used.idx. */
  protected readonly usedIdxI: number;
  /** u32 index of used.ring[0].id. */
  protected readonly usedRingI: number;

  #broken: VirtioError | null = null;
  #flags = 0; // shadow of this side's flags word
  #off = false; // disableNotifications is in effect
  #held = false; // holdNotifications is in effect
  readonly #ownFlagsI: number;
  readonly #ownFlagBit: number;
  readonly #peerFlagsI: number;
  readonly #peerFlagBit: number;

  /**
   * Validate the ring `[options.pa, +vringLayout(num, align, pa).size)` of
   * `region` and take views of it. The subclass initialises its own part
   * (its `reset()`) once its fields exist.
   *
   * @throws {VirtioError} `VQ_BAD_NUM`, `VQ_BAD_ALIGN`, `VQ_BAD_PA`,
   *   `VQ_MISALIGNED` (`pa` not 16-byte aligned, or the used ring or the
   *   backing buffer offset not 4-byte aligned), `VQ_BYTE_ORDER` (the region's
   *   byte order is not the host's), `VQ_READ_ONLY` (a read-only region).
   * @throws {MemoryBoundsError} `VQ_RING_OUTSIDE` when the ring does not fit the region.
   */
  protected constructor(region: MemoryRegion, options: VirtqueueOptions, role: VirtqueueRole) {
    const { pa, num, align } = options;
    const name = options.name ?? `vring@${hex(pa)}`;
    checkGeometry(name, num, align, pa);
    const l = vringLayout(num, align, pa);
    if (!region.contains(pa, l.size)) {
      throw new MemoryBoundsError(
        "VQ_RING_OUTSIDE",
        `${name}: ring [${hex(pa)}, +${hex(l.size)}) is outside region ${region.name} [${
          hex(region.base)
        }, +${hex(region.size)})`,
      );
    }
    if (region.littleEndian !== HOST_LE) {
      throw new VirtioError(
        "VQ_BYTE_ORDER",
        `${name}: region ${region.name} is ${
          region.littleEndian ? "little" : "big"
        }-endian, the host is not; such rings are not supported`,
      );
    }
    if (region.readOnly) {
      throw new VirtioError("VQ_READ_ONLY", `${name}: region ${region.name} is read-only`);
    }
    const bytes = region.bytes(pa, l.size);
    if (pa % 16 !== 0 || (bytes.byteOffset & 3) !== 0 || (l.used & 3) !== 0) {
      throw new VirtioError(
        "VQ_MISALIGNED",
        `${name}: ring at ${hex(pa)} (buffer offset ${bytes.byteOffset}, used ring +${
          hex(l.used)
        }) is not aligned (descriptor table 16 bytes, used ring 4 bytes)`,
      );
    }
    this.name = name;
    this.pa = pa;
    this.num = num;
    this.align = align;
    this.layout = l;
    this.region = region;
    this.u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, l.size >>> 1);
    this.u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, l.size >>> 2);
    this.mask = num - 1;
    this.availFlagsI = l.avail >>> 1;
    this.availIdxI = this.availFlagsI + 1;
    this.availRingI = this.availFlagsI + 2;
    this.usedEventI = this.availRingI + num;
    this.usedFlagsI = l.used >>> 1;
    this.usedIdxI = this.usedFlagsI + 1;
    this.usedRingI = (l.used >>> 2) + 1;
    // The driver writes avail.flags (NO_INTERRUPT) and reads used.flags
    // (NO_NOTIFY); the device the reverse.
    const driver = role === "driver";
    this.#ownFlagsI = driver ? this.availFlagsI : this.usedFlagsI;
    this.#ownFlagBit = driver ? VRING_AVAIL_F_NO_INTERRUPT : VRING_USED_F_NO_NOTIFY;
    this.#peerFlagsI = driver ? this.usedFlagsI : this.availFlagsI;
    this.#peerFlagBit = driver ? VRING_USED_F_NO_NOTIFY : VRING_AVAIL_F_NO_INTERRUPT;
  }

  /** The error that broke the queue, or null. Once set, every call throws it again. */
  get broken(): VirtioError | null {
    return this.#broken;
  }

  /** Start of every operation: rethrow the breaking error; `VQ_CLOSED` on a closed region. */
  protected enter(): void {
    if (this.#broken !== null) throw this.#broken;
    if (this.u16.length === 0) this.#closedError();
  }

  #closedError(): never {
    throw new VirtioError("VQ_CLOSED", `${this.name}: region ${this.region.name} is closed`);
  }

  /** The peer broke the protocol: keep `code` as the queue's error and throw it. */
  protected fail(code: VirtioErrorCode, message: string): never {
    const e = new VirtioError(code, `${this.name}: ${message}; queue broken until reset`);
    this.#broken = e;
    throw e;
  }

  /**
   * Acquire-load the peer's index at u16 slot `i` (avail.idx or used.idx,
   * named `field`) and check it against `last`, the entries taken so far: it
   * may be at most `num` ahead, or `code` breaks the queue.
   */
  protected loadPeerIdx(i: number, last: number, field: string, code: VirtioErrorCode): number {
    const idx = Atomics.load(this.u16, i);
    const pending = (idx - last) & 0xffff;
    if (pending > this.num) {
      this.fail(
        code,
        `${field} ${idx} is ${pending} entries past the last seen ${last} (num ${this.num})`,
      );
    }
    return idx;
  }

  /** A local mistake: throw `VQ_BAD_ARG` without breaking the queue. */
  protected badArg(message: string): never {
    throw new VirtioError("VQ_BAD_ARG", `${this.name}: ${message}`);
  }

  /**
   * True when the peer has not suppressed notifications: for the driver,
   * used.flags lacks NO_NOTIFY; for the device, avail.flags lacks
   * NO_INTERRUPT. Call it after publishing.
   */
  kickNeeded(): boolean {
    this.enter();
    return (Atomics.load(this.u16, this.#peerFlagsI) & this.#peerFlagBit) === 0;
  }

  /** Ask the peer not to kick this side (driver: avail NO_INTERRUPT; device: used NO_NOTIFY). */
  disableNotifications(): void {
    this.enter();
    this.#off = true;
    this.#applyFlag();
  }

  /** Undo {@linkcode disableNotifications} (the flag stays set while {@linkcode held}). */
  enableNotifications(): void {
    this.enter();
    this.#off = false;
    this.#applyFlag();
  }

  /**
   * Keep the peer's kicks off (`true`) through any disable/enable pair until
   * released (`false`): for a side that looks at the ring itself for a while.
   * After releasing, look at the ring once more before waiting for a kick.
   * A broken queue is left as it is.
   */
  holdNotifications(on: boolean): void {
    if (this.#broken !== null || on === this.#held) return;
    this.enter();
    this.#held = on;
    this.#applyFlag();
  }

  /** True while {@linkcode holdNotifications} keeps the peer's kicks off. */
  get held(): boolean {
    return this.#held;
  }

  #applyFlag(): void {
    const bit = this.#ownFlagBit;
    this.#setFlags(this.#off || this.#held ? this.#flags | bit : this.#flags & ~bit);
  }

  #setFlags(f: number): void {
    if (f === this.#flags) return; // only this side writes its flags word
    this.#flags = f;
    Atomics.store(this.u16, this.#ownFlagsI, f);
  }

  /**
   * Forget all state, clear `broken`, and re-initialise this side's part of
   * the ring (see the role's `clearOwnPart`). Both ends must reset together
   * (the vdev status handshake orders that).
   */
  reset(): void {
    if (this.u16.length === 0) this.#closedError();
    this.#broken = null;
    this.#flags = 0;
    this.#off = false;
    this.#held = false;
    this.clearOwnPart();
  }

  /** Zero this side's part of the ring and forget this side's state (from {@linkcode reset}). */
  protected abstract clearOwnPart(): void;

  /** Decode the ring from shared memory for diagnosis; see {@linkcode readVringSnapshot}. */
  snapshot(): VirtqueueSnapshot {
    return readVringSnapshot(
      this.region,
      { name: this.name, pa: this.pa, num: this.num, align: this.align },
      this.#broken,
    );
  }
}
