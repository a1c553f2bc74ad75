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
  type AccessObserver,
  heapRegion,
  hex,
  MemoryRegion,
  type MemoryRegionOptions,
  observeAccesses,
  type ReleaseFn,
} from "./region.ts";
export { MemoryMap } from "./memory_map.ts";
export {
  mapDevMem,
  type MapDevMemOptions,
  mapFile,
  type MapFileOptions,
  pageSize,
} from "./mmap.ts";
export { mapShm, type MapShmOptions, removeShm } from "./shm.ts";
export {
  findOrBindUio,
  findUio,
  mapUio,
  type MapUioOptions,
  readUioMap,
  type UioLookupOptions,
  type UioMapInfo,
  type UioOptions,
} from "./uio.ts";
