/**
 * The notifier a machine profile's `notify` spec describes, for either side.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import type { MachineProfile } from "../machine/types.ts";
import type { Notifier } from "../notify/types.ts";
import { ShmWordNotifier } from "../notify/shm_word.ts";
import { UnixSocketNotifier } from "../notify/unix_socket.ts";

/** Which end of the link: the host (virtio driver) or the remote (virtio device). */
export type LinkSide = "host" | "remote";

/** Options for {@linkcode profileNotifier}. */
export interface ProfileNotifierOptions {
  /** Host side of a socket: how long to retry connecting while nothing listens, ms (default 10000). */
  retryMs?: number;
}

/**
 * Create the notifier of `profile.notify` for `side`. A poll word in counter
 * mode uses `pa` for host-to-remote kicks and `watchPa` for the other
 * direction; the remote side swaps them. A socket is connected (host) or
 * listened on (remote). `inproc` has no cross-process form: ConfigError
 * `NOTIFY_INPROC`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileNotifier } from "./notifier.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { SIM } from "../machine/profiles/sim.ts";
 * const map = new MemoryMap([heapRegion(0x9000_0000, 0x1000)]);
 * const host = await profileNotifier(SIM, map, "host");
 * const remote = await profileNotifier(SIM, map, "remote");
 * host.notify(1);
 * assert(remote.pending() && !host.pending());
 * ```
 */
export async function profileNotifier(
  profile: MachineProfile,
  map: MemoryMap,
  side: LinkSide,
  options: ProfileNotifierOptions = {},
): Promise<Notifier> {
  const n = profile.notify;
  switch (n.kind) {
    case "poll-word": {
      const watch = n.watchPa ?? n.pa;
      const [notifyPa, watchPa] = side === "host" ? [n.pa, watch] : [watch, n.pa];
      return new ShmWordNotifier(map.get(Math.min(notifyPa, watchPa), 4), {
        notifyPa,
        watchPa,
        mode: n.mode,
      });
    }
    case "socket":
      return side === "host"
        ? await UnixSocketNotifier.connect(
          n.path,
          options.retryMs !== undefined ? { retryMs: options.retryMs } : {},
        )
        : UnixSocketNotifier.listen(n.path);
    case "inproc":
      throw new ConfigError(
        "NOTIFY_INPROC",
        `Machine "${profile.name}" notifies in-process; a separate host or remote process cannot use it`,
      );
  }
}
