/**
 * Diagnostics of a live machine, read-only: the remote's trace buffer
 * (`amp trace`) and the rpmsg vdev and its vrings (`amp vring dump`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTraceRing, statusBitNames } from "./mod.ts";
 * assert(new TextDecoder().decode(decodeTraceRing(new TextEncoder().encode("hi\0\0")).bytes) === "hi");
 * assert(statusBitNames(4)[0] === "DRIVER_OK");
 * ```
 *
 * @module
 */

export * from "./trace.ts";
export * from "./vring_dump.ts";
export * from "./live_map.ts";
