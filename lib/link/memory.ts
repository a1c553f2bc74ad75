/**
 * Mapping the memory of a machine whose remote is already running: every
 * region of the profile, with shm objects and files never created (a missing
 * one means no remote runs).
 *
 * @module
 */

import { DEFAULT_MAPPERS, mapProfileRegions } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";
import type { MemoryMap } from "../mem/memory_map.ts";

/**
 * Map the regions of a machine whose memory already exists: shm objects and
 * files are never created (a missing one fails with `OsError` ENOENT instead
 * of leaving a fresh empty object behind).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapExistingMemory } from "./memory.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * let code = "";
 * try {
 *   await mapExistingMemory(simProfile({ prefix: `amp-doc-none-${Deno.pid}` }));
 * } catch (e) {
 *   code = (e as { code?: string }).code ?? "";
 * }
 * assert(code === "ENOENT");
 * ```
 */
export function mapExistingMemory(profile: MachineProfile): Promise<MemoryMap> {
  return mapProfileRegions(profile, {
    mappers: {
      shm: (s, roots) =>
        DEFAULT_MAPPERS.shm({ ...s, backing: { ...s.backing, create: false } }, roots),
      file: (s, roots) =>
        DEFAULT_MAPPERS.file({ ...s, backing: { ...s.backing, create: false } }, roots),
    },
  });
}
