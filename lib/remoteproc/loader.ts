/**
 * Place an ELF firmware image into the remote's memory (openamp-wire.md
 * section 2): every `PT_LOAD` segment at its `p_paddr`, file bytes copied and
 * the rest zero-filled up to `p_memsz`, then the resource table written at its
 * section address.
 *
 * Placement is checked completely before the first byte is written, so a
 * refused image leaves memory untouched.
 *
 * @module
 */

import { ConfigError, LoadError } from "../errors.ts";
import { type ElfImage, PT_LOAD } from "../elf/types.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import { findResourceTable } from "../rsc/elf.ts";
import type { ResourceTable } from "../rsc/types.ts";

/** Default bytes copied or zeroed between two progress callbacks. */
export const DEFAULT_LOAD_CHUNK = 256 * 1024;

/** Options for {@linkcode planLoad}. */
export interface PlanLoadOptions {
  /** Firmware name for messages, e.g. `"fw.elf"`. */
  name?: string;
  /**
   * Where the live resource table goes (e.g. the shared-memory copy the host
   * processes). It must fit in one region too.
   */
  rscTableAddr?: number;
}

/** Options for {@linkcode loadElf}. */
export interface LoadOptions extends PlanLoadOptions {
  /** Called after each chunk with bytes done (copied + zeroed) and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Bytes per chunk; default {@linkcode DEFAULT_LOAD_CHUNK}. */
  chunkSize?: number;
}

/** One segment placed in memory. */
export interface LoadedSegment {
  /** Index in the program header table. */
  index: number;
  /** Load address (`p_paddr`). */
  paddr: number;
  /** File offset of the segment's bytes (`p_offset`). */
  offset: number;
  /** Bytes copied from the file (`p_filesz`). */
  filesz: number;
  /** Bytes occupied in memory (`p_memsz`); the part past `filesz` is zeroed. */
  memsz: number;
  /** The region holding all of `[paddr, paddr + memsz)`. */
  region: MemoryRegion;
}

/** The resource table of a load. */
export interface LoadedResourceTable {
  /** Where the live table is: `rscTableAddr` if given, else the section address. */
  addr: number;
  /** The section address (`sh_addr`) the firmware's own copy is written to. */
  imageAddr: number;
  /** The parsed table. */
  table: ResourceTable;
  /** The section's bytes as written (a private copy). */
  bytes: Uint8Array;
}

/** A non-fatal finding of {@linkcode planLoad}. */
export interface LoadWarning {
  /** Stable identifier of the finding, e.g. `"LOAD_ENTRY_OUTSIDE_SEGMENTS"`. */
  code: string;
  /** What is odd, with the numbers. */
  message: string;
}

/** What {@linkcode planLoad} decided, without writing anything. */
export interface LoadPlan {
  /** Boot address (e_entry). */
  entry: number;
  /** Segments to load, in program header order (PT_LOAD with memsz > 0). */
  segments: LoadedSegment[];
  /** The resource table and where it goes; absent when the firmware has none. */
  rsc?: LoadedResourceTable;
  /** Sum of every segment's memsz: the bytes a load copies or zeroes. */
  totalBytes: number;
  /** Odd but loadable findings (e.g. the entry point is outside every segment). */
  warnings: LoadWarning[];
}

/** What {@linkcode loadElf} did. */
export interface LoadResult {
  /** Boot address (e_entry). */
  entry: number;
  /** The resource table written, and where; absent when the firmware has none. */
  rsc?: LoadedResourceTable;
  /** Segments loaded, in program header order. */
  segments: LoadedSegment[];
  /** File bytes copied into memory. */
  bytesCopied: number;
  /** Bytes zero-filled (memsz - filesz, summed). */
  bytesZeroed: number;
  /** Odd but loadable findings, as in the plan. */
  warnings: LoadWarning[];
}

function range(pa: number, len: number): string {
  return `[${hex(pa)}, +${hex(len)})`;
}

