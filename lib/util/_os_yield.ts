/**
 * `sched_yield()` through FFI: hands the CPU to another runnable process
 * without sleeping. On a machine with more busy processes than cores this lets
 * the peer run at once instead of after a full time slice. Unavailable (null)
 * without `--allow-ffi` or libc; callers then fall back to event-loop yields.
 *
 * @module
 */

type YieldFn = () => number;
let cached: YieldFn | null | undefined;

/**
 * The `sched_yield` function, or null when FFI is not permitted or fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osYield } from "./_os_yield.ts";
 * const y = osYield();
 * if (y) assert(y() === 0);
 * ```
 */
export function osYield(): YieldFn | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const lib = Deno.dlopen("libc.so.6", {
      sched_yield: { parameters: [], result: "i32" },
    });
    cached = lib.symbols.sched_yield;
  } catch {
    cached = null;
  }
  return cached;
}
