/**
 * Waiting on shared-memory conditions without burning the (shared) host CPU:
 * synchronous re-checks for a short while, then yields, then 1 ms sleeps.
 *
 * @module
 */

import { sleep } from "../../util/poll.ts";

/** Options of {@linkcode waitUntil}. */
export interface WaitOptions {
  /** Longest wait, in ms. */
  timeoutMs: number;
  /** Microseconds of synchronous re-checks before the first yield (default 20). */
  spinUs?: number;
  /** Called on every round that does not succeed; throw from it to give up early. */
  abort?: () => void;
}

/**
 * Resolve true as soon as `check()` is true, false once `timeoutMs` passed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitUntil } from "./_wait.ts";
 * let n = 0;
 * assert(await waitUntil(() => ++n === 3, { timeoutMs: 100 }));
 * assert(!(await waitUntil(() => false, { timeoutMs: 5 })));
 * ```
 */
export async function waitUntil(check: () => boolean, options: WaitOptions): Promise<boolean> {
  const t0 = performance.now();
  const spinMs = (options.spinUs ?? 20) / 1000;
  let rounds = 0;
  for (;;) {
    if (check()) return true;
    const elapsed = performance.now() - t0;
    if (elapsed > options.timeoutMs) return false;
    options.abort?.();
    if (elapsed < spinMs) continue;
    rounds++;
    await sleep(rounds < 50 ? 0 : 1);
  }
}
