/**
 * Notifications between the two sides of a shared-memory link: in-process,
 * a polled word in shared memory, or one byte over a UNIX socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InProcessNotifier } from "./mod.ts";
 * const [host, remote] = InProcessNotifier.pair();
 * host.notify(0);
 * assert(await remote.wait({ deadlineMs: 100 }));
 * ```
 *
 * @module
 */

export type { Notifier, NotifyWaitOptions } from "./types.ts";
export { InProcessNotifier } from "./in_process.ts";
export { type ShmWordMode, ShmWordNotifier, type ShmWordOptions } from "./shm_word.ts";
export { KICK_BYTE, type UnixConnectOptions, UnixSocketNotifier } from "./unix_socket.ts";
