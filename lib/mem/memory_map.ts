/**
 * A set of non-overlapping memory regions looked up by physical address.
 *
 * @module
 */

import { AmpError, MemoryBoundsError } from "../errors.ts";
import { hex, type MemoryRegion } from "./region.ts";

/**
 * The remote's memory as the host can reach it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryMap } from "./memory_map.ts";
 * import { heapRegion } from "./region.ts";
 * const map = new MemoryMap([heapRegion(0x9020_0000, 0x1000, { name: "image" })]);
 * assert(map.find(0x9020_0ff0, 16)?.name === "image");
 * assert(map.find(0x9020_0ff0, 17) === undefined);
 * map.close();
 * ```
 */
export class MemoryMap {
  #regions: MemoryRegion[] = [];

  /** Build a map from regions; they must not overlap. */
  constructor(regions: Iterable<MemoryRegion> = []) {
    for (const r of regions) this.add(r);
  }

  /** Regions sorted by base address. */
  get regions(): readonly MemoryRegion[] {
    return this.#regions;
  }

  /**
   * Add a region. Throws `MEM_OVERLAP` if it overlaps one already present,
   * `MEM_DUPLICATE` if it is already in the map, `MEM_CLOSED` if it is closed.
   */
  add(region: MemoryRegion): MemoryRegion {
    if (this.#regions.includes(region)) {
      throw new MemoryBoundsError("MEM_DUPLICATE", `Region ${region.name} is already in the map`);
    }
    if (region.closed) {
      throw new AmpError("MEM_CLOSED", `Cannot add region ${region.name}: it is closed`);
    }
    for (const r of this.#regions) {
      if (region.base < r.end && r.base < region.end) {
        throw new MemoryBoundsError(
          "MEM_OVERLAP",
          `Region ${region.name} [${hex(region.base)}, +${hex(region.size)}) overlaps ${r.name} [${
            hex(r.base)
          }, +${hex(r.size)})`,
        );
      }
    }
    this.#regions.push(region);
    this.#regions.sort((a, b) => a.base - b.base);
    return region;
  }

  /** The region that holds all of `[pa, pa + len)`, or undefined. */
  find(pa: number, len = 1): MemoryRegion | undefined {
    for (const r of this.#regions) if (r.contains(pa, len)) return r;
    return undefined;
  }

  /** Like {@linkcode find} but throws `MEM_UNMAPPED` naming the range. */
  get(pa: number, len = 1): MemoryRegion {
    const r = this.find(pa, len);
    if (!r) {
      throw new MemoryBoundsError(
        "MEM_UNMAPPED",
        `[${hex(pa)}, +${hex(len)}) is not inside any mapped region`,
      );
    }
    return r;
  }

  /** The region with this name, or undefined. */
  byName(name: string): MemoryRegion | undefined {
    return this.#regions.find((r) => r.name === name);
  }

  /** Close every region. A second call is harmless. */
  close(): void {
    for (const r of this.#regions) r.close();
  }

  /** `close()` for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
