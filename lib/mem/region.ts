/**
 * A bounded view of one physically contiguous piece of memory.
 *
 * Every accessor takes a *physical address* (as the remote core sees it) and
 * refuses any access that is not entirely inside `[base, base + size)`.
 * Nothing outside the region can be read or written through it.
 *
 * @module
 */

import { AmpError, MemoryBoundsError } from "../errors.ts";

/**
 * Formats a number as `0x...` hex (`-0x...` when negative). Values that are not
 * integers (`NaN`, `1.5`, `Infinity`) are shown as plain numbers, so error
 * messages about bad arguments stay readable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hex } from "./region.ts";
 * assert(hex(0x9010_0000) === "0x90100000");
 * assert(hex(-16) === "-0x10");
 * assert(hex(NaN) === "NaN");
 * ```
 */
export function hex(n: number | bigint): string {
  if (typeof n === "number" && !Number.isInteger(n)) return String(n);
  return n < 0 ? "-0x" + (-n).toString(16) : "0x" + n.toString(16);
}

/** What releases the memory behind a region when it is closed. */
export type ReleaseFn = () => void;

/** Options for {@linkcode MemoryRegion}. */
export interface MemoryRegionOptions {
  /** Name shown in errors, e.g. `"shm"` or `"90100000.shm"`. */
  name?: string;
  /** Byte order of multi-byte fields. Default `true` (little-endian, the wire order). */
  littleEndian?: boolean;
  /** Called once, by the first {@linkcode MemoryRegion.close}. */
  release?: ReleaseFn;
  /**
   * Refuse every write made through the region's accessors (`MEM_READ_ONLY`).
   * Zero-copy views from {@linkcode MemoryRegion.bytes} stay writable at the
   * JS level, so read-only memory that would fault on a write must not be
   * wrapped without a writable (e.g. private copy-on-write) mapping.
   */
  readOnly?: boolean;
}

const MAX_ADDR = Number.MAX_SAFE_INTEGER;

/**
 * Sees every access made through a region's accessors, before it is checked:
 * the region, the physical address, the length and whether it writes. Views
 * handed out by `bytes`/`dataView` are reported once, as the range they cover.
 */
export type AccessObserver = (
  region: MemoryRegion,
  pa: number,
  len: number,
  write: boolean,
) => void;

let observer: AccessObserver | null = null;

/**
 * Fuzz mode of the memory layer: install `o` (or `null` to remove it) as the
 * observer of every region access in this thread, and return the previous
 * one. With no observer (the default) the cost is one comparison per access.
 * The fuzz driver (`tests/fuzz.ts`) uses it to fail a run on any access
 * outside the regions a component was given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion, observeAccesses } from "./region.ts";
 * const r = heapRegion(0x1000, 0x100);
 * const seen: string[] = [];
 * const prev = observeAccesses((_r, pa, len, w) => seen.push(`${w ? "w" : "r"} ${pa}+${len}`));
 * r.setU32(0x1010, 1);
 * r.u8(0x1010);
 * assert.throws(() => r.u32(0x10fe)); // out of bounds: observed, then refused
 * observeAccesses(prev);
 * assert.deepEqual(seen, ["w 4112+4", "r 4112+1", "r 4350+4"]);
 * ```
 */
export function observeAccesses(o: AccessObserver | null): AccessObserver | null {
  const prev = observer;
  observer = o;
  return prev;
}
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface State {
  buffer: ArrayBufferLike;
  bytes: Uint8Array;
  view: DataView;
  u16: Uint16Array;
  u32: Uint32Array;
  release: ReleaseFn | undefined;
  closed: boolean;
  children: Set<MemoryRegion>;
  /** The parent's child set, so a child closed on its own is forgotten by its parent. */
  siblings: Set<MemoryRegion> | undefined;
}

/**
 * A bounded memory region with a physical base address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegion } from "./region.ts";
 * const r = new MemoryRegion(0x9010_0000, new ArrayBuffer(0x1000), { name: "shm" });
 * r.setU32(0x9010_0010, 0xdeadbeef);
 * assert(r.u32(0x9010_0010) === 0xdeadbeef);
 * r.close();
 * ```
 */
