/**
 * Small field checkers for validating JSON data with path-precise messages
 * such as `board.json: regions[1].size: must be a positive integer, got -4`.
 *
 * Internal to `lib/machine`.
 *
 * @module
 */

import { ConfigError, type ConfigErrorCode } from "../errors.ts";

/** Where a value came from, for messages. */
export interface CheckCtx {
  /** Source label, e.g. a file name or `built-in profile "sim"`. */
  readonly source: string;
}

/** Render a value briefly for an error message. */
export function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "number") return String(v);
  if (typeof v === "bigint") return `${v}n`;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** Throw a `ConfigError` for the field at `path`. */
export function fail(
  ctx: CheckCtx,
  path: string,
  what: string,
  code: ConfigErrorCode = "PROFILE_FIELD",
): never {
  throw new ConfigError(code, `${ctx.source}: ${path === "" ? "the profile" : path}: ${what}`);
}

/** A plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Require an object whose keys are all in `allowed`. */
export function object(
  ctx: CheckCtx,
  v: unknown,
  path: string,
  allowed: readonly string[],
): Record<string, unknown> {
  if (!isObject(v)) fail(ctx, path, `must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      fail(
        ctx,
        path === "" ? k : `${path}.${k}`,
        `unknown field (allowed here: ${allowed.join(", ")})`,
        "PROFILE_UNKNOWN_FIELD",
      );
    }
  }
  return v;
}

/** Join a parent path and a key. */
export function at(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** Require a non-empty string (no NUL). */
export function str(ctx: CheckCtx, v: unknown, path: string): string {
  if (typeof v !== "string" || v.length === 0 || v.includes("\0")) {
    fail(ctx, path, `must be a non-empty string, got ${show(v)}`);
  }
  return v;
}

/** Optional non-empty string. */
export function optStr(ctx: CheckCtx, v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : str(ctx, v, path);
}

/** Require a safe integer in `[min, max]`. */
export function int(
  ctx: CheckCtx,
  v: unknown,
  path: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    const kind = min === 1 && max === Number.MAX_SAFE_INTEGER
      ? "a positive integer"
      : min === 0 && max === Number.MAX_SAFE_INTEGER
      ? "a non-negative integer"
      : `an integer in [${min}, ${max}]`;
    fail(ctx, path, `must be ${kind}, got ${show(v)}`);
  }
  return v;
}

/** Optional integer in `[min, max]`. */
export function optInt(
  ctx: CheckCtx,
  v: unknown,
  path: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  return v === undefined ? undefined : int(ctx, v, path, min, max);
}

/** Optional boolean. */
export function optBool(ctx: CheckCtx, v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") fail(ctx, path, `must be true or false, got ${show(v)}`);
  return v;
}

/** Require one of a fixed set of values. */
export function oneOf<T extends string | number>(
  ctx: CheckCtx,
  v: unknown,
  path: string,
  choices: readonly T[],
): T {
  if (!choices.includes(v as T)) {
    fail(ctx, path, `must be one of ${choices.map((c) => show(c)).join(", ")}, got ${show(v)}`);
  }
  return v as T;
}

/** Require an array with a length in `[min, max]`. */
export function array(
  ctx: CheckCtx,
  v: unknown,
  path: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): unknown[] {
  if (!Array.isArray(v)) fail(ctx, path, `must be an array, got ${show(v)}`);
  if (v.length < min || v.length > max) {
    const want = min === max
      ? `exactly ${min}`
      : max === Number.MAX_SAFE_INTEGER
      ? `at least ${min}`
      : `${min} to ${max}`;
    fail(ctx, path, `must have ${want} entries, got ${v.length}`);
  }
  return v;
}

/** True when `n` is a power of two (1, 2, 4, ...). */
export function isPow2(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 1) return false;
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}
