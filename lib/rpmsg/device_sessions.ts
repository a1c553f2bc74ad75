/**
 * The remote (virtio device) side's session loop: wait for the host's
 * DRIVER_OK, (re)initialise the rpmsg bus with the negotiated features,
 * re-announce every endpoint, serve until the host resets the vdev, repeat.
 *
 * @module
 */

import { isAmpError, VirtioError } from "../errors.ts";
import { waitUntil } from "../util/wait.ts";
import type { SharedVdev } from "../virtio/vdev.ts";
import type { RpmsgDeviceBus } from "./device_bus.ts";
import type { RpmsgRunOptions } from "./types.ts";

/** Options for {@linkcode serveRpmsgRemote}. */
export interface ServeRemoteOptions {
  /** Stops the loop (resolves with the sessions served so far). */
  signal?: AbortSignal;
  /** Return after this many host sessions have ended (default: never). */
  maxSessions?: number;
  /** A host session started: DRIVER_OK seen, bus re-initialised, endpoints re-announced. */
  onSessionStart?: (session: number, features: number) => void;
  /** The host reset the vdev (or the ring broke and the host then reset it). */
  onSessionEnd?: (session: number) => void;
  /** Passed to `RpmsgDevice.run` for each session (hooks, idle wait). */
  run?: Omit<RpmsgRunOptions, "signal" | "stop">;
  /** A vring broke during a session (default: `console.error`); the loop waits for the host's reset. */
  onError?: (e: VirtioError) => void;
  /**
   * The features this device offers (its private copy of `dfeatures`): the
   * session uses `deviceFeatures & gfeatures`. Without it `dfeatures` is read
   * from the table in shared memory, which the host may have rewritten.
   */
  deviceFeatures?: number;
}

/**
 * Serve host sessions on a device-role bus ({@linkcode RpmsgDeviceBus}) until aborted.
 * Endpoints created on `device` survive across sessions and are announced
 * again each time (a second `start` of the host finds them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveRpmsgRemote } from "./device_sessions.ts";
 * import { createRpmsgDevice } from "./create.ts";
 * import { SharedVdev } from "../virtio/vdev.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/in_process.ts";
 * const shm = heapRegion(0, 0x20000);
 * shm.setU32(0x14, 3); // a vdev entry: type, ...
 * shm.setU32(0x14 + 12, 1); // ... dfeatures = NS
 * const layout = {
 *   vring0: { pa: 0x4000, num: 16, align: 0x1000 },
 *   vring1: { pa: 0x8000, num: 16, align: 0x1000 },
 *   pool: { base: 0x10000, size: 0x4000 },
 * };
 * const [nh, nr] = InProcessNotifier.pair();
 * const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
 * remote.createEndpoint({ name: "echo", onMessage: (d, _s, ep) => ep.trySend(d) });
 * const ac = new AbortController();
 * const served = serveRpmsgRemote(remote, new SharedVdev(shm, 0x14), {
 *   signal: ac.signal,
 *   onSessionStart: () => ac.abort(),
 * });
 * const vdev = new SharedVdev(shm, 0x14);
 * const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
 * vdev.writeGuestFeatures(1);
 * vdev.setDriverOk();
 * assert((await served) === 1);
 * ```
 */
export async function serveRpmsgRemote(
  device: RpmsgDeviceBus,
  vdev: SharedVdev,
  options: ServeRemoteOptions = {},
): Promise<number> {
  const { signal } = options;
  const max = options.maxSessions ?? Infinity;
  const onError = options.onError ?? ((e: VirtioError) => console.error(e.message));
  let sessions = 0;
  let ended = 0;
  while (!signal?.aborted && ended < max) {
    try {
      await vdev.waitDriverOk({ deadlineMs: 1000, ...(signal ? { signal } : {}) });
    } catch (e) {
      if (isAmpError(e) && (e.code === "TIMEOUT" || e.code === "ABORTED")) continue;
      if (!(e instanceof VirtioError)) throw e;
      // The driver failed the device (or the status byte is garbage): wait for a reset.
      onError(e);
      await waitUntil(() => vdev.status() === 0, { deadlineMs: 1000, signal, spinUs: 0 });
      continue;
    }
    const features = options.deviceFeatures === undefined
      ? vdev.negotiatedFeatures()
      : (options.deviceFeatures & vdev.guestFeatures()) >>> 0;
    const stop = () => vdev.statusReset();
    try {
      // A session starts on the rings the driver set up: a hostile or confused
      // driver can break them at once (the re-announcements already use them).
      device.reset({ features });
      sessions++;
      options.onSessionStart?.(sessions, features);
      await device.run({ ...options.run, ...(signal ? { signal } : {}), stop });
    } catch (e) {
      if (!(e instanceof VirtioError)) throw e;
      onError(e);
      // The ring is broken until the host starts over.
      while (!signal?.aborted && !stop()) {
        await waitUntil(stop, { deadlineMs: 1000, signal, spinUs: 0 });
      }
    }
    if (signal?.aborted) break;
    ended++;
    options.onSessionEnd?.(sessions);
  }
  return sessions;
}
