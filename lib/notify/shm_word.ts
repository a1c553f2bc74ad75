/**
 * Notification through a polled u32 in shared memory (no interrupt between the
 * two sides), as on the rv64-virt board (machines.md section 1).
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import { waitUntil } from "../util/wait.ts";
import type { Notifier, NotifyWaitOptions } from "./types.ts";

/**
 * How the word is used.
 * - `"counter"`: each kick increments the word; a change means "kicked". Use a
 *   separate word per direction (one writer each).
 * - `"seed"`: as the seed board: a kick writes 1 and nobody clears it, so the
 *   word carries no information; it always counts as pending and waiters must
 *   look at the rings themselves (`until`).
 */
export type ShmWordMode = "counter" | "seed";

/** Options for {@linkcode ShmWordNotifier}. */
export interface ShmWordOptions {
  /** Physical address of the word this side writes to kick the peer (4-byte aligned). */
  notifyPa: number;
  /** Physical address of the word the peer writes (default: `notifyPa`). */
  watchPa?: number;
  /** Word semantics (default `"counter"`). */
  mode?: ShmWordMode;
  /** Microseconds of busy checks before a waiter yields (default 50). */
  spinUs?: number;
  /** Microseconds of yielding before a waiter sleeps in 1 ms steps (default 1000). */
  yieldUs?: number;
  /**
   * Longest sleep step in ms of a wait whose caller is idle (`busyUs: 0`):
   * its steps double from 1 ms up to this (default 8). Nothing wakes a poll
   * word early, so this bounds the first message's latency after idling.
   */
  idleSleepMs?: number;
}

/**
 * A notifier over polled words in a {@linkcode MemoryRegion}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion } from "../mem/region.ts";
 * import { ShmWordNotifier } from "./shm_word.ts";
 * const shm = heapRegion(0x9000_0000, 8);
 * const host = new ShmWordNotifier(shm, { notifyPa: 0x9000_0000, watchPa: 0x9000_0004 });
 * const remote = new ShmWordNotifier(shm, { notifyPa: 0x9000_0004, watchPa: 0x9000_0000 });
 * host.notify(1);
 * assert(remote.pending() && !host.pending());
 * assert(await remote.wait({ deadlineMs: 10 }));
 * assert(!remote.pending());
 * ```
 */
export class ShmWordNotifier implements Notifier {
  /** Word semantics. */
  readonly mode: ShmWordMode;
  /** The word this side writes. */
  readonly notifyPa: number;
  /** The word this side watches. */
  readonly watchPa: number;
  /** Kicks sent by this side. */
  kicksSent = 0;
  readonly #region: MemoryRegion;
  #counter: number; // private shadow of the value this side last wrote
  #seen: number;
  #closed = false;
  readonly #spinUs: number;
  readonly #yieldUs: number;
  readonly #idleSleepMs: number;
  #until: (() => boolean) | undefined;
  #check: (() => boolean) | undefined;

  /** Watch and kick words inside `region`; throws ConfigError on a bad address. */
  constructor(region: MemoryRegion, options: ShmWordOptions) {
    const watchPa = options.watchPa ?? options.notifyPa;
    for (const [what, pa] of [["notifyPa", options.notifyPa], ["watchPa", watchPa]] as const) {
      if (!region.contains(pa, 4) || (pa - region.base) % 4 !== 0) {
        throw new ConfigError(
          "NOTIFY_BAD_WORD",
          `Notify word ${what} ${hex(pa)} is not an aligned u32 inside region ${region.name} [${
            hex(region.base)
          }, +${hex(region.size)})`,
        );
      }
    }
    this.#region = region;
    this.mode = options.mode ?? "counter";
    this.notifyPa = options.notifyPa;
    this.watchPa = watchPa;
    this.#spinUs = options.spinUs ?? 50;
    this.#yieldUs = options.yieldUs ?? 1000;
    this.#idleSleepMs = options.idleSleepMs ?? 8;
    // Start from what is there, so a left-over value from an earlier session
    // is neither a kick for us nor a value our first kick could repeat.
    this.#counter = region.atomicLoadU32(this.notifyPa);
    this.#seen = region.atomicLoadU32(watchPa);
  }

  /** Kick the peer (the id is ignored: one word per direction). */
  notify(_id: number): void {
    if (this.#closed) return;
    this.kicksSent++;
    if (this.mode === "seed") {
      this.#region.atomicStoreU32(this.notifyPa, 1);
    } else {
      this.#counter = (this.#counter + 1) >>> 0;
      this.#region.atomicStoreU32(this.notifyPa, this.#counter);
    }
  }

  /** Counter mode: the watched word changed since the last consuming wait. Seed mode: always true. */
  pending(): boolean {
    if (this.#closed) return false;
    if (this.mode === "seed") return true;
    return this.#region.atomicLoadU32(this.watchPa) !== this.#seen;
  }

  /**
   * Wait for the watched word to change (counter mode) or for `until()` (both
   * modes; seed mode has nothing else to go on).
   */
  wait(options: NotifyWaitOptions): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return waitUntil(this.#checkFor(options.until), {
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      spinUs: this.#spinUs,
      yieldUs: options.busyUs ?? this.#yieldUs,
      sleepMs: 1,
      maxSleepMs: options.busyUs === 0 ? this.#idleSleepMs : 1,
    });
  }

  /** The check of a wait with `until` (kept while waits pass the same one: nothing allocated per wait). */
  #checkFor(until: (() => boolean) | undefined): () => boolean {
    if (this.#check !== undefined && until === this.#until) return this.#check;
    const region = this.#region;
    const pa = this.watchPa;
    const counter = this.mode === "counter";
    this.#until = until;
    this.#check = (): boolean => {
      if (this.#closed) return false;
      if (counter) {
        const v = region.atomicLoadU32(pa);
        if (v !== this.#seen) {
          this.#seen = v;
          return true;
        }
      }
      return until !== undefined && until();
    };
    return this.#check;
  }

  /** Stop: later waits resolve false, kicks are not written. The region stays open. */
  close(): void {
    this.#closed = true;
  }
}
