/**
 * Machine profiles: platform specifics as data (machines.md) — the types,
 * their validation, the built-ins (`rv64-virt`, `qemu-rv64`, `sim`,
 * `openamp-linux`), loading by name or file, and mapping a profile's memory
 * regions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadProfile, regionWithRole } from "./mod.ts";
 * const p = await loadProfile("rv64-virt");
 * assert(regionWithRole(p, "shm")?.name === "90100000.shm");
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./validate.ts";
export * from "./load.ts";
export * from "./profiles/mod.ts";
export {
  DEFAULT_MAPPERS,
  type MapProfileOptions,
  mapProfileRegions,
  type RegionMapper,
  type RegionMappers,
  type UioRoots,
} from "./map.ts";
