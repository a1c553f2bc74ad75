/**
 * The run loop of an rpmsg bus and its idle wait: poll while there is work,
 * wait for a kick (spinning while traffic is recent, sleeping when idle)
 * when there is none. Internal to the bus (`device.ts`).
 *
 * @module
 */

import type { Notifier } from "../notify/types.ts";
import { yieldTurn } from "../util/wait.ts";
import type { RpmsgRunOptions, RpmsgWaitOptions } from "./types.ts";

/** What a wait that found work at once resolves to (one promise for all). */
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true);
/** Allocation-free ring checks at the start of a busy wait, ms. */
const FAST_SPIN_MS = 0.05;
/** Polls in a row after which a busy loop checks whether to yield. */
const BUSY_ROUNDS = 64;
/** Longest stretch of a busy loop without an event-loop turn, ms. */
const BUSY_TURN_MS = 4;

/** What the loop needs from its bus. */
export interface LoopBus {
  /** True after the bus was closed. */
  readonly closed: boolean;
  /** Process everything pending; the number of items handled. */
  poll(): number;
  /** Wait for work; see {@linkcode waitForWork}. */
  waitForWork(options: RpmsgWaitOptions): Promise<boolean>;
}

/**
 * Poll `bus` until `signal` aborts, `stop()` is true or the bus is closed.
 * Idle waits are the bus's `waitForWork`; while busy the loop yields to the
 * event loop at least every few ms.
 */
export async function runLoop(bus: LoopBus, options: RpmsgRunOptions): Promise<void> {
  const { signal, stop, onPoll, until: extra } = options;
  const idleMs = options.idleMs ?? 100;
  const more = (): boolean => (stop !== undefined && stop()) || (extra !== undefined && extra());
  // One options object for every idle wait (nothing per message).
  const waitOptions: RpmsgWaitOptions = {
    deadlineMs: idleMs,
    ...(signal ? { signal } : {}),
    until: more,
  };
  let lastYield = performance.now();
  let busy = 0;
  while (!bus.closed && !signal?.aborted && !(stop && stop())) {
    const n = (onPoll ? onPoll() : 0) + bus.poll();
    if (n > 0) {
      if (++busy >= BUSY_ROUNDS) {
        busy = 0;
        const now = performance.now();
        if (now - lastYield > BUSY_TURN_MS) {
          await yieldTurn();
          lastYield = performance.now();
        }
      }
      continue;
    }
    await bus.waitForWork(waitOptions);
    lastYield = performance.now();
  }
}

/**
 * Wait for a kick on `notifier` or for `until()` (the bus's work check,
 * combined by the caller with `options.until`), then resolve true; false at the deadline or on abort. `busyMs` is how much
 * is left of the bus's active window: while it is positive the wait first
 * checks the rings for a few µs without allocating, then spins and yields
 * for the rest of the window before sleeping (or blocking on an
 * event-driven notifier); at 0 it sleeps at once.
 */
export function waitForWork(
  until: () => boolean,
  notifier: Notifier,
  busyMs: number,
  options: RpmsgWaitOptions,
): Promise<boolean> {
  if (busyMs > 0) {
    // A peer that answers in µs is served without arming a wait. A kick left
    // unconsumed only makes a later wait return at once.
    let now = performance.now();
    const spinEnd = now + FAST_SPIN_MS;
    do {
      for (let i = 0; i < 16; i++) if (until()) return RESOLVED_TRUE;
      now = performance.now();
    } while (now < spinEnd);
  }
  return notifier.wait({
    deadlineMs: options.deadlineMs,
    ...(options.signal ? { signal: options.signal } : {}),
    until,
    busyUs: busyMs > 0 ? Math.ceil(busyMs * 1000) : 0,
  });
}
