/**
 * Priming: a remote amp runs its own receive, echo and send path on a
 * private in-process link before it serves, so its first host does not wait
 * for V8 to compile it (`primeRemote`). `amp remote` primes itself at start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PRIME_MESSAGES, primeRemote } from "./mod.ts";
 * import { SIM } from "../machine/profiles/sim.ts";
 * assert(PRIME_MESSAGES > 0);
 * assert.equal((await primeRemote({ profile: SIM, messages: 8 })).messages, 8);
 * ```
 *
 * @module
 */

export { PRIME_MESSAGES, type PrimeOptions, primeRemote, type PrimeResult } from "./prime.ts";
