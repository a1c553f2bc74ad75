/**
 * The run loop of an rpmsg bus and its idle wait: poll while there is work,
 * wait for a kick (spinning while traffic is recent, sleeping when idle)
 * when there is none. Internal to the bus (`device.ts`).
 *
 * @module
 */

import type { Notifier } from "../notify/types.ts";
import { waitUntil, yieldTurn } from "../util/wait.ts";
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
 * combined by the caller with `options.until`), then resolve true; false at
 * the deadline or on abort. `busyMs` is how much is left of the bus's active
 * window: while it is positive the wait first checks the rings for a few µs
 * without allocating, then spins and yields for the rest of the window
 * before it sleeps (or blocks on an event-driven notifier); at 0 it sleeps
 * at once.
 *
 * Over an event-driven notifier, with `pace`, a peer whose answers mostly
 * miss the fast spin (more than {@linkcode SLOW_SHARE}; one that blocks
 * between messages) is waited for by blocking at once, unless it polls for
 * our messages itself (`quiet.peerPolls()`). While the wait spins
 * it asks the peer not to kick (`quiet.mute(true)`: the receive ring's
 * suppression flag, which stays set while messages keep coming); before it
 * blocks it lifts that and looks at the rings once more, so a message
 * posted in between is not left without a kick.
 */
export function waitForWork(
  until: () => boolean,
  notifier: Notifier,
  busyMs: number,
  options: RpmsgWaitOptions,
  pace?: Pace,
  quiet?: Quiet,
): Promise<boolean> {
  if (pace === undefined || notifier.eventDriven !== true) {
    // A polled notifier: sleeping costs a timer tick, so keep the busy phase.
    if (busyMs > 0 && spinFor(until, FAST_SPIN_MS)) return RESOLVED_TRUE;
    return block(until, notifier, options.deadlineMs, options, busyMs);
  }
  // Over an event-driven notifier a peer that often answers later than the
  // fast spin waits for our kick between messages (a thread blocked on the
  // socket): spinning through its wake-up only takes a core from it, so it
  // is waited for by blocking, with a spinning probe now and then. A peer
  // that polls for our messages itself (its receive ring muted, as amp's
  // spinning bus has it) needs no core but its own: it is always spun for.
  const polls = quiet !== undefined && quiet.peerPolls();
  if (!(busyMs > 0) || (!polls && pace.slow > SLOW_SHARE && ++pace.waits % PROBE_EVERY !== 0)) {
    return unmuteAndBlock(until, notifier, options.deadlineMs, options, quiet);
  }
  const t0 = performance.now();
  // The peer need not kick while we look at the rings ourselves; the mute
  // stays on through the next messages and is lifted before any block.
  quiet?.mute(true);
  if (spinFor(until, FAST_SPIN_MS)) {
    pace.slow -= pace.slow / 8;
    return RESOLVED_TRUE;
  }
  if (!polls) pace.slow += (1 - pace.slow) / 8;
  if (pace.slow > SLOW_SHARE && !polls) {
    return unmuteAndBlock(until, notifier, options.deadlineMs, options, quiet);
  }
  return busyWait(until, notifier, options, quiet, busyMs, t0);
}

/** Check `until` without allocating for up to `ms`; true as soon as it holds. */
function spinFor(until: () => boolean, ms: number): boolean {
  const end = performance.now() + ms;
  do {
    for (let i = 0; i < 16; i++) if (until()) return true;
  } while (performance.now() < end);
  return false;
}

/** The notifier's own wait: `busyMs` of spinning and yielding, then sleep or block. */
function block(
  until: () => boolean,
  notifier: Notifier,
  deadlineMs: number,
  options: RpmsgWaitOptions,
  busyMs = 0,
): Promise<boolean> {
  return notifier.wait({
    deadlineMs,
    ...(options.signal ? { signal: options.signal } : {}),
    until,
    busyUs: busyMs > 0 ? Math.ceil(busyMs * 1000) : 0,
  });
}

/** Lift the mute, look at the rings once more (work posted before the lift was not kicked), then block. */
function unmuteAndBlock(
  until: () => boolean,
  notifier: Notifier,
  deadlineMs: number,
  options: RpmsgWaitOptions,
  quiet: Quiet | undefined,
): Promise<boolean> {
  if (quiet !== undefined) {
    quiet.mute(false);
    if (until()) return RESOLVED_TRUE;
  }
  return block(until, notifier, deadlineMs, options);
}

/** Spin and yield (muted) until `spinMs` after `t0`, then lift the mute and block. */
async function busyWait(
  until: () => boolean,
  notifier: Notifier,
  options: RpmsgWaitOptions,
  quiet: Quiet | undefined,
  spinMs: number,
  t0: number,
): Promise<boolean> {
  const ok = await waitUntil(until, {
    deadlineMs: Math.min(spinMs, options.deadlineMs) - (performance.now() - t0),
    ...(options.signal ? { signal: options.signal } : {}),
    spinUs: 0,
    yieldUs: spinMs * 1000,
  });
  if (ok) return true;
  const left = options.deadlineMs - (performance.now() - t0);
  if (left > 0) return await unmuteAndBlock(until, notifier, left, options, quiet);
  quiet?.mute(false);
  return until();
}

/** The bus's side of the kick suppression a wait uses (see {@linkcode waitForWork}). */
export interface Quiet {
  /** Ask the peer not to kick for this side's receive ring (`true`), or to kick again. */
  mute(on: boolean): void;
  /** True while the peer asks not to be kicked for its own receive ring: it polls for messages. */
  peerPolls(): boolean;
}

/** How a bus's peer has been answering (see {@linkcode waitForWork}). */
export interface Pace {
  /** Moving share (0..1) of answers that missed the fast spin. */
  slow: number;
  /** Waits that blocked at once, counted to space the probes. */
  waits: number;
}
