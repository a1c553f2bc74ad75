/**
 * ELF firmware images: a validating reader (openamp-wire.md section 2), a
 * small writer for tests and examples, and the shared shapes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf, parseElf, sectionByName } from "./mod.ts";
 * const img = parseElf(buildElf({
 *   class: 32,
 *   segments: [{ paddr: 0x8000_0000, data: new Uint8Array(16) }],
 *   resourceTable: { addr: 0x8000_1000, data: new Uint8Array(16) },
 * }), { name: "fw.elf" });
 * assert(sectionByName(img, ".resource_table")?.addr === 0x8000_1000);
 * ```
 *
 * @module
 */

export * from "./types.ts";
export {
  checkElf,
  type ElfCheckResult,
  loadSegments,
  parseElf,
  type ParseElfOptions,
  sectionByName,
  sectionData,
  segmentData,
} from "./reader.ts";
export { buildElf, type ElfSectionSpec, type ElfSegmentSpec, type ElfSpec } from "./writer.ts";
