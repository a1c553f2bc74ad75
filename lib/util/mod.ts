/**
 * Small shared helpers: polling shared memory under a deadline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pollUntil } from "./mod.ts";
 * let n = 0;
 * assert((await pollUntil(() => ++n === 3, { deadlineMs: 1000 })) === true);
 * ```
 *
 * @module
 */

export { type Falsy, type PollOptions, pollUntil, sleep } from "./poll.ts";
