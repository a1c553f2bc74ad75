/**
 * The contract between amp's vhost-user back-end and the virtio device it
 * serves: the device's side ({@linkcode VhostDevice}), what it is handed
 * when every queue is ready ({@linkcode VhostSession}, {@linkcode VhostQueue}),
 * the server's options and how a front-end connection ended.
 *
 * @module
 */

import type { MemoryRegion } from "../mem/region.ts";
import type { VringFdNotifier } from "./notifier.ts";

/** One ready queue, in guest-physical addresses (the legacy contiguous split layout). */
export interface VhostQueue {
  /** Queue index. */
  index: number;
  /** Entries. */
  num: number;
  /** Descriptor table (guest physical). */
  desc: number;
  /** Avail ring (desc + 16 * num). */
  avail: number;
  /** Used ring. */
  used: number;
  /** The used ring alignment that reproduces this layout from `desc`. */
  align: number;
}

/** What a device gets when every queue is ready. */
export interface VhostSession {
  /** The guest memory (addresses are guest-physical). */
  memory: MemoryRegion;
  /** Features the front-end acknowledged. */
  features: bigint;
  /** The queues, by index. */
  queues: VhostQueue[];
  /** Kicks from the front-end; `notify(i)` interrupts it for queue `i`. */
  notifier: VringFdNotifier;
  /** Give up on this front-end: signal the queue's error descriptor (if any) and disconnect. */
  fail(reason: string, queue?: number): void;
}

/** A virtio device served over vhost-user. */
export interface VhostDevice {
  /** Device-specific feature bits offered (transport bits are added). */
  readonly deviceFeatures: bigint;
  /** Number of queues. */
  readonly numQueues: number;
  /** Config space bytes `[offset, +size)` (default: zeros). */
  readConfig?(offset: number, size: number): Uint8Array;
  /** Every queue is ready: start serving. Throwing refuses the session (the front-end is dropped). */
  start(session: VhostSession): void;
  /** Stop touching the rings and memory; resolves when done. */
  stop(): Promise<void>;
}

/** Options of {@linkcode VhostUserServer.listen}. */
export interface VhostServerOptions {
  /** Progress and error lines. */
  log?: (line: string) => void;
  /** Stop after this many front-end connections have ended (default: serve until closed). */
  maxConnections?: number;
  /**
   * Write each interrupt (call) this many ms after it was asked for, later
   * ones coalescing into it (default 0: at once). For Linux guests whose
   * receive callbacks send from interrupt context, as the kernel's
   * rpmsg_client_sample does: under UML an interrupt that arrives while the
   * guest's own sender still holds virtio_rpmsg's TX mutex (between its kick
   * and the unlock) makes the callback sleep in interrupt context ("BUG:
   * scheduling while atomic") and the guest dies. A reply that fast only
   * comes from a back-end on the same machine; a few ms avoids it.
   */
  callDelayMs?: number;
}

/** A stopped front-end with the reason, for callers and tests. */
export interface VhostConnectionEnd {
  /** Connection number (1 = first). */
  connection: number;
  /** Null for a clean disconnect, else what went wrong. */
  error: string | null;
  /** The error's code (e.g. `VHOST_BAD_SIZE`; `VHOST_DEVICE_FAILED` when the device gave up), or null. */
  code: string | null;
  /** Messages handled. */
  messages: number;
  /** Sessions started on it. */
  sessions: number;
}
