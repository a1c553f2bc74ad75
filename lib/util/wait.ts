/**
 * Waiting for a condition in shared memory, the one way amp does it.
 *
 * Shared memory gives no wake-up event, so polling is the mechanism. A wait
 * goes through three phases, always under a deadline and an optional abort
 * signal:
 *
 * 1. **spin**: synchronous re-checks for `spinUs` µs (a peer that answers in
 *    µs is seen without giving the CPU away);
 * 2. **yield**: re-checks separated by `sched_yield()` (when FFI is allowed,
 *    {@linkcode yieldThread}) with an event-loop turn ({@linkcode yieldTurn})
 *    at least every {@linkcode YIELD_TURN_US} µs, for `yieldUs` µs;
 * 3. **sleep**: re-checks after sleeps that start at `sleepMs` and double up
 *    to `maxSleepMs`; an early `wake` event (a socket read, a kick in the
 *    same process) ends a sleep at once.
 *
 * A busy link is served in µs and an idle one does not burn a core (the
 * machines amp runs on may have two).
 *
 * {@linkcode waitUntil} resolves a boolean; {@linkcode waitFor} resolves the
 * check's value and throws {@linkcode TimeoutError} or an `ABORTED`
 * {@linkcode AmpError} instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitUntil } from "./wait.ts";
 * const word = new Uint32Array(1);
 * setTimeout(() => Atomics.store(word, 0, 1), 5);
 * assert(await waitUntil(() => Atomics.load(word, 0) === 1, { deadlineMs: 1000 }));
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { AmpError, isAmpError, TimeoutError } from "../errors.ts";
import { osYield } from "./_os_yield.ts";

/** Options of {@linkcode waitUntil} and {@linkcode waitFor}. */
export interface WaitOptions {
  /**
   * Longest wait in ms from the call. 0 (or less) checks exactly once;
   * `Infinity` waits until the check, the signal or a thrown error ends it.
   */
  deadlineMs: number;
  /** Ends the wait early: {@linkcode waitUntil} resolves false, {@linkcode waitFor} rejects. */
  signal?: AbortSignal | undefined;
  /** Microseconds of synchronous re-checks before the first yield (default 50; 0 skips). */
  spinUs?: number;
  /**
   * Microseconds of yielding before sleeping starts (default 1000; 0 skips).
   * Yields are `sched_yield()` (when FFI is allowed), with an event-loop turn
   * (timers and I/O run) at least every {@linkcode YIELD_TURN_US} µs.
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
   * Subscribe to an early wake-up of the sleep phase (e.g. a socket read):
   * call `wake` when it happens; return the function that unsubscribes. With
   * it, a sleeping wait checks again as soon as the event comes instead of at
   * the end of its sleep step.
   */
  wake?: (wake: () => void) => () => void;
}

/** Options of {@linkcode waitFor}: those of {@linkcode waitUntil} plus what is waited for. */
export interface WaitForOptions extends WaitOptions {
  /** What the wait is, for error messages, e.g. `"waiting for DRIVER_OK on vdev0"`. */
  what?: string;
}

/** Values {@linkcode waitFor} treats as "not yet". */
export type Falsy = false | 0 | "" | null | undefined;

/** Longest stretch of `sched_yield()` calls between two event-loop turns, in µs. */
export const YIELD_TURN_US = 200;

