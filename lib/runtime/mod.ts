/**
 * Process ownership of remote cores: the registry of running cores
 * (`amp status`), the owner process (`amp load`) with its control socket, the
 * requests other processes send it (stop, reload, status, console), the
 * shared serial console, process liveness, and the backend for each machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultStateDir } from "./mod.ts";
 * assert(defaultStateDir({ AMP_STATE_DIR: "/x" }) === "/x");
 * ```
 *
 * @module
 */

export * from "./backends.ts";
export * from "./client.ts";
export * from "./console.ts";
export * from "./control.ts";
export * from "./owner.ts";
export * from "./process.ts";
export * from "./registry.ts";
export * from "./locks.ts";
export * from "./status.ts";
