/**
 * The vocabulary of split virtqueues (openamp-wire.md section 3): descriptor
 * and ring flags, the options of the two queue classes, the ring layout and
 * the snapshot decoded for diagnosis.
 *
 * @module
 */

/** Descriptor flag: the chain continues at `next`. */
export const VRING_DESC_F_NEXT = 1;
/** Descriptor flag: the device writes this buffer. */
export const VRING_DESC_F_WRITE = 2;
/** Descriptor flag: indirect table (not offered by OpenAMP; rejected). */
export const VRING_DESC_F_INDIRECT = 4;
/** avail.flags bit 0: the driver asks not to be kicked when buffers are used. */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** used.flags bit 0: the device asks not to be kicked when buffers are added. */
export const VRING_USED_F_NO_NOTIFY = 1;

/** Which end of the queue this side is. The rpmsg host is the driver. */
export type VirtqueueRole = "driver" | "device";

/** One buffer of a chain. */
export interface VqBuf {
  /** Physical address of the buffer, as the device sees it. */
  addr: number;
  /** Length in bytes. */
  len: number;
  /** True when the device writes the buffer (descriptor flag WRITE). */
  writable: boolean;
}

/** Byte offsets of the parts of a split vring relative to its address. */
export interface VringLayout {
  /** Offset of the descriptor table (always 0). */
  readonly desc: number;
  /** Offset of the avail ring. */
  readonly avail: number;
  /** Offset of the used ring (aligned). */
  readonly used: number;
  /** Total bytes, from the descriptor table to the end of `used.avail_event`. */
  readonly size: number;
}

/** Where a queue is and how it is named: the options of both queue classes. */
export interface VirtqueueOptions {
  /** Name for errors and dumps, e.g. `"vring0"`. */
  name?: string;
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries: a power of two, 1..32768. */
  num: number;
  /** Alignment of the used ring: a power of two (usually 0x1000). */
  align: number;
}

/** Options of a device-role queue: the queue's place plus where buffers may be. */
export interface DeviceQueueOptions extends VirtqueueOptions {
  /**
   * Every descriptor must lie inside `[base, base + size)` (the buffer pool),
   * else the queue breaks with `VQ_DESC_ADDR`.
   */
  bufferRange?: { base: number; size: number };
}

/** Decoded state of a queue read for diagnosis (never used for decisions). */
export interface VirtqueueSnapshot {
  /** Queue name. */
  name: string;
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries. */
  num: number;
  /** Used-ring alignment. */
  align: number;
  /** avail.flags as found. */
  availFlags: number;
  /** avail.idx as found. */
  availIdx: number;
  /** used.flags as found. */
  usedFlags: number;
  /** used.idx as found. */
  usedIdx: number;
  /** Descriptors in flight between the two indices, decoded from shared memory. */
  inFlight: { head: number; addr: number; len: number; flags: number; next: number }[];
  /** Why the queue is broken, or null. */
  broken: string | null;
}
