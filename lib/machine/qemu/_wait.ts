/**
 * Transition module: waits moved to `lib/util/wait.ts`; this keeps the old
 * option names (`timeoutMs`, `abort`) only until its importers switch.
 *
 * @module
 */

import { waitUntil as wait } from "../../util/wait.ts";

/** Options of {@linkcode waitUntil} (transition; use `lib/util/wait.ts`). */
export interface WaitOptions {
  /** Longest wait, in ms. */
  timeoutMs: number;
  /** Microseconds of synchronous re-checks before sleeping (default 20). */
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
export function waitUntil(check: () => boolean, options: WaitOptions): Promise<boolean> {
  const abort = options.abort;
  const checked = abort === undefined ? check : () => {
    if (check()) return true;
    abort();
    return false;
  };
  return wait(checked, {
    deadlineMs: options.timeoutMs,
    spinUs: options.spinUs ?? 20,
    yieldUs: 0,
    sleepMs: 1,
  });
}