/** Checks between two `sched_yield()` calls of the yield phase. */
const SPINS_PER_YIELD = 32;
/** Checks between two clock reads of the spin phase. */
const SPINS_PER_CLOCK = 16;
/** Longest timer delay (setTimeout's limit). */
const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * Resolve after `ms` milliseconds, or as soon as `signal` aborts (it never
 * rejects).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./wait.ts";
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
 * Resolve after the event loop had a turn (timers and I/O may run). Uses
 * `setImmediate`, a few µs; a zero-delay `setTimeout` costs about 1-4 ms in
 * Deno (timer granularity and nesting clamps).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { yieldTurn } from "./wait.ts";
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
 * Hand the CPU to another runnable thread without sleeping (`sched_yield()`
 * through FFI). Returns false, doing nothing, when FFI is not permitted or
 * libc has no `sched_yield`; callers then fall back to {@linkcode yieldTurn}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { yieldThread } from "./wait.ts";
 * assert(typeof yieldThread() === "boolean");
 * ```
 */
export function yieldThread(): boolean {
  const sy = osYield();
  if (sy === null) return false;
  sy();
  return true;
}

function badOption(name: string, value: unknown, want: string): never {
  throw new AmpError("WAIT_BAD_OPTION", `Cannot wait: ${name} ${String(value)} is not ${want}`);
}

/** A phase length: a finite number >= 0 (undefined: the default). */
function phase(name: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!(typeof v === "number" && v >= 0 && v <= max)) badOption(name, v, `in 0..${max}`);
  return v;
}

/** State of the sleep phase's early wake-up. */
interface Woken {
  flag: boolean;
  resume: (() => void) | null;
}

/** Sleep `ms`, or less when `signal` aborts or the wake-up comes (set before or during the step). */
function sleepStep(ms: number, signal: AbortSignal | undefined, woken: Woken): Promise<void> {
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
 * Wait until `check()` returns true (resolves true), or the deadline passes or
 * `signal` aborts (resolves false). `check` runs at least once, also with a
 * zero deadline, and once more after the last sleep; an exception from it
 * rejects the wait unchanged. Phases: see the module documentation.
 *
 * @throws {AmpError} `WAIT_BAD_OPTION` for a deadline that is not a number or
 *   a phase length that is negative or not finite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitUntil } from "./wait.ts";
 * let n = 0;
 * assert(await waitUntil(() => ++n > 3, { deadlineMs: 100 }) && n === 4);
 * assert(!(await waitUntil(() => false, { deadlineMs: 5, spinUs: 0, yieldUs: 0 })));
 * ```
 */
export async function waitUntil(check: () => boolean, options: WaitOptions): Promise<boolean> {
  if (check()) return true;
  const { signal } = options;
  const d = options.deadlineMs;
  if (typeof d !== "number" || Number.isNaN(d)) badOption("deadlineMs", d, "a number of ms");
  const spinUs = phase("spinUs", options.spinUs, 50, Number.MAX_VALUE);
  const yieldUs = phase("yieldUs", options.yieldUs, 1000, Number.MAX_VALUE);
  let step = phase("sleepMs", options.sleepMs, 1, MAX_TIMER_MS);
  const maxStep = Math.max(step, phase("maxSleepMs", options.maxSleepMs, step, MAX_TIMER_MS));
  if (!(d > 0) || signal?.aborted) return false;
  const start = performance.now();
  const end = start + d;
  const spinEnd = start + spinUs / 1000;
  const yieldEnd = spinEnd + yieldUs / 1000;
  let now = start;
  while (now < spinEnd && now < end) {
    for (let i = 0; i < SPINS_PER_CLOCK; i++) if (check()) return true;
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
  const woken: Woken = { flag: false, resume: null };
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

/**
 * Call `fn` until it returns a truthy value and resolve with that value; the
 * throwing form of {@linkcode waitUntil} (same phases and options). `fn` runs
 * at least once, even with a zero deadline; an exception from it rejects the
 * wait unchanged.
 *
 * @throws {TimeoutError} when `deadlineMs` passes first (code `TIMEOUT`; the
 *   message names `what`).
 * @throws {AmpError} `ABORTED` when `signal` aborts (or the signal's reason
 *   itself when that is an amp error); `WAIT_BAD_OPTION` for invalid options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitFor } from "./wait.ts";
 * const word = new Uint32Array(1);
 * setTimeout(() => Atomics.store(word, 0, 7), 5);
 * assert((await waitFor(() => Atomics.load(word, 0), { deadlineMs: 1000 })) === 7);
 * ```
 */
export async function waitFor<T>(
  fn: () => T,
  options: WaitForOptions,
): Promise<Exclude<T, Falsy>> {
  let value: T | undefined;
  const ok = await waitUntil(() => !!(value = fn()), options);
  if (ok) return value as Exclude<T, Falsy>;
  const what = options.what ?? "waiting for a condition";
  const signal = options.signal;
  if (signal?.aborted) {
    const r: unknown = signal.reason;
    if (isAmpError(r)) throw r;
    throw new AmpError("ABORTED", `Aborted ${what}`, { cause: r });
  }
  throw new TimeoutError(what, Math.max(0, options.deadlineMs));
}
