/**
 * The contract of a split virtqueue (openamp-wire.md section 3), shared by the
 * implementation in `virtqueue.ts` and its users (rpmsg, `amp vring dump`).
 *
 * The fast path is allocation-free: calls return a descriptor head id (or -1)
 * and put the details in reused fields (`lastLen`, `lastToken`, `chain`).
 *
 * @module
 */

import type { VirtioError } from "../errors.ts";

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

/** Options for creating a queue over a memory region. */
export interface VirtqueueOptions {
  /** Name for errors and dumps, e.g. `"vring0"`. */
  name?: string;
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries: a power of two, 1..32768. */
  num: number;
  /** Alignment of the used ring: a power of two (usually 0x1000). */
  align: number;
  /** Which end this object drives. */
  role: VirtqueueRole;
  /**
   * Device role: every descriptor must lie inside `[base, base + size)` (the
   * buffer pool), else the queue breaks with `VQ_DESC_ADDR`.
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

/** Operations on a split virtqueue. One object serves one role. */
export interface Virtqueue {
  /** Name for errors and dumps. */
  readonly name: string;
  /** Which end this object drives. */
  readonly role: VirtqueueRole;
  /** Physical address of the descriptor table. */
  readonly pa: number;
  /** Entries. */
  readonly num: number;
  /** Used-ring alignment. */
  readonly align: number;
  /** The error that broke the queue, or null. Once set, every call throws it again. */
  readonly broken: VirtioError | null;

  // ---- driver role ----
  /** Free descriptors. */
  readonly numFree: number;
  /**
   * Post one buffer and publish it (release-store of avail.idx).
   * Returns the head id, or -1 when no descriptor is free.
   */
  addBuf(addr: number, len: number, writable: boolean, token?: number): number;
  /** Post a chain of buffers as one element. Returns the head id, or -1 when too few are free. */
  addChain(bufs: readonly VqBuf[], token?: number): number;
  /**
   * Take the next used element. Returns its head id or -1 when none; on success
   * `lastLen` is the used length (checked) and `lastToken` the token given to add.
   */
  getUsed(): number;
  /** True when used.idx moved past what this side consumed (cheap poll). */
  hasUsed(): boolean;

  // ---- device role ----
  /**
   * Take the next available chain. Returns its head id or -1 when none; on
   * success `chain[0..chainLen)` holds private copies of its descriptors.
   */
  getAvail(): number;
  /** True when avail.idx moved past what this side consumed (cheap poll). */
  hasAvail(): boolean;
  /** Return a chain taken by getAvail with the number of bytes written into it. */
  putUsed(head: number, len: number): void;

  // ---- both ----
  /** Used length of the last getUsed. */
  readonly lastLen: number;
  /** Token of the last getUsed. */
  readonly lastToken: number;
  /** Descriptors of the last getAvail (reused array; only `chainLen` entries valid). */
  readonly chain: readonly VqBuf[];
  /** Number of valid entries in {@linkcode chain}. */
  readonly chainLen: number;
  /** True when the peer has not suppressed notifications for what this side just did. */
  kickNeeded(): boolean;
  /** Ask the peer not to kick this side (driver: avail NO_INTERRUPT; device: used NO_NOTIFY). */
  disableNotifications(): void;
  /** Undo {@linkcode disableNotifications}. */
  enableNotifications(): void;
  /** Forget all state and re-initialise this side's part of the ring; clears `broken`. */
  reset(): void;
  /** Read the ring for diagnosis. Never throws on a hostile ring; values are as found. */
  snapshot(): VirtqueueSnapshot;
}
