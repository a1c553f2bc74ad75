/**
 * The options and plug-ins of a host session ({@linkcode HostSession} in
 * `session.ts`): how an application is started on the remote, and what the
 * session and its channels may be told.
 *
 * @module
 */

import type { MemoryMap } from "../mem/memory_map.ts";
import type { Notifier } from "../notify/types.ts";

/** Starts an application on the remote when none waits for a host. */
export interface AppStarter {
  /** What is started, for messages, e.g. `"rpmsg_echo" typed on the console of cpu 1`. */
  readonly what: string;
  /**
   * True when the user asked for it (`--start`): a remote that already waits
   * is then used as is, with a warning, instead of being started twice.
   */
  readonly explicit: boolean;
  /** Start it (e.g. type the command). */
  start(): Promise<void>;
  /** The last lines the remote printed, for a failure message. */
  tail?(): Promise<string>;
}

/** Options for {@linkcode HostSession.open}. */
export interface HostSessionOptions {
  /** Use this memory instead of mapping the profile's regions (the caller keeps ownership). */
  memory?: MemoryMap;
  /** Use this notifier instead of the profile's (the session closes it). */
  notifier?: Notifier;
  /** Longest wait for the remote (an application, the reset, a service), ms (default 5000). */
  timeoutMs?: number;
  /** Progress lines ("vdev reset", "DRIVER_OK"...). */
  log?: (line: string) => void;
  /** Aborts waits. */
  signal?: AbortSignal;
  /** Starts a remote application when none waits (default: none; see {@linkcode AppStarter}). */
  starter?: AppStarter;
  /**
   * The firmware's own resource table bytes: a copy equal to it in shared
   * memory means an application waits, whatever its vring addresses.
   */
  firmwareTable?: Uint8Array;
  /**
   * Called while the session waits: throw to end the wait with the reason
   * (e.g. "the remote core stopped"), instead of a timeout.
   */
  check?: () => void;
  /** Called once the session is closed (or failed to open), e.g. to release a lock. */
  onClose?: () => void;
  /**
   * How long after a message the bus's waits keep looking at the rings
   * before they block, ms (default 5; see `RpmsgDeviceOptions.activeWindowMs`).
   */
  activeWindowMs?: number;
}

/** Options for {@linkcode HostSession.channel}. */
export interface ChannelOptions {
  /** Longest wait for the remote to announce the service, ms (default: the session's). */
  timeoutMs?: number;
}

/** Options for {@linkcode HostSession.pickService}. */
export interface PickServiceOptions extends ChannelOptions {
  /** Once a less preferred name is seen, how long a better one may still come, ms (default 300). */
  graceMs?: number;
}
