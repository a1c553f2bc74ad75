/**
 * Waiting for a condition in shared memory: spin briefly, then yield to the
 * event loop, then sleep about a millisecond between checks, always under a
 * deadline. Shared memory gives no wake-up event, so polling is the mechanism;
 * the phases keep latency low for fast peers without burning a core (the
 * machines amp runs on may have two) for slow ones.
 *
 * @module
 */

import { AmpError, isAmpError, TimeoutError } from "../errors.ts";

/** Options for {@linkcode pollUntil}. */
export interface PollOptions {
  /** Give up after this many milliseconds from the call (TimeoutError). Required. */
  deadlineMs: number;
  /** Synchronous checks before the first yield. Default 64; 0 disables spinning. */
  spin?: number;
  /** Checks separated by a zero-delay timer before sleeping. Default 16. */
  yields?: number;
  /** Sleep between checks once spinning and yielding gave nothing. Default 1 ms. */
  sleepMs?: number;
  /** Stop waiting when aborted: rejects with an `ABORTED` AmpError (or the amp error given as reason). */
  signal?: AbortSignal;
  /** What the wait is, for error messages, e.g. `"waiting for DRIVER_OK on vdev0"`. */
  what?: string;
}

/** Values {@linkcode pollUntil} treats as "not yet". */
export type Falsy = false | 0 | "" | null | undefined;

function abortError(signal: AbortSignal, what: string): Error {
  const r: unknown = signal.reason;
  if (isAmpError(r)) return r;
  return new AmpError("ABORTED", `Aborted ${what}`, { cause: r });
}

/**
 * Resolve after `ms` milliseconds, or as soon as `signal` aborts (it never
 * rejects).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./poll.ts";
 * let fired = false;
 * setTimeout(() => (fired = true), 0);
 * await sleep(20);
 * assert(fired);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Call `fn` until it returns a truthy value and resolve with that value.
 * `fn` runs at least once, even with a zero deadline. An exception from `fn`
 * rejects the wait unchanged.
 *
 * @throws {TimeoutError} when `deadlineMs` passes first (code `TIMEOUT`).
 * @throws {AmpError} `ABORTED` when `signal` aborts; `POLL_BAD_OPTION` for an
 *   invalid deadline or phase count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pollUntil } from "./poll.ts";
 * const word = new Uint32Array(1);
 * setTimeout(() => Atomics.store(word, 0, 7), 5);
 * const v = await pollUntil(() => Atomics.load(word, 0), { deadlineMs: 1000 });
 * assert(v === 7);
 * ```
 */
export async function pollUntil<T>(
  fn: () => T,
  options: PollOptions,
): Promise<Exclude<T, Falsy>> {
  const { deadlineMs, signal } = options;
  const spin = options.spin ?? 64;
  const yields = options.yields ?? 16;
  const sleepMs = options.sleepMs ?? 1;
  const what = options.what ?? "waiting for a condition";
  for (const [k, v] of [["deadlineMs", deadlineMs], ["sleepMs", sleepMs]] as const) {
    if (!(typeof v === "number" && v >= 0 && v <= 0x7fff_ffff)) {
      throw new AmpError("POLL_BAD_OPTION", `pollUntil: ${k} ${v} is not in 0..2147483647 ms`);
    }
  }
  for (const [k, v] of [["spin", spin], ["yields", yields]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new AmpError("POLL_BAD_OPTION", `pollUntil: ${k} ${v} is not a count`);
    }
  }
  const start = performance.now();
  const end = start + deadlineMs;
  let round = 0;
  for (;;) {
    if (signal?.aborted) throw abortError(signal, what);
    const v = fn();
    if (v) return v as Exclude<T, Falsy>;
    const now = performance.now();
    if (now >= end) throw new TimeoutError(what, deadlineMs);
    round++;
    if (round <= spin) continue;
    if (round <= spin + yields) await sleep(0, signal);
    else await sleep(Math.min(sleepMs, Math.max(0, end - now)), signal);
  }
}
