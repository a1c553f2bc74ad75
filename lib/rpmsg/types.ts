/**
 * The vocabulary of an rpmsg bus shared by both roles: counters, the buffer
 * pool, the options of the bus and of its waits and sends, and the handles
 * of zero-copy buffers.
 *
 * @module
 */

import type { MemoryRegion } from "../mem/region.ts";
import type { Notifier } from "../notify/types.ts";
import type { Virtqueue } from "../virtio/virtqueue.ts";

/** Which side of the rpmsg link this is. The host is the virtio driver, the remote the device. */
export type RpmsgRole = "driver" | "device";

/** Traffic counters (per endpoint and per device). */
export interface RpmsgCounters {
  /** Messages received and delivered. */
  rxMessages: number;
  /** Payload bytes received and delivered. */
  rxBytes: number;
  /** Messages sent. */
  txMessages: number;
  /** Payload bytes sent. */
  txBytes: number;
  /** Dropped received messages or buffers, by reason code (e.g. `RPMSG_BAD_HDR_LEN`). */
  drops: Map<string, number>;
}

/** Device-level counters. */
export interface RpmsgDeviceCounters extends RpmsgCounters {
  /** Notifications sent to the peer. */
  kicks: number;
  /** Name-service CREATE messages received and accepted. */
  nsCreate: number;
  /** Name-service DESTROY messages received and accepted. */
  nsDestroy: number;
  /** Re-initialisations (reset) so far. */
  resets: number;
}

/** The buffer pool inside the region. */
export interface RpmsgPool {
  /** Physical address of the first buffer byte. */
  base: number;
  /** Size of the pool in bytes. */
  size: number;
}

/** Options of every rpmsg bus, whatever its role. */
export interface RpmsgDeviceOptions {
  /**
   * vring0 (device -> driver) and vring1 (driver -> device): the ends of
   * this bus's role (each role's options narrow the type).
   */
  vrings: readonly [Virtqueue, Virtqueue];
  /** Shared memory holding the buffer pool. */
  region: MemoryRegion;
  /** The buffer pool: the driver splits it; the device accepts only buffers inside it. */
  pool: RpmsgPool;
  /** Kicks the peer and wakes `run`. */
  notifier: Notifier;
  /** Negotiated virtio features (default: name service on). */
  features?: number;
  /** Notify ids passed to `notifier.notify` for vring0 and vring1 (default [0, 1]). */
  notifyIds?: readonly [number, number];
  /** A name-service CREATE for a name no local endpoint waits for. */
  onBind?: (name: string, addr: number) => void;
  /** A name-service DESTROY for a name no local endpoint was bound to. */
  onUnbind?: (name: string, addr: number) => void;
  /** Where warnings go (rate-limited per reason); default `console.warn`. */
  log?: (message: string) => void;
  /** Number of dynamic addresses from 1024 (default 1024). */
  dynamicAddresses?: number;
  /**
   * After traffic, how long waits (`waitForWork`, `run`) keep spinning and
   * yielding before they sleep, in ms (default 5): back-to-back messages are
   * picked up in µs, an idle bus costs next to no CPU.
   */
  activeWindowMs?: number;
}

/** Options of `RpmsgDevice.waitForWork`. */
export interface RpmsgWaitOptions {
  /** Longest wait in ms. */
  deadlineMs: number;
  /** Stops the wait (resolves false). */
  signal?: AbortSignal;
  /** Extra wake-up condition (cheap, no throw). */
  until?: () => boolean;
}

/** Options of `RpmsgDevice.run`. */
export interface RpmsgRunOptions {
  /** Stops the run loop. */
  signal?: AbortSignal;
  /** Longest single idle wait in ms before looping again (default 100). */
  idleMs?: number;
  /** Checked every round; the loop returns when it is true (e.g. "the host reset the vdev"). */
  stop?: () => boolean;
  /** Extra work done before every poll (e.g. flushing an application queue); returns items handled. */
  onPoll?: () => number;
  /** Extra wake-up condition for idle waits (e.g. "a queued reply can go now"). Cheap, no throw. */
  until?: () => boolean;
}

/** Options for blocking sends. */
export interface RpmsgSendOptions {
  /** How long to retry while no TX buffer is free, in ms (default 15000). */
  deadlineMs?: number;
  /** Abort the retries (the send then fails with RPMSG_NO_BUFFER). */
  signal?: AbortSignal;
}

/** A TX buffer taken with `RpmsgDevice.getTxBuffer`. */
export interface RpmsgTxBuffer {
  /** Zero-copy view of the payload area; write the message here. */
  readonly payload: Uint8Array;
}

/** A received buffer kept past its callback with `RpmsgDevice.holdRx`. */
export interface RpmsgRxHandle {
  /** The message payload (a live view of shared memory, valid until released). */
  readonly data: Uint8Array;
}
