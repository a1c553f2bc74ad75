/**
 * Process liveness from `/proc`: is a pid alive, and is it still the process
 * a record was made for (its start time), so a reused pid is never mistaken
 * for an owner or killed as a leftover child.
 *
 * @module
 */

/** Liveness of a process as seen from here. */
export interface ProcessInfo {
  /** True when the process exists and is not a zombie. */
  alive: boolean;
  /** Its start time (`/proc/<pid>/stat` field 22), when readable. */
  start?: number;
}

/**
 * Is `pid` alive, and when did it start? Uses `/proc/<pid>/stat` (a zombie
 * counts as dead); without `/proc` falls back to `kill(pid, 0)` semantics.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { processInfo } from "./process.ts";
 * assert(processInfo(Deno.pid).alive);
 * assert(!processInfo(-1).alive);
 * ```
 */
export function processInfo(pid: number): ProcessInfo {
  if (!Number.isSafeInteger(pid) || pid <= 0) return { alive: false };
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      // No such process, or no /proc at all: decide with signal 0.
      try {
        Deno.statSync("/proc/self");
        return { alive: false };
      } catch {
        return { alive: signalZero(pid) };
      }
    }
    return { alive: signalZero(pid) };
  }
  // "pid (comm) S ppid ...": comm may contain spaces and parentheses.
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  const state = fields[0];
  const start = Number(fields[19]);
  const info: ProcessInfo = { alive: state !== "Z" && state !== "X" };
  if (Number.isSafeInteger(start)) info.start = start;
  return info;
}

function signalZero(pid: number): boolean {
  try {
    Deno.kill(pid, 0);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.PermissionDenied;
  }
}

/**
 * True when the process a record names (`pid`, started at `pidStart`) is gone
 * or its pid now belongs to another process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStale } from "./process.ts";
 * assert(!isStale({ pid: Deno.pid }) && isStale({ pid: Deno.pid, pidStart: -1 }));
 * ```
 */
export function isStale(record: { pid: number; pidStart?: number | undefined }): boolean {
  const p = processInfo(record.pid);
  if (!p.alive) return true;
  return record.pidStart !== undefined && p.start !== undefined && p.start !== record.pidStart;
}
