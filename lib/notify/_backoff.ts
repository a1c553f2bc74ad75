/**
 * Spin, then yield, then sleep: the wait strategy every notifier uses so that a
 * busy link answers in microseconds and an idle one does not burn a core.
 *
 * @module
 */

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
   * Microseconds of yielding before sleeping starts (default 1000). Yields
   * alternate `sched_yield()` (when FFI is allowed) with event-loop turns.
   */
  yieldUs?: number;
  /** Length of one sleep step in ms (default 1). */
  sleepMs?: number;
  /**
   * Called before a sleep step; may return a promise that resolves early when
   * a wake-up arrives (e.g. a socket read), or null.
   */
  wake?: () => Promise<unknown> | null;
}

/** Resolve after the event loop had a turn (timers and I/O may run). */
export function yieldTurn(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

function sleep(ms: number, wake: Promise<unknown> | null): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (wake) {
      wake.then(() => {
        clearTimeout(t);
        resolve();
      }, () => {});
    }
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
  const spinEnd = start + (options.spinUs ?? 50) / 1000;
  const yieldEnd = spinEnd + (options.yieldUs ?? 1000) / 1000;
  const sleepMs = options.sleepMs ?? 1;
  let now = start;
  while (now < spinEnd && now < end) {
    for (let i = 0; i < 16; i++) if (check()) return true;
    now = performance.now();
  }
  const sy = osYield();
  let k = 0;
  while (now < end) {
    if (signal?.aborted) return false;
    if (now < yieldEnd) {
      if (sy !== null && (++k & 7) !== 0) sy();
      else await yieldTurn();
    } else {
      await sleep(Math.min(sleepMs, end - now), options.wake?.() ?? null);
    }
    if (check()) return true;
    now = performance.now();
  }
  return false;
}
