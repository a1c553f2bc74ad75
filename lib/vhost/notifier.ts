/**
 * The {@linkcode Notifier} of a vhost-user device: the front-end kicks
 * through the queues' kick descriptors (eventfds; the vhost-user connection
 * polls them and calls {@linkcode VringFdNotifier.raise}), and the device
 * interrupts the front-end by writing a u64 1 to a queue's call descriptor
 * (an eventfd, or a pipe in UML's case: both take 8-byte writes).
 *
 * @module
 */

import { waitUntil as backoffWait } from "../util/wait.ts";
import type { Notifier, NotifyWaitOptions } from "../notify/types.ts";
import { writeFd } from "../sys/posix.ts";

const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

/**
 * Kicks in, calls out, by queue index (`notify(id)` writes the call
 * descriptor of queue `id`; a queue without one, in poll mode, gets nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VringFdNotifier } from "./notifier.ts";
 * import { closeFd, pipeFds, readFd } from "../sys/posix.ts";
 * const [r, w] = pipeFds();
 * const n = new VringFdNotifier([w, null]);
 * n.notify(0);
 * n.notify(1); // poll mode: nothing to write
 * assert.equal(readFd(r, new Uint8Array(16), "call pipe"), 8);
 * n.raise(1);
 * assert(n.pending() && n.kicksOn(1) === 1 && (await n.wait({ deadlineMs: 0 })));
 * n.close();
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export class VringFdNotifier implements Notifier {
  /** Waits block on an event a kick sets (see {@linkcode Notifier.eventDriven}). */
  readonly eventDriven = true;
  /** Calls written. */
  calls = 0;
  /** Calls not written: the descriptor was full (the front-end had one pending already) or gone. */
  callsDropped = 0;
  /** Kicks seen. */
  kicks = 0;
  readonly #kicksOn: number[] = [];
  readonly #callFds: (number | null)[];
  readonly #delayMs: number;
  readonly #timers = new Map<number, ReturnType<typeof setTimeout>>();
  #kicked = false;
  #closed = false;
  readonly #waiters = new Set<() => void>();

  /**
   * A notifier writing `callFds[i]` for queue `i` (null: no descriptor).
   * Descriptors stay the caller's. With `callDelayMs` > 0 each interrupt is
   * written that long after the first `notify` that asked for it (later ones
   * meanwhile coalesce into it): see `VhostServerOptions.callDelayMs`.
   */
  constructor(callFds: readonly (number | null)[], options: { callDelayMs?: number } = {}) {
    this.#callFds = [...callFds];
    this.#delayMs = Math.max(0, options.callDelayMs ?? 0);
  }

  /** Record a kick from the front-end (on queue `queue` when known) and wake waiters. */
  raise(queue?: number): void {
    if (this.#closed) return;
    this.kicks++;
    if (queue !== undefined) this.#kicksOn[queue] = (this.#kicksOn[queue] ?? 0) + 1;
    this.#kicked = true;
    for (const w of [...this.#waiters]) w();
  }

  /** Kicks seen on queue `queue`. */
  kicksOn(queue: number): number {
    return this.#kicksOn[queue] ?? 0;
  }

  /** Interrupt the front-end for queue `id`. */
  notify(id: number): void {
    if (this.#closed) return;
    if (this.#delayMs > 0) {
      if (this.#timers.has(id)) return;
      this.#timers.set(
        id,
        setTimeout(() => {
          this.#timers.delete(id);
          this.#call(id);
        }, this.#delayMs),
      );
      return;
    }
    this.#call(id);
  }

  #call(id: number): void {
    if (this.#closed) return;
    const fd = this.#callFds[id];
    if (fd === null || fd === undefined) return;
    try {
      if (writeFd(fd, ONE, `call descriptor of queue ${id}`) === 8) this.calls++;
      else this.callsDropped++;
    } catch {
      this.callsDropped++;
    }
  }

  /** True when a kick is waiting. */
  pending(): boolean {
    return this.#kicked;
  }

  /** Wait for a kick or `until()`; see {@linkcode Notifier.wait}. */
  wait(options: NotifyWaitOptions): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    const until = options.until;
    const check = (): boolean => {
      if (this.#closed) return false;
      if (this.#kicked) {
        this.#kicked = false;
        return true;
      }
      return until !== undefined && until();
    };
    return backoffWait(check, {
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      spinUs: until ? 50 : 0,
      yieldUs: until ? options.busyUs ?? 1000 : 0,
      sleepMs: until ? 1 : options.deadlineMs,
      maxSleepMs: until ? 20 : options.deadlineMs,
      wake: (w) => {
        this.#waiters.add(w);
        return () => this.#waiters.delete(w);
      },
    });
  }

  /** Stop: later waits resolve false, notify does nothing. The descriptors are not closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kicked = false;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const w of [...this.#waiters]) w();
  }
}
