/**
 * The version of amp, read from `deno.json` (a JSON import, so `deno bundle`
 * inlines it).
 *
 * @module
 */

import meta from "../../deno.json" with { type: "json" };

/**
 * The `version` field of `deno.json`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./_version.ts";
 * assert(/^\d+\.\d+\.\d+/.test(VERSION));
 * ```
 */
export const VERSION: string = meta.version;
