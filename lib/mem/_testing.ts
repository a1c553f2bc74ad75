/**
 * Helpers shared by the mem tests (mmap, shm, uio): error assertions, unique
 * shm names, pattern files, and what this process has mapped and open.
 *
 * @module
 */

import assert from "node:assert/strict";
import { isAmpError, OsError } from "../errors.ts";
import { pageSize } from "./mmap.ts";

/** The page size of this machine. */
export const PAGE: number = pageSize();

/** Assert that `fn` throws an amp error with `code`. */
export function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, code, String(e));
    return true;
  });
}

/** Assert that `fn` throws an OsError from `syscall` with `errno`. */
export function throwsErrno(fn: () => unknown, errno: number, syscall: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OsError, `not an OsError: ${e}`);
    assert.equal(e.errno, errno, e.message);
    assert.equal(e.syscall, syscall);
    return true;
  });
}

let counter = 0;

/** A shm object name unique to this process and call. */
export function shmName(): string {
  return `amp-test-${Deno.pid}-${++counter}`;
}

/** Mapped file paths of this process (from /proc/self/maps). */
export function mappedPaths(): string {
  return Deno.readTextFileSync("/proc/self/maps");
}

/**
 * Descriptors of this process open on any of `paths`. Other tests running in
 * the same process open and close descriptors of their own, so a plain count
 * of /proc/self/fd would be racy.
 */
export function fdsOpenOn(...paths: string[]): number {
  const wanted = paths.map((p) => Deno.realPathSync(p));
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (wanted.includes(Deno.readLinkSync(`/proc/self/fd/${e.name}`))) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

/** A temp file holding `len` bytes where byte i is `(i * 7 + 3) & 0xff`. */
export function patternFile(len: number): string {
  const path = Deno.makeTempFileSync({ prefix: "amp-mmap-" });
  const data = new Uint8Array(len);
  for (let i = 0; i < len; i++) data[i] = (i * 7 + 3) & 0xff;
  Deno.writeFileSync(path, data);
  return path;
}

/** The byte at offset `i` of a {@linkcode patternFile}. */
export function pattern(i: number): number {
  return (i * 7 + 3) & 0xff;
}
