/**
 * Locate and decode the resource table of an ELF firmware image: the section
 * named `.resource_table`, whose `sh_addr` is the table's device address
 * (openamp-wire.md section 2).
 *
 * @module
 */

import { ResourceTableError, type ResourceTableErrorCode } from "../errors.ts";
import { sectionData } from "../elf/reader.ts";
import {
  type ElfImage,
  type ElfSection,
  RESOURCE_TABLE_SECTION,
  SHT_NOBITS,
} from "../elf/types.ts";
import { hex } from "../mem/region.ts";
import { checkResourceTable, parseResourceTable } from "./table.ts";
import type { ParseResourceTableOptions, ResourceTable, RscProblem } from "./types.ts";

/** A resource table found in an image. */
export interface FoundResourceTable {
  /** The `.resource_table` section; `section.addr` is the table's device address. */
  section: ElfSection;
  /** A private copy of the section's bytes (the whole section, `section.size` bytes). */
  bytes: Uint8Array;
  /** The parsed table (`table.size === section.size`). */
  table: ResourceTable;
}

/** Options for {@linkcode findResourceTable} and {@linkcode checkElfResourceTable}. */
export interface FindResourceTableOptions {
  /** Firmware name used in messages, e.g. `"fw.elf"`. */
  name?: string;
}

type SectionProblem = { code: ResourceTableErrorCode; detail: string } | undefined;

/** Find the section and check what the table parser cannot: duplicates, NOBITS, empty. */
function locate(img: ElfImage): { section?: ElfSection; problem: SectionProblem } {
  const all = img.sections.filter((s) => s.name === RESOURCE_TABLE_SECTION);
  const section = all[0];
  if (!section) return { problem: undefined };
  if (all.length > 1) {
    return {
      section,
      problem: {
        code: "RSC_SECTION_DUPLICATE",
        detail: `${all.length} sections are named ${RESOURCE_TABLE_SECTION} ` +
          `(indices ${all.map((s) => s.index).join(", ")})`,
      },
    };
  }
  if (section.type === SHT_NOBITS) {
    return {
      section,
      problem: {
        code: "RSC_SECTION_NOBITS",
        detail: `section ${RESOURCE_TABLE_SECTION} at ${
          hex(section.addr)
        } is NOBITS: it has no bytes in the file`,
      },
    };
  }
  if (section.size === 0) {
    return {
      section,
      problem: {
        code: "RSC_SECTION_EMPTY",
        detail: `section ${RESOURCE_TABLE_SECTION} at ${hex(section.addr)} is empty`,
      },
    };
  }
  return { section, problem: undefined };
}

function prefix(options: FindResourceTableOptions): string {
  return options.name === undefined ? "Firmware" : `Firmware "${options.name}"`;
}

/**
 * The resource table of an image, or `undefined` when it has none (allowed:
 * the firmware then has no vdevs). Throws {@linkcode ResourceTableError} with
 * `RSC_SECTION_NOBITS`, `RSC_SECTION_EMPTY` or `RSC_SECTION_DUPLICATE` for an
 * unusable section, and any code of `parseResourceTable` for a bad table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "../elf/writer.ts";
 * import { parseElf } from "../elf/reader.ts";
 * import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "./table.ts";
 * import { findResourceTable } from "./elf.ts";
 * const table = serializeResourceTable(buildResourceTable([
 *   rpmsgVdev({ vrings: [{ da: 0xffff_ffff, align: 0x1000, num: 256, notifyid: 1 }] }),
 * ]));
 * const img = parseElf(buildElf({
 *   segments: [{ paddr: 0x9020_0000, data: new Uint8Array(64) }],
 *   resourceTable: { addr: 0x9020_1000, data: table },
 * }));
 * const found = findResourceTable(img);
 * assert(found?.section.addr === 0x9020_1000);
 * assert(found?.table.entries[0]?.kind === "vdev");
 * ```
 */
export function findResourceTable(
  img: ElfImage,
  options: FindResourceTableOptions = {},
): FoundResourceTable | undefined {
  const { section, problem } = locate(img);
  if (!section) return undefined;
  if (problem) {
    throw new ResourceTableError(problem.code, `${prefix(options)}: ${problem.detail}`);
  }
  const bytes = sectionData(img, section).slice();
  const parseOptions: ParseResourceTableOptions = options.name === undefined
    ? {}
    : { name: options.name };
  const table = parseResourceTable(bytes, parseOptions);
  return { section, bytes, table };
}

/** What {@linkcode checkElfResourceTable} found. */
export interface ElfResourceTableCheck {
  /** The `.resource_table` section, when the image has one. */
  section?: ElfSection;
  /** The decoded table, when its structure could be read (see `checkResourceTable`). */
  table?: ResourceTable;
  /** Every finding about the section and the table. */
  problems: RscProblem[];
  /** True when no finding is an error (also true when there is no table). */
  ok: boolean;
}

/**
 * Linter form of {@linkcode findResourceTable}: never throws on a malformed
 * image, reports every problem of the section and the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "../elf/writer.ts";
 * import { parseElf } from "../elf/reader.ts";
 * import { checkElfResourceTable } from "./elf.ts";
 * const img = parseElf(buildElf({
 *   segments: [{ paddr: 0x1000, data: new Uint8Array(16) }],
 *   sections: [{ name: ".resource_table", addr: 0x2000, nobitsSize: 0x100 }],
 * }));
 * const r = checkElfResourceTable(img);
 * assert(!r.ok && r.problems[0]?.code === "RSC_SECTION_NOBITS");
 * ```
 */
export function checkElfResourceTable(
  img: ElfImage,
  options: FindResourceTableOptions = {},
): ElfResourceTableCheck {
  const { section, problem } = locate(img);
  if (!section) return { problems: [], ok: true };
  if (problem) {
    return {
      section,
      problems: [{
        code: problem.code,
        message: `${prefix(options)}: ${problem.detail}`,
        severity: "error",
      }],
      ok: false,
    };
  }
  const r = checkResourceTable(
    sectionData(img, section).slice(),
    options.name === undefined ? {} : { name: options.name },
  );
  return r.table
    ? { section, table: r.table, problems: r.problems, ok: r.ok }
    : { section, problems: r.problems, ok: r.ok };
}
