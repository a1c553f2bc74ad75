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
/** Longest stretch of a busy loop without an event-loop turn, ms. */
const BUSY_TURN_MS = 4;

/** What the loop needs from its bus. */
export interface LoopBus {
  /** True after the bus was closed. */
  readonly closed: boolean;
  /** Process everything pending; the number of items handled. */
  poll(): number;
  /** Look at the rings (or `until()`) for a moment without giving up the thread; see {@linkcode spinForWork}. */
  spinForWork(until?: () => boolean): boolean;
  /** Wait for work; see {@linkcode waitForWork}. */
  waitForWork(options: RpmsgWaitOptions): Promise<boolean>;
}

/**
 * Poll `bus` until `signal` aborts, `stop()` is true or the bus is closed.
 * Between polls the loop first spins synchronously (the bus's
 * `spinForWork`), then waits (`waitForWork`); while busy it yields to the
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
    // Work that comes within the spin is taken without an await (an async
    // step costs more than the message while the code is still cold).
    if (n > 0 || bus.spinForWork(more)) {
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
 * window: while it is positive the wait looks at the rings itself, spinning
 * and yielding, before it sleeps (or blocks on an event-driven notifier); at
 * 0 it sleeps at once.
 *
 * Over an event-driven notifier, with `quiet`, the wait asks the peer not
 * to kick while it looks (`quiet.mute(true)`: the receive ring's suppression
 * flag, which stays set while messages keep coming); before it blocks it
 * lifts that and looks once more, so a message posted in between is not
 * left without a kick. A peer that polls for our messages itself
 * (`quiet.peerPolls()`, as a spinning amp bus does) answers in µs and is
 * first spun for without a pause; one that waits for our kick needs a core
 * for the thread that takes it (upstream's Linux port has one), so the wait
 * gives up its core (`sched_yield`) at every look.
 */
export function waitForWork(
  until: () => boolean,
  notifier: Notifier,
  busyMs: number,
  options: RpmsgWaitOptions,
  quiet?: Quiet,
): Promise<boolean> {
  // A polled notifier (no mute): sleeping costs a timer tick, so its own wait keeps the busy phase.
  const q = notifier.eventDriven === true ? quiet : undefined;
  const t0 = performance.now();
  if (busyMs > 0 && spinForWork(until, notifier, busyMs, q)) return RESOLVED_TRUE;
  if (q === undefined) return block(until, notifier, options.deadlineMs, options, busyMs);
  if (!(busyMs > 0)) return unmuteAndBlock(until, notifier, options.deadlineMs, options, q);
  return busyWait(until, notifier, options, q, busyMs, t0);
}

/**
 * The synchronous start of {@linkcode waitForWork}, for a caller that takes
 * work found this way without an await: true when `until()` holds now or,
 * while `busyMs` of the active window is left, within 50 µs of checking it
 * without giving up the thread. Over an event-driven notifier, with `quiet`,
 * it first mutes the peer's kicks (left set, as a wait leaves it while
 * messages come; the next wait lifts it before it blocks) and spins only for
 * a peer that polls.
 */
export function spinForWork(
  until: () => boolean,
  notifier: Notifier,
  busyMs: number,
  quiet?: Quiet,
): boolean {
  if (!(busyMs > 0)) return until();
  if (quiet === undefined || notifier.eventDriven !== true) return spinFor(until, FAST_SPIN_MS);
  quiet.mute(true);
  return quiet.peerPolls() ? spinFor(until, FAST_SPIN_MS) : until();
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
  quiet: Quiet,
): Promise<boolean> {
  quiet.mute(false);
  if (until()) return RESOLVED_TRUE;
  return block(until, notifier, deadlineMs, options);
}

/** Look at the rings, yielding the core at each look (muted), until `spinMs` after `t0`; then lift the mute and block. */
async function busyWait(
  until: () => boolean,
  notifier: Notifier,
  options: RpmsgWaitOptions,
  quiet: Quiet,
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
  quiet.mute(false);
  return until();
}

/**
 * The waits of one bus: its active window (restarted by each message, see
 * {@linkcode BusWaits.touch}), its work check combined with a caller's
 * `until`, and its kick suppression.
 */
export class BusWaits {
  #lastActive = -Infinity;
  #extra: (() => boolean) | undefined;
  #combined: () => boolean;

  /** Waits over `notifier` that spin for `activeWindowMs` after a message, looking at `hasWork`. */
  constructor(
    readonly notifier: Notifier,
    readonly activeWindowMs: number,
    readonly hasWork: () => boolean,
    readonly quiet: Quiet,
  ) {
    this.#combined = hasWork;
  }

  /** A message moved: the active window starts again. */
  touch(): void {
    this.#lastActive = performance.now();
  }

  /** {@linkcode waitForWork} for this bus. */
  wait(options: RpmsgWaitOptions): Promise<boolean> {
    const until = this.#untilFor(options.until);
    return waitForWork(until, this.notifier, this.#busyMs(), options, this.quiet);
  }

  /** {@linkcode spinForWork} for this bus. */
  spin(until?: () => boolean): boolean {
    return spinForWork(this.#untilFor(until), this.notifier, this.#busyMs(), this.quiet);
  }

  /** What is left of the active window after the last message, ms. */
  #busyMs(): number {
    return this.#lastActive + this.activeWindowMs - performance.now();
  }

  /** The work check combined with a caller's `until` (kept while the caller passes the same one). */
  #untilFor(extra: (() => boolean) | undefined): () => boolean {
    if (extra === undefined) return this.hasWork;
    if (extra !== this.#extra) {
      const hasWork = this.hasWork;
      this.#extra = extra;
      this.#combined = () => hasWork() || extra();
    }
    return this.#combined;
  }
}

/** The bus's side of the kick suppression a wait uses (see {@linkcode waitForWork}). */
export interface Quiet {
  /** Ask the peer not to kick for this side's receive ring (`true`), or to kick again. */
  mute(on: boolean): void;
  /** True while the peer asks not to be kicked for its own receive ring: it polls for messages. */
  peerPolls(): boolean;
}
