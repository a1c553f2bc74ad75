/**
 * Bounded memory regions addressed by physical address, the map that holds
 * them, and the ways to back them with real memory: `mmap` of files, POSIX
 * shared memory, `/dev/mem` and UIO devices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion, MemoryMap } from "./mod.ts";
 * const map = new MemoryMap([heapRegion(0x9010_0000, 0x1000, { name: "shm" })]);
 * map.get(0x9010_0000, 4).setU32(0x9010_0000, 1);
 * assert(map.get(0x9010_0000).u32(0x9010_0000) === 1);
 * map.close();
 * ```
 *
 * @module
 */

export {
  heapRegion,
  hex,
  MemoryRegion,
  type MemoryRegionOptions,
  type ReleaseFn,
} from "./region.ts";
export { MemoryMap } from "./memory_map.ts";
export {
  findOrBindUio,
  findUio,
  mapDevMem,
  type MapDevMemOptions,
  mapFile,
  type MapFileOptions,
  mapShm,
  type MapShmOptions,
  mapUio,
  type MapUioOptions,
  pageSize,
  readUioMap,
  removeShm,
  type UioLookupOptions,
  type UioMapInfo,
  type UioOptions,
} from "./mmap.ts";
