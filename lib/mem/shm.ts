/**
 * POSIX shared memory objects (`/dev/shm/<name>`, as `shm_open` names them)
 * mapped as memory regions, and their removal.
 *
 * @module
 */

import { ConfigError, OsError } from "../errors.ts";
import { sysUnlink } from "./_libc.ts";
import { mapFile, type MapFileOptions } from "./mmap.ts";
import type { MemoryRegion } from "./region.ts";

/** Options for {@linkcode mapShm}. */
export interface MapShmOptions {
  /** Physical address of byte 0 of the object. Default 0 (addresses are file offsets). */
  base?: number;
  /** Create the object if missing and grow it to `size`. Default true. */
  create?: boolean;
  /** Permission bits for a created object. Default `0o600`. */
  mode?: number;
  /** Region name for errors. Default: the object name. */
  name?: string;
}

/** `/dev/shm/<name>` for a POSIX shared memory object name (one leading `/` allowed). */
function shmPath(name: string): string {
  const n = typeof name === "string" && name.startsWith("/") ? name.slice(1) : name;
  if (
    typeof n !== "string" || n.length === 0 || n.length > 255 || /[/\0]/.test(n) || n === "." ||
    n === ".."
  ) {
    throw new ConfigError(
      "SHM_BAD_NAME",
      `Shared memory name ${
        JSON.stringify(name)
      } must be 1-255 characters with no "/" after the first`,
    );
  }
  return `/dev/shm/${n}`;
}

/**
 * Map the POSIX shared memory object `name` (`/dev/shm/<name>`, e.g.
 * `"openamp.shm"`), bytes `[0, size)`, as physical `[base, base + size)`.
 * With `create` (the default) a missing object is created and a short one is
 * grown to `size`, as the first of two cooperating processes must do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapShm, removeShm } from "./shm.ts";
 * const name = `amp-doc-${Deno.pid}`;
 * try {
 *   const shm = mapShm(name, 0x1000);
 *   shm.setU8(0x10, 7);
 *   assert(shm.u8(0x10) === 7);
 *   shm.close();
 * } finally {
 *   removeShm(name);
 * }
 * ```
 */
export function mapShm(name: string, size: number, options: MapShmOptions = {}): MemoryRegion {
  const path = shmPath(name);
  const opts: MapFileOptions = {
    base: options.base ?? 0,
    size,
    create: options.create ?? true,
    name: options.name ?? name,
    // Like shm_open: a symlink in place of the object is refused (ELOOP).
    noFollow: true,
  };
  if (options.mode !== undefined) opts.mode = options.mode;
  return mapFile(path, opts);
}

/**
 * Remove the POSIX shared memory object `name`. Returns false when it did not
 * exist. Mappings already made stay valid until closed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapShm, removeShm } from "./shm.ts";
 * const name = `amp-doc-rm-${Deno.pid}`;
 * mapShm(name, 4096).close();
 * assert(removeShm(name) === true);
 * assert(removeShm(name) === false);
 * ```
 */
export function removeShm(name: string): boolean {
  const path = shmPath(name);
  try {
    sysUnlink(path);
    return true;
  } catch (e) {
    if (e instanceof OsError && e.errno === 2) return false;
    throw e;
  }
}
