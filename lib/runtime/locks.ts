/**
 * The locks that keep two users from breaking one remote: one host session
 * per remote at a time, and one `amp remote` per shared-memory object and
 * per notification socket. Lock files live in the state directory; the
 * kernel drops a lock when its holder exits, so none is ever left stale.
 *
 * @module
 */

import type { MachineProfile } from "../machine/types.ts";
import { type HeldLock, lockName, tryLock } from "../util/lock.ts";
import { StateFile } from "./registry.ts";

async function lockDir(dir: string | undefined): Promise<string> {
  const sf = new StateFile(dir !== undefined ? { dir } : {});
  await sf.ensureDir();
  return sf.dir;
}

/**
 * What identifies a remote's shared memory: the backing of the region holding
 * its resource table, and the table's address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteKey } from "./locks.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * assert(remoteKey(OPENAMP_LINUX) === "shm:openamp.shm@0");
 * ```
 */
export function remoteKey(profile: MachineProfile): string {
  const { pa } = profile.layout.rscTable;
  const r = profile.regions.find((r) => pa >= r.pa && pa < r.pa + r.size);
  const b = r?.backing;
  const where = !b
    ? "unmapped"
    : b.kind === "shm"
    ? `shm:${b.name}`
    : b.kind === "file"
    ? `file:${b.path}`
    : b.kind === "uio"
    ? `uio:${b.device}`
    : b.kind === "devmem"
    ? `devmem:${b.path ?? "/dev/mem"}`
    : `heap:${profile.name}`;
  return `${where}@${pa}`;
}

/**
 * Hold the host-session lock of `profile`'s remote, or fail at once with
 * `AmpError` `BUSY` naming the holder ("Busy: host session (amp rpmsg
 * matrix) of pid N holds it").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sessionLock } from "./locks.ts";
 * import { SIM } from "../machine/profiles/sim.ts";
 * const dir = await Deno.makeTempDir();
 * const l = await sessionLock(SIM, "host session", dir);
 * await assert.rejects(sessionLock(SIM, "host session", dir), { code: "BUSY" });
 * l.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function sessionLock(
  profile: MachineProfile,
  what: string,
  dir?: string,
): Promise<HeldLock> {
  const d = await lockDir(dir);
  return tryLock(`${d}/${lockName("session", remoteKey(profile))}`, what);
}

/**
 * Hold the locks of an `amp remote` on `profile`: its shm objects and its
 * socket (each refused at once when another holds it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteLocks } from "./locks.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * const dir = await Deno.makeTempDir();
 * const l = await remoteLocks(OPENAMP_LINUX, dir);
 * await assert.rejects(remoteLocks(OPENAMP_LINUX, dir), { code: "BUSY" });
 * l.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function remoteLocks(profile: MachineProfile, dir?: string): Promise<HeldLock> {
  const d = await lockDir(dir);
  const names = profile.regions.flatMap((r) =>
    r.backing.kind === "shm" ? [`shm:${r.backing.name}`] : []
  );
  if (profile.notify.kind === "socket") names.push(`socket:${profile.notify.path}`);
  const held: HeldLock[] = [];
  try {
    for (const n of names) held.push(tryLock(`${d}/${lockName("remote", n)}`, "amp remote"));
  } catch (e) {
    for (const h of held) h.release();
    throw e;
  }
  return {
    path: held[0]?.path ?? d,
    release: () => {
      for (const h of held) h.release();
    },
  };
}

/**
 * Hold the lock of an `amp remote --vhost-user` on its socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vhostLock } from "./locks.ts";
 * const dir = await Deno.makeTempDir();
 * const l = await vhostLock("/tmp/x.sock", dir);
 * await assert.rejects(vhostLock("/tmp/x.sock", dir), { code: "BUSY" });
 * l.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function vhostLock(socketPath: string, dir?: string): Promise<HeldLock> {
  const d = await lockDir(dir);
  return tryLock(`${d}/${lockName("remote", `vhost:${socketPath}`)}`, "amp remote --vhost-user");
}