export class MemoryRegion {
  /** Name used in error messages. */
  readonly name: string;
  /** Physical address of the first byte. */
  readonly base: number;
  /** Size in bytes. */
  readonly size: number;
  /** Byte order of multi-byte accessors. */
  readonly littleEndian: boolean;
  /** True when writes through the accessors are refused. */
  readonly readOnly: boolean;
  #s: State;
  #off: number; // byte offset of `base` inside the backing buffer

  /**
   * Wrap `buffer[byteOffset, byteOffset + size)` as physical `[base, base + size)`.
   * `size` defaults to the rest of the buffer.
   */
  constructor(
    base: number,
    buffer: ArrayBufferLike,
    options: MemoryRegionOptions = {},
    byteOffset = 0,
    size?: number,
  ) {
    const len = size ?? buffer.byteLength - byteOffset;
    if (!Number.isSafeInteger(base) || base < 0) {
      throw new MemoryBoundsError("MEM_BAD_BASE", `Region base ${base} is not a valid address`);
    }
    if (
      !Number.isSafeInteger(byteOffset) || byteOffset < 0 || !Number.isSafeInteger(len) ||
      len < 0 || byteOffset + len > buffer.byteLength
    ) {
      throw new MemoryBoundsError(
        "MEM_BAD_SIZE",
        `Region size ${len} at offset ${byteOffset} does not fit a ${buffer.byteLength}-byte buffer`,
      );
    }
    if (len > MAX_ADDR - base) {
      throw new MemoryBoundsError(
        "MEM_WRAP",
        `Region [${hex(base)}, +${hex(len)}) ends past ${hex(MAX_ADDR)}, the largest exact address`,
      );
    }
    this.name = options.name ?? `mem@${hex(base)}`;
    this.base = base;
    this.size = len;
    this.littleEndian = options.littleEndian ?? true;
    this.readOnly = options.readOnly ?? false;
    this.#off = byteOffset;
    this.#s = {
      buffer,
      bytes: new Uint8Array(buffer),
      view: new DataView(buffer),
      u16: new Uint16Array(buffer, 0, buffer.byteLength >>> 1),
      u32: new Uint32Array(buffer, 0, buffer.byteLength >>> 2),
      release: options.release,
      closed: false,
      children: new Set(),
      siblings: undefined,
    };
  }

  /** One past the last physical address. */
  get end(): number {
    return this.base + this.size;
  }

  /** True once {@linkcode close} ran (on this region or on its parent). */
  get closed(): boolean {
    return this.#s.closed;
  }

  /** True when `[pa, pa + len)` lies entirely inside the region. Overflow-safe. */
  contains(pa: number, len = 1): boolean {
    return Number.isSafeInteger(pa) && Number.isSafeInteger(len) && len >= 0 &&
      pa >= this.base && pa <= this.base + this.size && len <= this.base + this.size - pa;
  }

  /**
   * Translate a physical address to a byte offset from the region's start,
   * rejecting any access that is not entirely inside the region.
   */
  offsetOf(pa: number, len = 1): number {
    if (this.#s.closed) this.#closedError();
    if (!this.contains(pa, len)) {
      throw new MemoryBoundsError(
        "MEM_OUT_OF_BOUNDS",
        `Access [${hex(pa)}, +${hex(len)}) is outside region ${this.name} [${hex(this.base)}, +${
          hex(this.size)
        })`,
      );
    }
    return pa - this.base;
  }

  #at(pa: number, len: number): number {
    if (observer !== null) observer(this, pa, len, false);
    return this.#off + this.offsetOf(pa, len);
  }

  /** Like `#at` for writes: also refuses read-only regions. */
  #wat(pa: number, len: number): number {
    if (observer !== null) observer(this, pa, len, true);
    if (this.readOnly && !this.#s.closed) {
      throw new AmpError(
        "MEM_READ_ONLY",
        `Write [${hex(pa)}, +${hex(len)}) refused: region ${this.name} is read-only`,
      );
    }
    return this.#off + this.offsetOf(pa, len);
  }

  #closedError(): never {
    throw new AmpError("MEM_CLOSED", `Region ${this.name} is closed`);
  }

  /** Read a u8. */
  u8(pa: number): number {
    return this.#s.bytes[this.#at(pa, 1)]!;
  }
  /** Read a u16 in the region's byte order. */
  u16(pa: number): number {
    return this.#s.view.getUint16(this.#at(pa, 2), this.littleEndian);
  }
  /** Read a u32 in the region's byte order. */
  u32(pa: number): number {
    return this.#s.view.getUint32(this.#at(pa, 4), this.littleEndian);
  }
  /** Read a u64 in the region's byte order. */
  u64(pa: number): bigint {
    return this.#s.view.getBigUint64(this.#at(pa, 8), this.littleEndian);
  }
  /**
   * Read a u64 that must be usable as a JS number (an address or a length).
   * Throws `MEM_U64_UNSAFE` when it exceeds `Number.MAX_SAFE_INTEGER`.
   */
  u64Number(pa: number): number {
    const v = this.u64(pa);
    if (v > BigInt(MAX_ADDR)) {
      throw new MemoryBoundsError(
        "MEM_U64_UNSAFE",
        `u64 ${hex(v)} at ${hex(pa)} in region ${this.name} exceeds ${hex(MAX_ADDR)}`,
      );
    }
    return Number(v);
  }
  /** Write a u8 (value masked to 8 bits). */
  setU8(pa: number, v: number): void {
    this.#s.bytes[this.#wat(pa, 1)] = v;
  }
  /** Write a u16 (value masked to 16 bits). */
  setU16(pa: number, v: number): void {
    this.#s.view.setUint16(this.#wat(pa, 2), v, this.littleEndian);
  }
  /** Write a u32 (value masked to 32 bits). */
  setU32(pa: number, v: number): void {
    this.#s.view.setUint32(this.#wat(pa, 4), v, this.littleEndian);
  }
  /** Write a u64. */
  setU64(pa: number, v: bigint): void {
    this.#s.view.setBigUint64(this.#wat(pa, 8), BigInt.asUintN(64, v), this.littleEndian);
  }

  /** Copy `len` bytes out of the region into a new array. */
  read(pa: number, len: number): Uint8Array {
    const o = this.#at(pa, len);
    return this.#s.bytes.slice(o, o + len);
  }
  /** Copy `dst.length` bytes starting at `pa` into `dst`. */
  readInto(pa: number, dst: Uint8Array): void {
    const o = this.#at(pa, dst.length);
    dst.set(this.#s.bytes.subarray(o, o + dst.length));
  }
  /** Copy `src` into the region at `pa`. */
  write(pa: number, src: Uint8Array): void {
    const o = this.#wat(pa, src.length);
    this.#s.bytes.set(src, o);
  }
  /** Fill `[pa, pa + len)` with `value`. */
  fill(pa: number, len: number, value = 0): void {
    const o = this.#wat(pa, len);
    this.#s.bytes.fill(value, o, o + len);
  }

  /**
   * A zero-copy byte view of `[pa, pa + len)`. It stays valid until the region
   * closes; after that it is detached (length 0), never dangling.
   */
  bytes(pa: number, len: number): Uint8Array {
    const o = this.#at(pa, len);
    return this.#s.bytes.subarray(o, o + len);
  }
  /** A zero-copy `DataView` of `[pa, pa + len)`, same lifetime rules as {@linkcode bytes}. */
  dataView(pa: number, len: number): DataView {
    const o = this.#at(pa, len);
    return new DataView(this.#s.buffer, o, len);
  }

  /**
   * Acquire-load a naturally aligned u16. Atomics use the host byte order, so
   * a region whose byte order differs refuses them (`MEM_ATOMIC_BYTE_ORDER`).
   */
  atomicLoadU16(pa: number): number {
    const o = this.#atomicAt(pa, 2, false);
    return Atomics.load(this.#s.u16, o >>> 1);
  }
  /** Release-store a naturally aligned u16 (value masked to 16 bits). */
  atomicStoreU16(pa: number, v: number): void {
    const o = this.#atomicAt(pa, 2, true);
    Atomics.store(this.#s.u16, o >>> 1, v);
  }
  /** Acquire-load a naturally aligned u32. */
  atomicLoadU32(pa: number): number {
    const o = this.#atomicAt(pa, 4, false);
    return Atomics.load(this.#s.u32, o >>> 2);
  }
  /** Release-store a naturally aligned u32 (value masked to 32 bits). */
  atomicStoreU32(pa: number, v: number): void {
    const o = this.#atomicAt(pa, 4, true);
    Atomics.store(this.#s.u32, o >>> 2, v);
  }

  /** Buffer offset of an atomic access: in bounds, aligned in memory and by address. */
  #atomicAt(pa: number, n: number, write: boolean): number {
    const o = write ? this.#wat(pa, n) : this.#at(pa, n);
    if (this.littleEndian !== HOST_LITTLE_ENDIAN) {
      throw new AmpError(
        "MEM_ATOMIC_BYTE_ORDER",
        `Atomic access at ${
          hex(pa)
        } in region ${this.name}: region byte order differs from the host's`,
      );
    }
    // Both the address the peer sees and the host memory location must be aligned.
    if ((o | pa) & (n - 1)) {
      throw new MemoryBoundsError(
        "MEM_MISALIGNED",
        `Atomic ${n * 8}-bit access at ${hex(pa)} in region ${this.name} is not ${n}-byte aligned`,
      );
    }
    return o;
  }

  /**
   * A region for `[pa, pa + size)` sharing this one's memory. It closes with
   * its parent; closing the child alone only makes the child unusable.
   */
  sub(pa: number, size: number, name?: string): MemoryRegion {
    const o = this.#at(pa, size);
    const child = new MemoryRegion(
      pa,
      this.#s.buffer,
      {
        name: name ?? `${this.name}[${hex(pa)}]`,
        littleEndian: this.littleEndian,
        readOnly: this.readOnly,
      },
      o,
      size,
    );
    this.#s.children.add(child);
    child.#s.siblings = this.#s.children;
    return child;
  }

  /**
   * Release the memory (unmap, close the file). Views handed out earlier are
   * detached first so they can never touch unmapped memory. A second close is
   * harmless.
   */
  close(): void {
    const s = this.#s;
    if (s.closed) return;
    s.closed = true;
    s.siblings?.delete(this);
    s.siblings = undefined;
    for (const c of [...s.children]) c.close();
    s.children.clear();
    const release = s.release;
    s.release = undefined;
    if (release) {
      // Detach every view (typed arrays and DataViews) before the memory goes away.
      const buf = s.buffer;
      if (buf instanceof ArrayBuffer && !buf.detached) buf.transfer(0);
      release();
    }
  }

  /** `close()` for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A region backed by fresh zeroed heap memory (an `ArrayBuffer`, or a
 * `SharedArrayBuffer` when `shared` is true so workers can see it).
 * Closing a non-shared heap region detaches the views it handed out, like an
 * mmap-backed region does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion } from "./region.ts";
 * const r = heapRegion(0x8000_0000, 4096, { name: "ram" });
 * r.fill(0x8000_0000, 16, 0xa5);
 * assert(r.u8(0x8000_000f) === 0xa5);
 * ```
 */
export function heapRegion(
  base: number,
  size: number,
  options: MemoryRegionOptions & { shared?: boolean } = {},
): MemoryRegion {
  if (!Number.isSafeInteger(size) || size < 0 || size > 0x4000_0000 * 4) {
    throw new MemoryBoundsError("MEM_BAD_SIZE", `Heap region size ${size} is not allowed`);
  }
  const buf = options.shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
  const { shared: _shared, ...rest } = options;
  return new MemoryRegion(base, buf, { release: () => {}, ...rest });
}
