/**
 * Diagnostics, read-only: firmware inspection before loading (`amp
 * inspect`), the remote's trace buffer (`amp trace`) and the rpmsg vdev and
 * its vrings on a live machine (`amp vring dump`), with the names of the
 * numbers they report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTraceRing, statusNames } from "./mod.ts";
 * assert(new TextDecoder().decode(decodeTraceRing(new TextEncoder().encode("hi\0\0")).bytes) === "hi");
 * assert(statusNames(4)[0] === "DRIVER_OK");
 * ```
 *
 * @module
 */

export * from "./inspect.ts";
export * from "./names.ts";
export * from "./trace.ts";
export * from "./vring_dump.ts";
export * from "./live_map.ts";
