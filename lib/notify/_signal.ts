/**
 * A coalescing "kicked" flag with wake-up subscriptions, shared by the
 * event-driven notifiers (in-process, socket).
 *
 * @module
 */

import { waitUntil } from "../util/wait.ts";
import type { NotifyWaitOptions } from "./types.ts";

/** Default µs of spin-then-yield before an event-driven wait with `until` blocks. */
const DEFAULT_BUSY_US = 1000;
/**
 * Longest sleep step of a blocked wait with `until`, ms: kicks end a step at
 * once, so only what `until` alone can see (no kick with it) waits this long.
 */
const MAX_SLEEP_MS = 50;

/** Coalescing kick flag (internal). */
export class KickSignal {
  #kicked = false;
  #closed = false;
  readonly #waiters = new Set<() => void>();

  /** Record a kick and wake every subscribed waiter. */
  raise(): void {
    if (this.#closed) return;
    this.#kicked = true;
    this.#wakeAll();
  }

  #wakeAll(): void {
    if (this.#waiters.size === 0) return;
    for (const w of [...this.#waiters]) w();
  }

  /** True when a kick is waiting. */
  get pending(): boolean {
    return this.#kicked;
  }

  /** True after {@linkcode close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Wake every waiter; later waits resolve false at once. */
  close(): void {
    this.#closed = true;
    this.#kicked = false;
    this.#wakeAll();
  }

  /** Call `fn` at every kick (and at close) until the returned function is called. */
  subscribe(fn: () => void): () => void {
    this.#waiters.add(fn);
    return () => this.#waiters.delete(fn);
  }

  /**
   * Wait as described by {@linkcode NotifyWaitOptions}; consumes the kick.
   * Without `until` nothing but a kick can end the wait, so it blocks at once;
   * with `until` it spins and yields for `busyUs` first (re-checking `until`),
   * then blocks with periodic `until` checks.
   */
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
    return waitUntil(check, {
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      // Nothing in this thread can raise the flag while we spin; only `until`
      // can change. A caller that passes busyUs 0 wants no spinning at all.
      spinUs: until && options.busyUs !== 0 ? 50 : 0,
      yieldUs: until ? options.busyUs ?? DEFAULT_BUSY_US : 0,
      sleepMs: until ? 1 : options.deadlineMs,
      maxSleepMs: until ? MAX_SLEEP_MS : options.deadlineMs,
      wake: (w) => this.subscribe(w),
    });
  }
}
