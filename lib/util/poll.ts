/**
 * Transition module: the wait primitives moved to `wait.ts`
 * ({@linkcode waitFor}, {@linkcode sleep}). Kept only until every importer
 * has switched; new code imports `./wait.ts` (or `./mod.ts`).
 *
 * @module
 */

import { type Falsy, sleep, waitFor } from "./wait.ts";

export { type Falsy, sleep };

/** Options of {@linkcode pollUntil} (transition; use {@linkcode waitFor}). */
export interface PollOptions {
  /** Give up after this many milliseconds from the call (TimeoutError). */
  deadlineMs: number;
  /** 0 disables the spin phase; any other value keeps the default. */
  spin?: number;
  /** Stop waiting when aborted. */
  signal?: AbortSignal;
  /** What the wait is, for error messages. */
  what?: string;
}

/**
 * Transition alias of {@linkcode waitFor} for the old option names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pollUntil } from "./poll.ts";
 * assert((await pollUntil(() => 3, { deadlineMs: 10 })) === 3);
 * ```
 */
export function pollUntil<T>(fn: () => T, options: PollOptions): Promise<Exclude<T, Falsy>> {
  const { spin, ...rest } = options;
  return waitFor(fn, spin === 0 ? { ...rest, spinUs: 0 } : rest);
}
