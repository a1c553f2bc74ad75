/**
 * A coalescing "kicked" flag with a promise that resolves on the next kick,
 * shared by the event-driven notifiers (in-process, socket).
 *
 * @module
 */

import { backoffWait } from "./_backoff.ts";
import type { NotifyWaitOptions } from "./types.ts";

/** Coalescing kick flag (internal). */
export class KickSignal {
  #kicked = false;
  #closed = false;
  #wake: Promise<void> | null = null;
  #resolve: (() => void) | null = null;

  /** Record a kick and wake a sleeping waiter. */
  raise(): void {
    if (this.#closed) return;
    this.#kicked = true;
    const r = this.#resolve;
    this.#resolve = null;
    this.#wake = null;
    r?.();
  }

  /** True when a kick is waiting. */
  get pending(): boolean {
    return this.#kicked;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Wake every waiter; later waits resolve false at once. */
  close(): void {
    this.#closed = true;
    this.#kicked = false;
    const r = this.#resolve;
    this.#resolve = null;
    this.#wake = null;
    r?.();
  }

  /** A promise that resolves at the next kick (or close). */
  next(): Promise<void> {
    if (!this.#wake) this.#wake = new Promise((r) => (this.#resolve = r));
    return this.#wake;
  }

  /** Wait as described by {@linkcode NotifyWaitOptions}; consumes the kick. */
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
      deadlineMs: this.#closed ? 0 : options.deadlineMs,
      signal: options.signal,
      // Nothing in this thread can raise the flag while we spin; only `until` can change.
      spinUs: until ? 50 : 0,
      wake: () => this.next(),
    });
  }
}
