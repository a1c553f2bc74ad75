/**
 * Spin, then yield, then sleep: the wait strategy every notifier uses so that a
 * busy link answers in microseconds and an idle one does not burn a core.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { osYield } from "./_os_yield.ts";

/** Tuning of {@linkcode backoffWait}. */
export interface BackoffOptions {
  /** Longest wait in ms from the call. */
  deadlineMs: number;
  /** Stops the wait early (resolves false). */
  signal?: AbortSignal | undefined;
  /** Microseconds of synchronous re-checks before the first yield (default 50). */
  spinUs?: number;
  /**
   * Microseconds of yielding before sleeping starts (default 1000). Yields are
   * `sched_yield()` (when FFI is allowed), with an event-loop turn (timers
   * and I/O run) at least every {@linkcode YIELD_TURN_US} µs.
   */
  yieldUs?: number;
  /** Length of the first sleep step in ms (default 1). */
  sleepMs?: number;
  /**
   * Longest sleep step in ms (default `sleepMs`): each step doubles up to it,
   * so a long idle wait wakes up less and less often.
   */
  maxSleepMs?: number;
  /**
   * Subscribe to an early wake-up for the sleep phase (e.g. a socket read):
   * call `wake` when it happens; return the function that unsubscribes. With
   * it, a sleeping wait resumes as soon as the event comes instead of at the
   * end of its sleep step.
   */
  wake?: (wake: () => void) => () => void;
}

/** Checks between two `sched_yield()` calls of the yield phase. */
const SPINS_PER_YIELD = 32;

/** Longest stretch of `sched_yield()` calls between two event-loop turns, in µs. */
export const YIELD_TURN_US = 200;

/**
 * Resolve after the event loop had a turn (timers and I/O may run). Uses
 * `setImmediate`, a few µs; a zero-delay `setTimeout` costs about 1-4 ms in
 * Deno (timer granularity and nesting clamps).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { yieldTurn } from "./_backoff.ts";
 * let fired = false;
 * setTimeout(() => (fired = true), 1);
 * const end = performance.now() + 5000;
 * while (!fired && performance.now() < end) await yieldTurn();
 * assert(fired);
 * ```
 */
export function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Sleep `ms`, or less when `signal` aborts or the wake-up of
 * {@linkcode BackoffOptions.wake} comes (`woken`: set before or during the step).
 */
function sleepStep(
  ms: number,
  signal: AbortSignal | undefined,
  woken: { flag: boolean; resume: (() => void) | null },
): Promise<void> {
  if (woken.flag) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      woken.resume = null;
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    woken.resume = done;
  });
}

/**
 * Wait until `check()` returns true (resolves true) or the deadline passes or
 * the signal aborts (resolves false). `check` is called at least once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffWait } from "./_backoff.ts";
 * let n = 0;
 * const ok = await backoffWait(() => ++n > 3, { deadlineMs: 100 });
 * assert(ok && n === 4);
 * ```
 */
export async function backoffWait(check: () => boolean, options: BackoffOptions): Promise<boolean> {
  const { signal } = options;
  if (check()) return true;
  const deadlineMs = Math.max(0, options.deadlineMs);
  if (deadlineMs === 0 || signal?.aborted) return false;
  const start = performance.now();
  const end = start + deadlineMs;
  const spinEnd = start + Math.max(0, options.spinUs ?? 50) / 1000;
  const yieldEnd = spinEnd + Math.max(0, options.yieldUs ?? 1000) / 1000;
  let step = Math.max(0, options.sleepMs ?? 1);
  const maxStep = Math.max(step, options.maxSleepMs ?? step);
  let now = start;
  while (now < spinEnd && now < end) {
    for (let i = 0; i < 16; i++) if (check()) return true;
    now = performance.now();
  }
  const sy = osYield();
  let lastTurn = now;
  while (now < yieldEnd && now < end) {
    if (signal?.aborted) return false;
    if (sy !== null && now - lastTurn < YIELD_TURN_US / 1000) {
      for (let i = 0; i < SPINS_PER_YIELD; i++) if (check()) return true;
      sy();
    } else {
      await yieldTurn();
      lastTurn = performance.now();
    }
    if (check()) return true;
    now = performance.now();
  }
  if (now >= end) return false;
  const woken: { flag: boolean; resume: (() => void) | null } = { flag: false, resume: null };
  const unsubscribe = options.wake?.(() => {
    woken.flag = true;
    woken.resume?.();
  });
  try {
    while (now < end) {
      if (signal?.aborted) return false;
      await sleepStep(Math.min(step, end - now), signal, woken);
      if (woken.flag) {
        woken.flag = false;
      } else if (step < maxStep) {
        step = Math.min(maxStep, step * 2);
      }
      if (check()) return true;
      now = performance.now();
    }
    return false;
  } finally {
    unsubscribe?.();
  }
}
