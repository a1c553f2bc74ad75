/**
 * Map a machine profile's regions into a {@linkcode MemoryMap}, each through
 * the mechanism its `backing` names (UIO, a file, a shm object, `/dev/mem`,
 * heap). The dispatch is a table keyed by backing kind; tests and special
 * setups can replace any entry.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import {
  findOrBindUio,
  mapDevMem,
  mapFile,
  mapShm,
  mapUio,
  type UioLookupOptions,
} from "../mem/mod.ts";
import { heapRegion, hex, type MemoryRegion } from "../mem/region.ts";
import type { MachineProfile, RegionBacking, RegionSpec } from "./types.ts";

/** Where to find UIO devices, and whether to bind them (machines.md section 1). */
export interface UioRoots {
  /** Root of sysfs (default `/sys`). */
  sysfsRoot?: string;
  /** Directory holding the `uioN` device nodes (default `/dev`). */
  devRoot?: string;
  /**
   * Bind a device that is on its bus but not bound to UIO to
   * `uio_pdrv_genirq` before mapping it (see `findOrBindUio`). Default true.
   */
  bind?: boolean;
  /** After binding, how long to wait for the UIO device to appear, in ms (default 1000). */
  bindTimeoutMs?: number;
}

/** Maps one region; may return a region larger than asked (it is narrowed). */
export type RegionMapper<B extends RegionBacking = RegionBacking> = (
  spec: RegionSpec & { backing: B },
  roots: UioRoots,
) => MemoryRegion | Promise<MemoryRegion>;

/** One mapper per backing kind. */
export type RegionMappers = {
  [K in RegionBacking["kind"]]: RegionMapper<RegionBacking & { kind: K }>;
};

/** The mappers used by default, on top of `lib/mem/mmap.ts`. */
export const DEFAULT_MAPPERS: Readonly<RegionMappers> = {
  uio: async (s, roots) => {
    const opts: UioLookupOptions = {};
    if (roots.sysfsRoot !== undefined) opts.sysfsRoot = roots.sysfsRoot;
    if (roots.devRoot !== undefined) opts.devRoot = roots.devRoot;
    if (roots.bind !== undefined) opts.bind = roots.bind;
    if (roots.bindTimeoutMs !== undefined) opts.bindTimeoutMs = roots.bindTimeoutMs;
    const { device, map } = s.backing;
    const uio = await findOrBindUio(device, opts);
    return mapUio(uio, map, { ...opts, name: map === 0 ? device : `${device}:map${map}` });
  },
  file: (s) =>
    mapFile(s.backing.path, {
      base: s.pa,
      size: s.size,
      offset: s.backing.offset ?? 0,
      create: s.backing.create ?? false,
      name: s.name,
    }),
  shm: (s) =>
    mapShm(s.backing.name, s.size, {
      base: s.pa,
      create: s.backing.create ?? false,
      name: s.name,
    }),
  devmem: (s) =>
    mapDevMem(
      s.pa,
      s.size,
      s.backing.path === undefined ? { name: s.name } : { path: s.backing.path, name: s.name },
    ),
  heap: (s) => heapRegion(s.pa, s.size, { name: s.name, shared: true }),
};

/** Options for {@linkcode mapProfileRegions}. */
export interface MapProfileOptions extends UioRoots {
  /** Replace some mappers (e.g. `{ uio: ... }` in tests). */
  mappers?: Partial<RegionMappers>;
}

/**
 * Bring a mapped region to exactly `[spec.pa, +spec.size)`. A region that
 * covers more is narrowed with `sub()` and the parent is released when the
 * child's owner closes the map (the returned `release`).
 */
function fit(
  spec: RegionSpec,
  r: MemoryRegion,
): { region: MemoryRegion; parent?: MemoryRegion } {
  if (!r.contains(spec.pa, spec.size)) {
    r.close();
    throw new ConfigError(
      "MAP_MISMATCH",
      `Region ${spec.name}: the ${spec.backing.kind} mapping covers [${hex(r.base)}, +${
        hex(r.size)
      }), which does not contain the profile's [${hex(spec.pa)}, +${hex(spec.size)})`,
    );
  }
  if (r.base === spec.pa && r.size === spec.size && r.name === spec.name) return { region: r };
  return { region: r.sub(spec.pa, spec.size, spec.name), parent: r };
}

/**
 * A {@linkcode MemoryMap} whose `close()` also releases the parents of
 * narrowed regions.
 */
class ProfileMemoryMap extends MemoryMap {
  #parents: MemoryRegion[] = [];
  adopt(parent: MemoryRegion): void {
    this.#parents.push(parent);
  }
  override close(): void {
    super.close();
    for (const p of this.#parents) p.close();
    this.#parents = [];
  }
}

/**
 * Map every region of `profile`. On any failure the regions already mapped are
 * released before the error propagates. Each region is named as in the profile
 * and spans exactly its `[pa, +size)` (a larger mapping, e.g. a UIO map, is
 * narrowed; one that does not cover the range fails with `MAP_MISMATCH`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapProfileRegions } from "./map.ts";
 * import { validateProfile } from "./validate.ts";
 * import { RV64_VIRT } from "./profiles/rv64_virt.ts";
 * const p = validateProfile({
 *   ...RV64_VIRT,
 *   regions: RV64_VIRT.regions.map((r) => ({ ...r, backing: { kind: "heap" } })),
 * }, "heap copy");
 * const map = await mapProfileRegions(p);
 * assert(map.get(0x9010_0000, 16).name === "90100000.shm");
 * map.close();
 * ```
 */
export async function mapProfileRegions(
  profile: MachineProfile,
  options: MapProfileOptions = {},
): Promise<MemoryMap> {
  const mappers = { ...DEFAULT_MAPPERS, ...options.mappers } as RegionMappers;
  const roots: UioRoots = {};
  if (options.sysfsRoot !== undefined) roots.sysfsRoot = options.sysfsRoot;
  if (options.devRoot !== undefined) roots.devRoot = options.devRoot;
  if (options.bind !== undefined) roots.bind = options.bind;
  if (options.bindTimeoutMs !== undefined) roots.bindTimeoutMs = options.bindTimeoutMs;
  const map = new ProfileMemoryMap();
  try {
    for (const spec of profile.regions) {
      const mapper = mappers[spec.backing.kind] as RegionMapper;
      const { region, parent } = fit(spec, await mapper(spec, roots));
      if (parent) map.adopt(parent);
      try {
        map.add(region);
      } catch (e) {
        region.close();
        throw e;
      }
    }
  } catch (e) {
    map.close();
    throw e;
  }
  return map;
}
