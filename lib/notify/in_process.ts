/**
 * Notification between two ends living in the same process (tests, workers
 * that share a heap region through the same event loop).
 *
 * @module
 */

import { KickSignal } from "./_signal.ts";
import type { Notifier, NotifyWaitOptions } from "./types.ts";

/**
 * One end of an in-process notification pair: `notify` on one end wakes a
 * `wait` on the other.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InProcessNotifier } from "./in_process.ts";
 * const [a, b] = InProcessNotifier.pair();
 * a.notify(1);
 * assert(b.pending());
 * assert(await b.wait({ deadlineMs: 100 }));
 * assert(!b.pending());
 * ```
 */
export class InProcessNotifier implements Notifier {
  /** Waits block on an event a kick sets (see {@linkcode Notifier.eventDriven}). */
  readonly eventDriven = true;
  readonly #own = new KickSignal();
  #peer: InProcessNotifier | null = null;
  /** Kicks sent by this end. */
  kicksSent = 0;

  /** Create two connected ends. */
  static pair(): [InProcessNotifier, InProcessNotifier] {
    const a = new InProcessNotifier();
    const b = new InProcessNotifier();
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  /** Kick the other end (the id is ignored: one signal per direction). */
  notify(_id: number): void {
    if (this.#own.closed || !this.#peer) return;
    this.kicksSent++;
    this.#peer.#own.raise();
  }

  /** Wait for a kick from the other end (see {@linkcode Notifier.wait}). */
  wait(options: NotifyWaitOptions): Promise<boolean> {
    return this.#own.wait(options);
  }

  /** True when the other end kicked since the last consuming wait. */
  pending(): boolean {
    return this.#own.pending;
  }

  /** Stop this end; the peer's kicks are ignored from now on. */
  close(): void {
    this.#own.close();
  }
}
