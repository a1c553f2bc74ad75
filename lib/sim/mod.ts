/**
 * The simulated remote core of the `sim` machine: amp's device-role services
 * over the machine's shared memory, behaving like the rv64-virt demo firmware
 * from the host's point of view (the firmware's code is not executed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSimServices } from "./mod.ts";
 * assert(defaultSimServices().map((s) => s.name).includes("rpmsg-client-sample"));
 * ```
 *
 * @module
 */

export * from "./remote.ts";
export * from "./process.ts";
