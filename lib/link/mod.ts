/**
 * What both ends of an rpmsg link share, whichever role they play: the
 * profile's notifier for a side, mapping a machine's existing memory, the
 * host's copy of the resource table (vring placement) and amp's optional
 * readiness word. The host (`lib/host`), the device role (`lib/device`) and
 * the simulated core (`lib/sim`) all build on it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { READY_MAGIC } from "./mod.ts";
 * assert(READY_MAGIC === 0x4650_4d41);
 * ```
 *
 * @module
 */

export * from "./notifier.ts";
export * from "./placement.ts";
export * from "./ready_word.ts";
export * from "./memory.ts";
