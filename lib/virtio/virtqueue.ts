/**
 * A split virtqueue over shared memory (openamp-wire.md section 3), usable as
 * the virtio driver (the rpmsg host) or as the device (the remote).
 *
 * Design:
 * - The geometry is validated once; the queue then keeps one zero-copy
 *   `Uint16Array` and one `Uint32Array` over the ring bytes and uses direct
 *   offsets, with no per-access bounds check. Indices are published with
 *   `Atomics.store` after plain stores of the descriptors and ring slots, and
 *   the peer's index is read with `Atomics.load` before its slots.
 * - Everything this side writes has a private shadow (descriptor fields, the
 *   published index, the flags word, which heads are posted or in flight).
 *   Decisions never read this side's own fields back from shared memory.
 * - Everything the peer writes is checked (see the `VQ_*` codes below). A
 *   failed check breaks the queue: {@linkcode SplitVirtqueue.broken} holds the
 *   error and every later operation throws that same error until
 *   {@linkcode SplitVirtqueue.reset}.
 *
 * Ownership of the ring bytes: the driver owns the descriptor table and the
 * avail ring (flags, idx, ring, used_event); the device owns the used ring
 * (flags, idx, elements, avail_event). Construction and `reset()` initialise
 * exactly the part this side owns.
 *
 * @module
 */