/** The "outside" error, naming the regions a straddling range touches. */
function placementError(
  prefix: string,
  what: string,
  map: MemoryMap,
  pa: number,
  len: number,
): LoadError {
  const touched = map.regions.filter((r) => pa < r.end && r.base < pa + len);
  const where = `${what} ${range(pa, len)}`;
  if (touched.length === 0) {
    return new LoadError(
      "LOAD_OUTSIDE_REGIONS",
      `${prefix}: ${where} is outside every memory region`,
    );
  }
  const names = touched.map((r) => `${r.name} ${range(r.base, r.size)}`);
  const detail = touched.length === 1
    ? `it overruns ${names[0]}`
    : `it spans ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return new LoadError(
    "LOAD_OUTSIDE_REGIONS",
    `${prefix}: ${where} is not inside one memory region: ${detail}`,
  );
}

/**
 * Check where every part of an image would go, without writing. Throws
 * {@linkcode LoadError} `LOAD_OUTSIDE_REGIONS` for a segment that does not fit
 * entirely in one region, `LOAD_RSC_OUTSIDE_REGIONS` for a resource table
 * that does not, `LOAD_BAD_SEGMENT` for a segment with `filesz > memsz` or
 * data outside the file, and any `ResourceTableError` of the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "../elf/writer.ts";
 * import { parseElf } from "../elf/reader.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { planLoad } from "./loader.ts";
 * const img = parseElf(buildElf({
 *   segments: [{ paddr: 0x9020_0000, data: new Uint8Array(0x100), memsz: 0x1000 }],
 * }));
 * const map = new MemoryMap([heapRegion(0x9020_0000, 0x10000, { name: "image" })]);
 * const plan = planLoad(img, map);
 * assert(plan.segments[0]?.region.name === "image" && plan.totalBytes === 0x1000);
 * ```
 */
export function planLoad(img: ElfImage, map: MemoryMap, options: PlanLoadOptions = {}): LoadPlan {
  const label = options.name === undefined ? "firmware" : `firmware "${options.name}"`;
  const prefix = `Cannot load ${label}`;
  const segments: LoadedSegment[] = [];
  let totalBytes = 0;
  for (const s of img.segments) {
    if (s.type !== PT_LOAD || s.memsz === 0) continue;
    // The reader guarantees these; a hand-made ElfImage might not.
    if (
      !Number.isSafeInteger(s.filesz) || !Number.isSafeInteger(s.memsz) ||
      !Number.isSafeInteger(s.offset) || s.filesz < 0 || s.filesz > s.memsz || s.offset < 0 ||
      s.offset > img.bytes.length || s.filesz > img.bytes.length - s.offset
    ) {
      throw new LoadError(
        "LOAD_BAD_SEGMENT",
        `${prefix}: segment ${s.index} has filesz ${hex(s.filesz)}, memsz ${hex(s.memsz)} ` +
          `at file offset ${hex(s.offset)} in a ${img.bytes.length}-byte file`,
      );
    }
    const region = map.find(s.paddr, s.memsz);
    if (!region) throw placementError(prefix, `segment ${s.index}`, map, s.paddr, s.memsz);
    segments.push({
      index: s.index,
      paddr: s.paddr,
      offset: s.offset,
      filesz: s.filesz,
      memsz: s.memsz,
      region,
    });
    totalBytes += s.memsz;
  }

  const warnings: LoadWarning[] = [];
  const loads = img.segments.filter((s) => s.type === PT_LOAD && s.memsz > 0);
  const inside = (base: number, len: number) => img.entry >= base && img.entry - base < len;
  if (
    loads.length > 0 && !loads.some((s) => inside(s.paddr, s.memsz) || inside(s.vaddr, s.memsz))
  ) {
    warnings.push({
      code: "LOAD_ENTRY_OUTSIDE_SEGMENTS",
      message: `Loading ${label}: entry point ${hex(img.entry)} is not inside any loadable segment`,
    });
  }

  const found = findResourceTable(img, options.name === undefined ? {} : { name: options.name });
  let rsc: LoadedResourceTable | undefined;
  if (found) {
    const len = found.bytes.length;
    const imageAddr = found.section.addr;
    if (!map.find(imageAddr, len)) {
      throw rscError(prefix, "resource table", map, imageAddr, len);
    }
    const live = options.rscTableAddr;
    if (live !== undefined && !map.find(live, len)) {
      throw rscError(prefix, "live resource table", map, live, len);
    }
    rsc = { addr: live ?? imageAddr, imageAddr, table: found.table, bytes: found.bytes };
  }
  const plan: LoadPlan = { entry: img.entry, segments, totalBytes, warnings };
  if (rsc) plan.rsc = rsc;
  return plan;
}

function rscError(
  prefix: string,
  what: string,
  map: MemoryMap,
  pa: number,
  len: number,
): LoadError {
  const e = placementError(prefix, what, map, pa, len);
  return new LoadError("LOAD_RSC_OUTSIDE_REGIONS", e.message);
}

/**
 * Load an image: plan (see {@linkcode planLoad}; nothing is written if that
 * throws), copy each segment's file bytes to `p_paddr`, zero-fill to
 * `p_memsz`, then write the resource table at its section address and, with
 * `rscTableAddr`, also there (the live copy the host goes on to process).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "../elf/writer.ts";
 * import { parseElf } from "../elf/reader.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { loadElf } from "./loader.ts";
 * const img = parseElf(buildElf({
 *   entry: 0x9020_0000,
 *   segments: [{ paddr: 0x9020_0000, data: Uint8Array.of(1, 2, 3, 4), memsz: 0x10 }],
 * }));
 * const ram = heapRegion(0x9020_0000, 0x1000, { name: "image" });
 * ram.fill(0x9020_0000, 0x10, 0xff);
 * const r = loadElf(img, new MemoryMap([ram]), { name: "fw.elf" });
 * assert(r.bytesCopied === 4 && r.bytesZeroed === 12);
 * assert(ram.u32(0x9020_0000) === 0x0403_0201 && ram.u8(0x9020_000f) === 0);
 * ```
 */
export function loadElf(img: ElfImage, map: MemoryMap, options: LoadOptions = {}): LoadResult {
  const chunk = options.chunkSize ?? DEFAULT_LOAD_CHUNK;
  if (!Number.isSafeInteger(chunk) || chunk <= 0) {
    throw new ConfigError("LOAD_CHUNK_SIZE", `Load chunk size ${chunk} must be a positive integer`);
  }
  const plan = planLoad(img, map, options);
  const progress = options.onProgress;
  const total = plan.totalBytes;
  let done = 0, bytesCopied = 0, bytesZeroed = 0;

  for (const s of plan.segments) {
    const src = img.bytes.subarray(s.offset, s.offset + s.filesz);
    for (let at = 0; at < s.filesz; at += chunk) {
      const n = Math.min(chunk, s.filesz - at);
      s.region.write(s.paddr + at, src.subarray(at, at + n));
      bytesCopied += n;
      done += n;
      progress?.(done, total);
    }
    for (let at = s.filesz; at < s.memsz; at += chunk) {
      const n = Math.min(chunk, s.memsz - at);
      s.region.fill(s.paddr + at, n, 0);
      bytesZeroed += n;
      done += n;
      progress?.(done, total);
    }
  }

  if (plan.rsc) {
    const { bytes, imageAddr, addr } = plan.rsc;
    map.get(imageAddr, bytes.length).write(imageAddr, bytes);
    if (addr !== imageAddr) map.get(addr, bytes.length).write(addr, bytes);
  }
  const result: LoadResult = {
    entry: plan.entry,
    segments: plan.segments,
    bytesCopied,
    bytesZeroed,
    warnings: plan.warnings,
  };
  if (plan.rsc) result.rsc = plan.rsc;
  return result;
}
