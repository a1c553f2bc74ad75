/**
 * Exclusive locks on shared resources (a remote's host session, an `amp
 * remote`'s shared memory and socket): a `flock` on a lock file, taken at
 * once or refused at once with the holder named. The kernel drops the lock
 * when its holder exits, however it exits, so a lock is never left stale;
 * the lock file itself may stay (it holds nothing but the last holder's note).
 *
 * @module
 */

import { AmpError, ConfigError } from "../errors.ts";

/** A held lock. */
export interface HeldLock {
  /** The lock file. */
  readonly path: string;
  /** Release it (a second call is harmless). */
  release(): void;
}

/** What a holder writes into its lock file, shown to whoever is refused. */
export interface LockNote {
  /** The holder's pid. */
  pid: number;
  /** What holds it, e.g. `"host session (amp rpmsg matrix)"`. */
  what: string;
}

const MAX_NOTE = 4096;

function readNote(f: Deno.FsFile): LockNote | undefined {
  try {
    const buf = new Uint8Array(MAX_NOTE);
    f.seekSync(0, Deno.SeekMode.Start);
    const n = f.readSync(buf) ?? 0;
    const v = JSON.parse(new TextDecoder().decode(buf.subarray(0, n)));
    if (typeof v?.pid === "number" && typeof v?.what === "string") return v as LockNote;
  } catch { /* no note, or a torn one */ }
  return undefined;
}

/**
 * Take the lock at `path` now, or fail with `AmpError` `BUSY` naming the
 * holder ("busy: host session of pid N"). The directory must exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tryLock } from "./lock.ts";
 * const dir = await Deno.makeTempDir();
 * const a = tryLock(`${dir}/x.lock`, "host session");
 * assert.throws(() => tryLock(`${dir}/x.lock`, "host session"), { code: "BUSY" });
 * a.release();
 * tryLock(`${dir}/x.lock`, "host session").release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function tryLock(path: string, what: string): HeldLock {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch (e) {
    throw new ConfigError(
      "LOCK_OPEN",
      `Cannot open the lock file ${path}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  // flock locks belong to the open file description: a second open in this
  // process is refused too, as another process would be.
  if (!f.tryLockSync(true)) {
    const note = readNote(f);
    f.close();
    throw new AmpError(
      "BUSY",
      note
        ? `Busy: ${note.what} of pid ${note.pid} holds it (${path})`
        : `Busy: another process holds ${path}`,
    );
  }
  try {
    f.truncateSync(0);
    f.writeSync(new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, what })));
  } catch { /* the note is only informative */ }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        f.unlockSync();
      } catch { /* closing drops it too */ }
      f.close();
    },
  };
}

/**
 * A lock file name for a resource named by arbitrary text (a path, a shm
 * name): letters, digits, `.`, `_` and `-` kept, everything else `_`, plus a
 * short hash so different names never share a lock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockName } from "./lock.ts";
 * assert(lockName("remote", "/tmp/openamp.event.0").startsWith("remote-_tmp_openamp.event.0-"));
 * assert(lockName("a", "x/y") !== lockName("a", "x_y"));
 * ```
 */
export function lockName(kind: string, resource: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < resource.length; i++) {
    h ^= resource.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const safe = resource.replace(/[^A-Za-z0-9._-]/g, "_").slice(-80);
  return `${kind}-${safe}-${h.toString(16).padStart(8, "0")}.lock`;
}
