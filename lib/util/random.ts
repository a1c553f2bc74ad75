/**
 * A small seeded PRNG for fuzzers and tests: the same seed gives the same
 * sequence, so a failing case can be replayed from its seed. Not
 * cryptographic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32, randInt } from "./random.ts";
 * const a = mulberry32(7), b = mulberry32(7);
 * assert(randInt(a, 100) === randInt(b, 100));
 * ```
 *
 * @module
 */

/** A PRNG returning uniformly distributed numbers in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a tiny, fast 32-bit seeded PRNG (not cryptographic).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./random.ts";
 * const a = mulberry32(42), b = mulberry32(42);
 * assert(a() === b() && a() < 1);
 * ```
 */
export function mulberry32(seed: number): Rng {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/**
 * A random integer in [0, n) (0 when n <= 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32, randInt } from "./random.ts";
 * const v = randInt(mulberry32(1), 10);
 * assert(v >= 0 && v < 10);
 * ```
 */
export function randInt(rng: Rng, n: number): number {
  return n <= 0 ? 0 : Math.floor(rng() * n);
}
