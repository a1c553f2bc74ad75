/**
 * Machine profiles: platform specifics as data (machines.md), their
 * validation, the built-ins (`rv64-virt`, `sim`, `openamp-linux`) and mapping
 * a profile's memory regions.
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

export * from "./profile.ts";
export * from "./profiles/mod.ts";
export {
  DEFAULT_MAPPERS,
  type MapProfileOptions,
  mapProfileRegions,
  type RegionMapper,
  type RegionMappers,
  type UioRoots,
} from "./map.ts";
