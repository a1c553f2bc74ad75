/**
 * Map a machine's memory for looking only: every region read-only and
 * nothing created (a diagnostic tool must never create or size shared-memory
 * objects, or write into a live channel). UIO maps keep the default mapper.
 *
 * @module
 */

import type { MemoryMap } from "../mem/memory_map.ts";
import { mapDevMem, mapFile } from "../mem/mmap.ts";
import { DEFAULT_MAPPERS, mapProfileRegions, type RegionMappers } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";

/** Mappers that open files, shm objects and `/dev/mem` read-only, never creating anything. */
export const READ_ONLY_MAPPERS: Readonly<RegionMappers> = {
  ...DEFAULT_MAPPERS,
  file: (s) =>
    mapFile(s.backing.path, {
      base: s.pa,
      size: s.size,
      offset: s.backing.offset ?? 0,
      readOnly: true,
      name: s.name,
    }),
  shm: (s) =>
    mapFile(`/dev/shm/${s.backing.name}`, {
      base: s.pa,
      size: s.size,
      readOnly: true,
      name: s.name,
    }),
  devmem: (s) =>
    mapDevMem(s.pa, s.size, {
      ...(s.backing.path === undefined ? {} : { path: s.backing.path }),
      name: s.name,
      readOnly: true,
    }),
};

/** Options for {@linkcode mapForReading}. */
export interface MapForReadingOptions {
  /** Replace mappers (tests). */
  mappers?: Partial<RegionMappers>;
}

/**
 * Map every region of `profile` read-only (see {@linkcode READ_ONLY_MAPPERS}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapForReading } from "./live_map.ts";
 * import { qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
 * let code = "";
 * try {
 *   await mapForReading(qemuRv64Profile({ name: "no-such-amp-machine" }));
 * } catch (e) {
 *   code = (e as { code?: string }).code ?? "";
 * }
 * assert(code === "ENOENT");
 * ```
 */
export function mapForReading(
  profile: MachineProfile,
  options: MapForReadingOptions = {},
): Promise<MemoryMap> {
  return mapProfileRegions(profile, { mappers: { ...READ_ONLY_MAPPERS, ...options.mappers } });
}
