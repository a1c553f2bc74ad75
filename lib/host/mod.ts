/**
 * The host (virtio driver) side of a running remote: what the remote is
 * doing ({@linkcode probeRemote}), rpmsg sessions ({@linkcode HostSession})
 * and their message channels ({@linkcode RpmsgChannel}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HOST_FEATURES } from "./mod.ts";
 * assert(HOST_FEATURES === 1); // name service
 * ```
 *
 * @module
 */

export * from "./session.ts";
export * from "./channel.ts";
export * from "./probe.ts";
