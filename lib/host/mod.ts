/**
 * The host (virtio driver) side of a running remote: rpmsg sessions and
 * channels, the profile's notifier, and the demo firmware's conventions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteConventions } from "./mod.ts";
 * assert(remoteConventions({ name: "rv64-virt" }).stateWord?.statePa === 0x9000_2008);
 * ```
 *
 * @module
 */

export * from "./session.ts";
export * from "./notifier.ts";
export * from "./conventions.ts";
