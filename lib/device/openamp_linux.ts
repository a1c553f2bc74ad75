/**
 * amp as the remote (virtio device) on a machine where the remote is an
 * ordinary Linux process that publishes its own resource table, as upstream
 * OpenAMP's Linux machine port does (machines.md section 2, `openamp-linux`):
 *
 * 1. create the shared memory (O_CREAT, grown to the region size) and write
 *    the table at `layout.rscTable.pa`; nothing else is touched, as upstream's
 *    device apps do: the rings belong to the driver, which zeroes them before
 *    DRIVER_OK, so stale rings from an earlier run are never read;
 * 2. start the device-role runtime (`runtime.ts`) on it (it waits for
 *    DRIVER_OK, and only then touches the rings: announces, answers,
 *    re-initialises per host session);
 * 3. only then listen on the notification socket, so no host can start its
 *    handshake while the device side is still being set up;
 * 4. when the host's socket connection closes, the session is over: stop
 *    listening, write the table again (status 0, gfeatures 0) exactly as a
 *    freshly started upstream device app would, wait until the runtime has
 *    left the session, and listen again for the next host. Upstream's
 *    drivers never reset the status byte when they exit, so the socket is
 *    the only end-of-session signal they give; and like upstream, the socket
 *    file exists only while a device is ready for a host.
 *
 * On a machine notified by a poll word instead of a socket, sessions end when
 * the host resets the vdev (amp's host does on close).
 *
 * On stop the endpoints are destroyed (DESTROY is announced to a connected
 * host), the socket file and the shm object are removed.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Service } from "../apps/services.ts";
import { READY_WAITING } from "../link/ready_word.ts";
import { profileNotifier } from "../link/notifier.ts";
import { mapProfileRegions } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";
import { removeShm } from "../mem/shm.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion, hex } from "../mem/region.ts";
import type { Notifier } from "../notify/types.ts";
import type { RpmsgDevice } from "../rpmsg/device.ts";
import { startDevice } from "./runtime.ts";
import { SessionSocket } from "./_session_socket.ts";
import { remoteTable } from "./upstream_table.ts";
import { sleep } from "../util/wait.ts";

/** Options for {@linkcode startLinuxRemote}. */
export interface LinuxRemoteOptions {
  /** The machine: its control kind must be `openamp-linux` (notify: a socket, or a poll word). */
  profile: MachineProfile;
  /** The services, one endpoint each (see `remoteServices`). */
  services: Service[];
  /** Progress lines (table written, sessions). */
  log?: (line: string) => void;
  /** Stop after this many host sessions have ended (default: serve until stopped). */
  maxSessions?: number;
  /** Leave the shm object in place on stop (default: remove it). */
  keepShm?: boolean;
  /**
   * Poll period in ms (default 5) for what has no event: a poll-word
   * machine's session end (every 20 periods) and the runtime leaving a session.
   * A socket host's connect and disconnect wake the remote at once.
   */
  watchMs?: number;
  /** The bus's active window, ms (default 5; see `DeviceOptions.activeWindowMs`). */
  activeWindowMs?: number;
}

/** A running remote. */
export interface LinuxRemote {
  /** The machine served. */
  readonly profile: MachineProfile;
  /** Host sessions started (DRIVER_OK seen). */
  readonly sessions: number;
  /** Host sessions ended (the host's connection closed after its session started). */
  readonly sessionsEnded: number;
  /** The device-role rpmsg bus. */
  readonly device: RpmsgDevice;
  /** The remote's notifier (on `openamp-linux`: the socket, one listener per host session). */
  readonly notifier: Notifier;
  /** Kick bytes received from hosts over the socket so far (0 without a socket). */
  readonly kickBytesReceived: number;
  /** Settles when the remote has stopped and released everything (rejects on a fatal error). */
  readonly done: Promise<void>;
  /** Stop serving and release everything. */
  stop(): Promise<void>;
}

/**
 * Check that `profile` is a machine whose remote amp can be: the remote
 * publishes its table (control kind `openamp-linux`) and the sides notify
 * across processes. Returns the shm object names.
 */
function remoteMachine(profile: MachineProfile): string[] {
  if (profile.control.kind !== "openamp-linux") {
    throw new ConfigError(
      "REMOTE_MACHINE",
      `Machine "${profile.name}" starts its remote with "${profile.control.kind}"; amp runs as the remote only where the remote is a Linux process (control "openamp-linux")`,
    );
  }
  return profile.regions.flatMap((r) => r.backing.kind === "shm" ? [r.backing.name] : []);
}

/** Size of the private (process-local) block holding the runtime's state word. */
const STATE_BLOCK = 0x1000;

/** A physical address past every region of `profile`, for the private state block. */
function privateBase(profile: MachineProfile): number {
  let end = 0;
  for (const r of profile.regions) end = Math.max(end, r.pa + r.size);
  return Math.ceil(end / STATE_BLOCK) * STATE_BLOCK + STATE_BLOCK;
}

