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
/**
 * Share of a peer's answers (a moving average over about the last eight)
 * that came after the fast spin, above which a wait over an event-driven
 * notifier stops spinning and blocks at once.
 */
export const SLOW_SHARE = 0.25;
/** While blocking at once, one wait in this many still spins first (a probe). */
const PROBE_EVERY = 8;
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
 * event-driven notifier); at 0 it sleeps at once. With `pace` and an
 * event-driven notifier, a peer whose answers mostly miss the fast spin
 * (more than {@linkcode SLOW_SHARE}; one that blocks between messages) is
 * waited for by blocking at once.
 */
export function waitForWork(
  until: () => boolean,
  notifier: Notifier,
  busyMs: number,
  options: RpmsgWaitOptions,
  pace?: Pace,
): Promise<boolean> {
  if (busyMs > 0) {
    // A peer that answers in µs is served without arming a wait. A kick left
    // unconsumed only makes a later wait return at once. A peer that often
    // answers later than that waits for our kick between messages (a thread
    // blocked on the socket): spinning through its wake-up only takes a core
    // from it, so over an event-driven notifier such a peer is waited for by
    // blocking, with a spinning probe now and then to notice a faster peer.
    const paced = pace !== undefined && notifier.eventDriven === true;
    const blocking = paced && pace.slow > SLOW_SHARE;
    if (!blocking || ++pace.waits % PROBE_EVERY === 0) {
      let now = performance.now();
      const spinEnd = now + FAST_SPIN_MS;
      do {
        for (let i = 0; i < 16; i++) {
          if (until()) {
            if (paced) pace.slow -= pace.slow / 8;
            return RESOLVED_TRUE;
          }
        }
        now = performance.now();
      } while (now < spinEnd);
      if (paced) pace.slow += (1 - pace.slow) / 8;
    }
    if (paced && pace.slow > SLOW_SHARE) busyMs = 0;
  }
  return notifier.wait({
    deadlineMs: options.deadlineMs,
    ...(options.signal ? { signal: options.signal } : {}),
    until,
    busyUs: busyMs > 0 ? Math.ceil(busyMs * 1000) : 0,
  });
}

/** How a bus's peer has been answering (see {@linkcode waitForWork}). */
export interface Pace {
  /** Moving share (0..1) of answers that missed the fast spin. */
  slow: number;
  /** Waits that blocked at once, counted to space the probes. */
  waits: number;
}
