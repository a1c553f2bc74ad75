/**
 * The `sim` machine's remote core: a separate process running amp's
 * device-role services (`lib/device`) over the machine's shared memory, with
 * a serial console that answers the seed firmware's shell commands — it
 * behaves like the seed firmware from the host's point of view (the
 * firmware's code is not executed) — and the control backend that launches it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSimServices, SIM_PROMPT } from "./mod.ts";
 * assert(defaultSimServices().map((s) => s.name).includes("rpmsg-client-sample"));
 * assert(SIM_PROMPT === "msh />");
 * ```
 *
 * @module
 */

export * from "./backend.ts";
export * from "./process.ts";
export * from "./shell.ts";
