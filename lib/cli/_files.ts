/**
 * Files the CLI reads on a user's behalf (`amp inspect FILE`, `amp rpmsg send
 * --file FILE`): bounded like every input (`lib/util/files.ts`): regular
 * files only, a size cap per use, a deadline.
 *
 * @module
 */

import { readBoundedFile } from "../util/files.ts";

/** Largest file `amp inspect` reads (an ELF with symbols and debug info). */
export const MAX_INSPECT_BYTES = 256 * 1024 * 1024;

/** Largest file `amp rpmsg send --file` sends (split into messages of one buffer each). */
export const MAX_SEND_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Read a user's input file: a regular file of at most `maxBytes` bytes.
 * `ConfigError` `FILE_READ` naming the file and why otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readInputFile } from "./_files.ts";
 * const e = await readInputFile("/nonexistent/fw.elf").catch((e) => e);
 * assert(e.message === "Cannot read file /nonexistent/fw.elf: no such file");
 * ```
 */
export function readInputFile(
  path: string,
  options: { maxBytes?: number; what?: string } = {},
): Promise<Uint8Array> {
  return readBoundedFile(path, {
    maxBytes: options.maxBytes ?? MAX_INSPECT_BYTES,
    what: options.what ?? "file",
  });
}