import { MemoryBoundsError, VirtioError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import {
  type Virtqueue,
  type VirtqueueOptions,
  type VirtqueueRole,
  type VirtqueueSnapshot,
  type VqBuf,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
  type VringLayout,
} from "./types.ts";

/** Largest queue size a split virtqueue allows. */
export const VRING_MAX_NUM = 32768;
/** Largest `align` accepted (the vdev field is a u32). */
export const VRING_MAX_ALIGN = 0x8000_0000;

const TWO32 = 4294967296;
/** High words at or above this make a 64-bit address exceed `Number.MAX_SAFE_INTEGER`. */
const SAFE_HI_LIMIT = 0x20_0000;
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
 * A split virtqueue in shared memory, as driver or as device.
 *
 * Peer violations break the queue with these codes: driver side
 * `VQ_USED_IDX_JUMP`, `VQ_USED_ID_RANGE`, `VQ_USED_ID_NOT_POSTED` (also for an
 * id returned twice), `VQ_USED_LEN`; device side `VQ_AVAIL_IDX_JUMP`,
 * `VQ_AVAIL_HEAD_RANGE`, `VQ_AVAIL_HEAD_IN_FLIGHT`, `VQ_DESC_LOOP`,
 * `VQ_DESC_NEXT_RANGE`, `VQ_DESC_INDIRECT`, `VQ_DESC_ADDR`.
 *
 * Local mistakes throw a {@linkcode VirtioError} but leave the queue usable
 * (nothing was written): `VQ_BAD_ARG` (bad address, length or chain),
 * `VQ_WRONG_ROLE` (a driver call on a device queue or the reverse),
 * `VQ_PUT_NOT_IN_FLIGHT` (putUsed of a head getAvail did not hand out, or
 * handed out and already returned), `VQ_PUT_LEN` (putUsed length larger than
 * the chain). A closed region gives `VQ_CLOSED`.
 *
 * Used lengths: for a chain with at least one device-writable descriptor,
 * `lastLen` is the used length after checking it against the writable total;
 * for a chain the device only reads, the reported length is ignored (old
 * OpenAMP remotes report the full buffer length there) and `lastLen` is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SplitVirtqueue } from "./virtqueue.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const shm = heapRegion(0x9000_0000, 0x4000);
 * const drv = new SplitVirtqueue(shm, { pa: 0x9000_0000, num: 8, align: 0x1000, role: "driver" });
 * const dev = new SplitVirtqueue(shm, { pa: 0x9000_0000, num: 8, align: 0x1000, role: "device" });
 * const head = drv.addBuf(0x9000_3000, 512, true, 42);
 * assert(dev.getAvail() === head && dev.chain[0]!.len === 512);
 * dev.putUsed(head, 100);
 * assert(drv.getUsed() === head && drv.lastLen === 100 && drv.lastToken === 42);
 * assert(drv.getUsed() === -1);
 * ```
 */
export class SplitVirtqueue implements Virtqueue {
  /** Name used in errors and snapshots. */
  readonly name: string;
  /** This side's role. */
  readonly role: VirtqueueRole;
  /** Physical address of the descriptor table. */
  readonly pa: number;
  /** Number of entries. */
  readonly num: number;
  /** Used ring alignment. */
  readonly align: number;
  /** Byte offsets of the ring parts from {@linkcode pa}. */
  readonly layout: VringLayout;

  #region: MemoryRegion;
  #u16: Uint16Array;
  #u32: Uint32Array;
  #mask: number;
  #driver: boolean;
  #availFlagsI: number; // u16 index of avail.flags
  #availIdxI: number; // u16 index of avail.idx
  #availRingI: number; // u16 index of avail.ring[0]
  #usedEventI: number; // u16 index of avail.used_event
  #usedFlagsI: number; // u16 index of used.flags
  #usedIdxI: number; // u16 index of used.idx
  #usedRingI: number; // u32 index of used.ring[0].id
  #bufBase: number;
  #bufSize: number;
  #checkRange: boolean;

  #broken: VirtioError | null = null;
  #flags = 0; // shadow of this side's flags word
  #lastLen = 0;
  #lastToken = 0;
  #chain: VqBuf[] = [];
  #chainLen = 0;

  // driver state
  #availIdx = 0; // shadow of the avail.idx this side published
  #lastUsed = 0; // used entries consumed
  #freeHead = 0;
  #numFree = 0;
  #link: Uint16Array; // free-list links
  #sAddr: Float64Array; // shadows of the descriptors this side wrote
  #sLen: Uint32Array;
  #sFlags: Uint16Array;
  #sNext: Uint16Array;
  #posted: Uint8Array; // 1 for a head posted and not yet returned
  #wlen: Float64Array; // device-writable bytes per head, -1 when read-only
  #token: Float64Array;

  // device state
  #lastAvail = 0; // avail entries consumed
  #usedIdx = 0; // shadow of the used.idx this side published
  #inFlight: Uint8Array; // 1 for a head taken and not yet returned
  #total: Float64Array; // chain bytes per head in flight

  /**
   * Create a queue over `[options.pa, +vringLayout(num, align, pa).size)` of
   * `region` and initialise this side's part of the ring (see the module doc).
   *
   * @throws {VirtioError} `VQ_BAD_NUM`, `VQ_BAD_ALIGN`, `VQ_BAD_PA`,
   *   `VQ_BAD_ROLE`, `VQ_BAD_RANGE` (bufferRange), `VQ_MISALIGNED` (`pa` not
   *   16-byte aligned, or the used ring or the backing buffer offset not
   *   4-byte aligned), `VQ_BYTE_ORDER` (the
   *   region's byte order is not the host's), `VQ_READ_ONLY` (a read-only region).
   * @throws {MemoryBoundsError} `VQ_RING_OUTSIDE` when the ring does not fit the region.
   */
  constructor(region: MemoryRegion, options: VirtqueueOptions) {
    const { pa, num, align, role } = options;
    const name = options.name ?? `vring@${hex(pa)}`;
    checkGeometry(name, num, align, pa);
    if (role !== "driver" && role !== "device") {
      throw new VirtioError("VQ_BAD_ROLE", `${name}: role ${String(role)} is not driver or device`);
    }
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
          `${name}: buffer range [${bufBase}, +${bufSize}) is not a valid address range`,
        );
      }
    }

    this.name = name;
    this.role = role;
    this.pa = pa;
    this.num = num;
    this.align = align;
    this.layout = l;
    this.#region = region;
    this.#u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, l.size >>> 1);
    this.#u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, l.size >>> 2);
    this.#mask = num - 1;
    this.#driver = role === "driver";
    this.#availFlagsI = l.avail >>> 1;
    this.#availIdxI = this.#availFlagsI + 1;
    this.#availRingI = this.#availFlagsI + 2;
    this.#usedEventI = this.#availRingI + num;
    this.#usedFlagsI = l.used >>> 1;
    this.#usedIdxI = this.#usedFlagsI + 1;
    this.#usedRingI = (l.used >>> 2) + 1;
    this.#bufBase = bufBase;
    this.#bufSize = bufSize;
    this.#checkRange = range !== undefined;

    const d = this.#driver ? num : 0;
    this.#link = new Uint16Array(d);
    this.#sAddr = new Float64Array(d);
    this.#sLen = new Uint32Array(d);
    this.#sFlags = new Uint16Array(d);
    this.#sNext = new Uint16Array(d);
    this.#posted = new Uint8Array(d);
    this.#wlen = new Float64Array(d);
    this.#token = new Float64Array(d);
    const v = this.#driver ? 0 : num;
    this.#inFlight = new Uint8Array(v);
    this.#total = new Float64Array(v);
    for (let i = 0; i < Math.min(num, 8); i++) {
      this.#chain.push({ addr: 0, len: 0, writable: false });
    }
    this.reset();
  }

  /** The error that broke the queue, or null. */
  get broken(): VirtioError | null {
    return this.#broken;
  }
  /** Driver: descriptors not posted. */
  get numFree(): number {
    return this.#numFree;
  }
  /** Driver: used length of the last {@linkcode getUsed} (0 for read-only chains). */
  get lastLen(): number {
    return this.#lastLen;
  }
  /** Driver: token of the last {@linkcode getUsed}. */
  get lastToken(): number {
    return this.#lastToken;
  }
  /** Device: private copies of the last chain taken (first {@linkcode chainLen} valid). */
  get chain(): readonly VqBuf[] {
    return this.#chain;
  }
  /** Device: descriptors in the last chain taken. */
  get chainLen(): number {
    return this.#chainLen;
  }
  /** Device: chains taken by getAvail and not yet returned. */
  get numInFlight(): number {
    let n = 0;
    for (let i = 0; i < this.#inFlight.length; i++) n += this.#inFlight[i]!;
    return n;
  }

  #enter(driver: boolean, op: string): void {
    if (this.#broken !== null) throw this.#broken;
    if (this.#driver !== driver) {
      throw new VirtioError(
        "VQ_WRONG_ROLE",
        `${this.name}: ${op} is a ${
          driver ? "driver" : "device"
        } operation, this queue is the ${this.role}`,
      );
    }
    if (this.#u16.length === 0) this.#closedError();
  }

  #closedError(): never {
    throw new VirtioError("VQ_CLOSED", `${this.name}: region ${this.#region.name} is closed`);
  }

  #fail(code: string, message: string): never {
    const e = new VirtioError(code, `${this.name}: ${message}; queue broken until reset`);
    this.#broken = e;
    this.#chainLen = 0;
    throw e;
  }

  #badArg(message: string): never {
    throw new VirtioError("VQ_BAD_ARG", `${this.name}: ${message}`);
  }

  #checkBuf(addr: number, len: number): void {
    if (!(addr >= 0 && addr <= Number.MAX_SAFE_INTEGER && Math.floor(addr) === addr)) {
      this.#badArg(`buffer address ${addr} is not a valid physical address`);
    }
    if ((len >>> 0) !== len) this.#badArg(`buffer length ${len} is not a u32`);
  }

  #writeDesc(d: number, addr: number, len: number, flags: number, next: number): void {
    const lo = addr >>> 0;
    const u32 = this.#u32;
    const w = d << 2;
    u32[w] = lo;
    u32[w + 1] = (addr - lo) / TWO32;
    u32[w + 2] = len;
    const u16 = this.#u16;
    const h = d << 3;
    u16[h + 6] = flags;
    u16[h + 7] = next;
    this.#sAddr[d] = addr;
    this.#sLen[d] = len;
    this.#sFlags[d] = flags;
    this.#sNext[d] = next;
  }

  #publish(head: number): void {
    const idx = this.#availIdx;
    const u16 = this.#u16;
    u16[this.#availRingI + (idx & this.#mask)] = head;
    const n = (idx + 1) & 0xffff;
    this.#availIdx = n;
    Atomics.store(u16, this.#availIdxI, n);
  }

  /**
   * Driver: post one buffer and publish it. Returns the head id, or -1 when no
   * descriptor is free. `token` (default: the head id) comes back in `lastToken`.
   */
  addBuf(addr: number, len: number, writable: boolean, token?: number): number {
    this.#enter(true, "addBuf");
    this.#checkBuf(addr, len);
    if (this.#numFree === 0) return -1;
    const d = this.#freeHead;
    this.#freeHead = this.#link[d]!;
    this.#numFree--;
    this.#writeDesc(d, addr, len, writable ? VRING_DESC_F_WRITE : 0, 0);
    this.#posted[d] = 1;
    this.#wlen[d] = writable ? len : -1;
    this.#token[d] = token ?? d;
    this.#publish(d);
    return d;
  }

  /**
   * Driver: post a chain of buffers as one element and publish it. Returns the
   * head id, or -1 when fewer than `bufs.length` descriptors are free.
   */
  addChain(bufs: readonly VqBuf[], token?: number): number {
    this.#enter(true, "addChain");
    const n = bufs.length;
    if (n === 0 || n > this.num) this.#badArg(`chain of ${n} buffers (1..${this.num} allowed)`);
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
    this.#posted[head] = 1;
    this.#wlen[head] = wlen;
    this.#token[head] = token ?? head;
    this.#publish(head);
    return head;
  }

  /** Driver: true when the device returned buffers not yet taken with getUsed. */
  hasUsed(): boolean {
    this.#enter(true, "hasUsed");
    return Atomics.load(this.#u16, this.#usedIdxI) !== this.#lastUsed;
  }

  /**
   * Driver: take the next used element, checking it. Returns its head id or
   * -1 when none; sets `lastLen` and `lastToken`.
   */
  getUsed(): number {
    this.#enter(true, "getUsed");
    const last = this.#lastUsed;
    const usedIdx = Atomics.load(this.#u16, this.#usedIdxI);
    if (usedIdx === last) return -1;
    const num = this.num;
    const pending = (usedIdx - last) & 0xffff;
    if (pending > num) {
      this.#fail(
        "VQ_USED_IDX_JUMP",
        `used.idx ${usedIdx} is ${pending} entries past the last seen ${last} (num ${num})`,
      );
    }
    const e = this.#usedRingI + ((last & this.#mask) << 1);
    const u32 = this.#u32;
    const id = u32[e]!;
    const len = u32[e + 1]!;
    if (id >= num) this.#fail("VQ_USED_ID_RANGE", `used id ${id} >= num ${num}`);
    if (this.#posted[id] === 0) {
      this.#fail("VQ_USED_ID_NOT_POSTED", `used id ${id} is not a buffer posted and pending`);
    }
    const wlen = this.#wlen[id]!;
    if (wlen >= 0) {
      if (len > wlen) {
        this.#fail("VQ_USED_LEN", `used len ${len} for id ${id} > ${wlen} writable bytes posted`);
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

  /** Device: true when the driver posted chains not yet taken with getAvail. */
  hasAvail(): boolean {
    this.#enter(false, "hasAvail");
    return Atomics.load(this.#u16, this.#availIdxI) !== this.#lastAvail;
  }

  /**
   * Device: take the next available chain, checking it. Returns its head id or
   * -1 when none; `chain[0..chainLen)` holds private copies of its descriptors.
   */
  getAvail(): number {
    this.#enter(false, "getAvail");
    const last = this.#lastAvail;
    const u16 = this.#u16;
    const availIdx = Atomics.load(u16, this.#availIdxI);
    if (availIdx === last) return -1;
    const num = this.num;
    const pending = (availIdx - last) & 0xffff;
    if (pending > num) {
      this.#fail(
        "VQ_AVAIL_IDX_JUMP",
        `avail.idx ${availIdx} is ${pending} entries past the last seen ${last} (num ${num})`,
      );
    }
    const head = u16[this.#availRingI + (last & this.#mask)]!;
    if (head >= num) this.#fail("VQ_AVAIL_HEAD_RANGE", `avail head ${head} >= num ${num}`);
    if (this.#inFlight[head] !== 0) {
      this.#fail("VQ_AVAIL_HEAD_IN_FLIGHT", `avail head ${head} is already in flight`);
    }
    const u32 = this.#u32;
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
        this.#fail("VQ_DESC_INDIRECT", `descriptor ${d} (chain ${head}) is indirect`);
      }
      if (hi >= SAFE_HI_LIMIT) {
        this.#fail(
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
        this.#fail(
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
        this.#fail(
          "VQ_DESC_NEXT_RANGE",
          `descriptor ${d} (chain ${head}) next ${next} >= num ${num}`,
        );
      }
      if (n >= num) {
        this.#fail("VQ_DESC_LOOP", `chain ${head} is longer than num ${num} descriptors (a loop)`);
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
   * Device: return a chain taken by getAvail, with the number of bytes written
   * into it, and publish it.
   */
  putUsed(head: number, len: number): void {
    this.#enter(false, "putUsed");
    if (!(head >= 0 && head < this.num && (head | 0) === head) || this.#inFlight[head] === 0) {
      throw new VirtioError(
        "VQ_PUT_NOT_IN_FLIGHT",
        `${this.name}: putUsed(${head}): no chain with that head is in flight`,
      );
    }
    if ((len >>> 0) !== len) this.#badArg(`used length ${len} is not a u32`);
    if (len > this.#total[head]!) {
      throw new VirtioError(
        "VQ_PUT_LEN",
        `${this.name}: putUsed(${head}, ${len}): the chain has only ${this.#total[head]} bytes`,
      );
    }
    const idx = this.#usedIdx;
    const e = this.#usedRingI + ((idx & this.#mask) << 1);
    const u32 = this.#u32;
    u32[e] = head;
    u32[e + 1] = len;
    this.#inFlight[head] = 0;
    const n = (idx + 1) & 0xffff;
    this.#usedIdx = n;
    Atomics.store(this.#u16, this.#usedIdxI, n);
  }

  /**
   * True when the peer has not suppressed notifications: driver side, used.flags
   * lacks NO_NOTIFY; device side, avail.flags lacks NO_INTERRUPT. Call it after
   * publishing.
   */
  kickNeeded(): boolean {
    this.#enter(this.#driver, "kickNeeded");
    return this.#driver
      ? (Atomics.load(this.#u16, this.#usedFlagsI) & VRING_USED_F_NO_NOTIFY) === 0
      : (Atomics.load(this.#u16, this.#availFlagsI) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Ask the peer not to kick this side (driver: avail NO_INTERRUPT; device: used NO_NOTIFY). */
  disableNotifications(): void {
    this.#enter(this.#driver, "disableNotifications");
    this.#setFlags(
      this.#flags | (this.#driver ? VRING_AVAIL_F_NO_INTERRUPT : VRING_USED_F_NO_NOTIFY),
    );
  }

  /** Undo {@linkcode disableNotifications}. */
  enableNotifications(): void {
    this.#enter(this.#driver, "enableNotifications");
    this.#setFlags(
      this.#flags & ~(this.#driver ? VRING_AVAIL_F_NO_INTERRUPT : VRING_USED_F_NO_NOTIFY),
    );
  }

  #setFlags(f: number): void {
    this.#flags = f;
    Atomics.store(this.#u16, this.#driver ? this.#availFlagsI : this.#usedFlagsI, f);
  }

  /**
   * Forget all state, clear `broken`, and re-initialise this side's part of the
   * ring. Driver: zeroes the descriptor table and the avail ring, frees every
   * descriptor, expects used.idx to restart at 0. Device: zeroes the used ring,
   * expects avail.idx to restart at 0. Both ends must reset together (the vdev
   * status handshake orders that).
   */
  reset(): void {
    if (this.#u16.length === 0) this.#closedError();
    const num = this.num;
    const u16 = this.#u16;
    this.#broken = null;
    this.#flags = 0;
    this.#lastLen = 0;
    this.#lastToken = 0;
    this.#chainLen = 0;
    if (this.#driver) {
      u16.fill(0, 0, this.#usedEventI + 1);
      Atomics.store(u16, this.#availIdxI, 0);
      this.#availIdx = 0;
      this.#lastUsed = 0;
      for (let i = 0; i < num; i++) this.#link[i] = i + 1;
      this.#freeHead = 0;
      this.#numFree = num;
      this.#sAddr.fill(0);
      this.#sLen.fill(0);
      this.#sFlags.fill(0);
      this.#sNext.fill(0);
      this.#posted.fill(0);
      this.#wlen.fill(0);
      this.#token.fill(0);
    } else {
      u16.fill(0, this.#usedFlagsI, u16.length);
      Atomics.store(u16, this.#usedIdxI, 0);
      this.#usedIdx = 0;
      this.#lastAvail = 0;
      this.#inFlight.fill(0);
      this.#total.fill(0);
    }
  }

  /** Decode the ring from shared memory for diagnosis; see {@linkcode readVringSnapshot}. */
  snapshot(): VirtqueueSnapshot {
    return readVringSnapshot(
      this.#region,
      { name: this.name, pa: this.pa, num: this.num, align: this.align },
      this.#broken,
    );
  }
}
