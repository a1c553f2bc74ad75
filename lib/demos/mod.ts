/**
 * The seed's demos against a running remote (`amp rpmsg ping|test|matrix`,
 * `amp shmem demo`, `amp demo`), starting the remote's application on its
 * console when needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEMO_NAMES } from "./mod.ts";
 * assert(DEMO_NAMES.join() === "ping,test,matrix,shmem");
 * ```
 *
 * @module
 */

export * from "./run.ts";