/**
 * Start amp as the remote of `options.profile` and return once the table is
 * published and the host may connect.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startLinuxRemote } from "./openamp_linux.ts";
 * import { remoteServices } from "./services.ts";
 * import { openampLinuxProfile } from "../machine/profiles/openamp_linux.ts";
 * const socketPath = `${Deno.makeTempDirSync()}/event`;
 * const profile = openampLinuxProfile({ shmName: `amp-doc-remote-${Deno.pid}.shm`, socketPath });
 * const remote = await startLinuxRemote({ profile, services: remoteServices(["echo"]) });
 * assert(remote.sessions === 0 && Deno.statSync(socketPath).isSocket === true);
 * await remote.stop();
 * let gone = false;
 * try {
 *   Deno.statSync(socketPath);
 * } catch {
 *   gone = true;
 * }
 * assert(gone);
 * ```
 */
export async function startLinuxRemote(options: LinuxRemoteOptions): Promise<LinuxRemote> {
  const { profile } = options;
  const log = options.log ?? (() => {});
  const watchMs = options.watchMs ?? 5;
  const shm = remoteMachine(profile);
  const table = remoteTable(profile);
  const tablePa = profile.layout.rscTable.pa;
  // The device side creates the shared memory (as upstream's device apps do).
  const memory: MemoryMap = await mapProfileRegions(profile);
  // The runtime reports "between sessions" through a state word; it lives in
  // process memory, not in the shared file, which keeps upstream's layout.
  const statePa = privateBase(profile);
  memory.add(heapRegion(statePa, STATE_BLOCK, { name: "remote state (private)" }));
  const state = memory.get(statePa, 4);
  const release = () => {
    memory.close();
    if (!options.keepShm) { for (const name of shm) removeShm(name); }
  };
  let notifier: Notifier | undefined;
  try {
    const tableRegion = memory.get(tablePa, table.length);
    const publish = () => tableRegion.write(tablePa, table);
    publish();
    const sock = profile.notify.kind === "socket" ? new SessionSocket(profile.notify.path) : null;
    notifier = sock ?? await profileNotifier(profile, memory, "remote");
    const sim = await startDevice({
      profile,
      memory,
      rscAddr: tablePa,
      rscSize: table.length,
      services: options.services,
      notifier,
      readyWord: statePa,
      shmemPa: null,
      log,
      activeWindowMs: options.activeWindowMs,
    });
    const n = notifier;
    sock?.listen();
    const how = profile.notify.kind === "socket"
      ? `listening on ${profile.notify.path}`
      : `notified by ${profile.notify.kind}`;
    log(
      `remote: table (${table.length} bytes) at ${hex(tablePa)} of ${
        shm.map((s) => `"${s}"`).join(", ")
      }; ${how}`,
    );
    let ended = 0;
    let stopping = false;
    const stopAc = new AbortController();
    const between = () => state.atomicLoadU32(statePa) === READY_WAITING;
    const countEnd = (): boolean => {
      if (sim.sessions <= ended) return false;
      ended = sim.sessions;
      return true;
    };
    const watch = (async () => {
      if (!sock) {
        // Poll-word machines: the host's vdev reset ends a session.
        while (!stopping) {
          await sleep(watchMs * 20);
          if (sim.sessions > ended && between()) {
            countEnd();
            if (options.maxSessions !== undefined && ended >= options.maxSessions) break;
          }
        }
        return;
      }
      let attached = false;
      while (!stopping) {
        // Wakes when a host connects or leaves (or at stop); the timeout only bounds it.
        await sock.waitConnectionChange(attached, { deadlineMs: 1000, signal: stopAc.signal });
        if (stopping) break;
        if (sock.connected) {
          attached = true;
          continue;
        }
        if (!attached) continue;
        attached = false;
        // The host is gone. No new host may come until the device is reset.
        sock.unlisten();
        publish();
        if (countEnd()) log(`remote: host disconnected; session ${ended} over, table rewritten`);
        else log("remote: host disconnected before DRIVER_OK; table rewritten");
        while (!stopping && !between()) await sleep(watchMs);
        if (options.maxSessions !== undefined && ended >= options.maxSessions) break;
        sock.listen();
      }
    })();
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        stopping = true;
        stopAc.abort();
        await watch;
        try {
          await sim.stop();
        } finally {
          release();
        }
      })();
      return stopped;
    };
    const done = (async () => {
      try {
        await Promise.race([watch, sim.done]);
      } finally {
        await stop();
      }
    })();
    return {
      profile,
      get sessions() {
        return sim.sessions;
      },
      get sessionsEnded() {
        return ended;
      },
      device: sim.device,
      notifier: n,
      get kickBytesReceived() {
        return sock?.bytesReceived ?? 0;
      },
      done,
      stop: async () => {
        await stop();
        await done;
      },
    };
  } catch (e) {
    notifier?.close();
    release();
    throw e;
  }
}
