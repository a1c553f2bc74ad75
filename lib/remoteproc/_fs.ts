/**
 * The small file-system interface the control backends write through, so
 * tests can record every write in order and simulate errors such as EBUSY.
 * Every failure is an {@linkcode OsError} carrying the errno.
 *
 * @module
 */

import { OsError, osErrorFrom } from "../errors.ts";

/** File operations used on sysfs and the firmware directory. */
export interface ControlFs {
  /** Read a whole (small) text file. */
  read(path: string): Promise<string>;
  /** Write `text` to an existing file in one write call (sysfs attribute semantics). */
  write(path: string, text: string): Promise<void>;
  /** Names of the entries of a directory. */
  list(dir: string): Promise<string[]>;
  /** Create or replace a regular file atomically (temporary file + rename). */
  install(path: string, bytes: Uint8Array): Promise<void>;
}

/** Largest file {@linkcode realControlFs} reads. */
const MAX_READ = 1 << 16;

/**
 * The real implementation over Deno's file APIs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realControlFs } from "./_fs.ts";
 * const dir = await Deno.makeTempDir();
 * await realControlFs.install(`${dir}/a`, new TextEncoder().encode("x"));
 * await realControlFs.write(`${dir}/a`, "start");
 * assert(await realControlFs.read(`${dir}/a`) === "start");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const realControlFs: ControlFs = {
  async read(path) {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { read: true });
    } catch (e) {
      throw osErrorFrom(e, "open", path);
    }
    try {
      const buf = new Uint8Array(MAX_READ);
      let n = 0;
      while (n < buf.length) {
        const r = await f.read(buf.subarray(n));
        if (r === null) break;
        n += r;
      }
      return new TextDecoder().decode(buf.subarray(0, n));
    } catch (e) {
      throw osErrorFrom(e, "read", path);
    } finally {
      f.close();
    }
  },
  async write(path, text) {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { write: true, truncate: true });
    } catch (e) {
      throw osErrorFrom(e, "open", path);
    }
    try {
      const bytes = new TextEncoder().encode(text);
      const n = await f.write(bytes);
      if (n !== bytes.length) {
        throw new OsError("write", 5, `${path} (short write ${n}/${bytes.length})`);
      }
    } catch (e) {
      throw osErrorFrom(e, "write", path);
    } finally {
      f.close();
    }
  },
  async list(dir) {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) names.push(e.name);
    } catch (e) {
      throw osErrorFrom(e, "readdir", dir);
    }
    return names.sort();
  },
  async install(path, bytes) {
    const tmp = `${path}.amp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeFile(tmp, bytes, { mode: 0o644 });
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw osErrorFrom(e, "install", path);
    }
  },
};
