/**
 * File access for CLI commands, with Deno's I/O errors turned into amp's
 * {@linkcode OsError} so the CLI reports them as one clean line.
 *
 * @module
 */

import { osErrorFrom } from "../errors.ts";

/**
 * Turn an error thrown by a Deno file API into an {@linkcode OsError};
 * anything else is returned unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toOsError } from "./_files.ts";
 * import { isAmpError } from "../errors.ts";
 * const e = toOsError(new Deno.errors.NotFound("No such file or directory (os error 2)"), "read", "x");
 * assert(isAmpError(e) && e.message.includes("ENOENT"));
 * ```
 */
export function toOsError(e: unknown, syscall: string, target: string): unknown {
  if (!(e instanceof Error) || !Object.values(Deno.errors).some((c) => e instanceof c)) return e;
  return osErrorFrom(e, syscall, target);
}

/**
 * Read a whole file; failures become {@linkcode OsError} naming the path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readInputFile } from "./_files.ts";
 * import { OsError } from "../errors.ts";
 * try {
 *   await readInputFile("/nonexistent/fw.elf");
 *   assert(false);
 * } catch (e) {
 *   assert(e instanceof OsError && e.errno === 2);
 * }
 * ```
 */
export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw toOsError(e, "read", path);
  }
}
