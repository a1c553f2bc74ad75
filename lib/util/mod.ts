/**
 * Small shared helpers: waiting on shared memory under a deadline (spin, then
 * yield, then sleep with backoff), and a seeded PRNG for fuzzers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitFor, waitUntil } from "./mod.ts";
 * let n = 0;
 * assert(await waitUntil(() => ++n === 3, { deadlineMs: 1000 }));
 * assert((await waitFor(() => n, { deadlineMs: 0 })) === 3);
 * ```
 *
 * @module
 */

export {
  type Falsy,
  sleep,
  waitFor,
  type WaitForOptions,
  type WaitOptions,
  waitUntil,
  YIELD_TURN_US,
  yieldThread,
  yieldTurn,
} from "./wait.ts";
export { mulberry32, randInt, type Rng } from "./random.ts";
export type { HeldLock } from "./lock.ts";
