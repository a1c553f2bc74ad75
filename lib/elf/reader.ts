/**
 * Validating ELF reader for remoteproc firmware (openamp-wire.md section 2).
 *
 * {@linkcode parseElf} throws an {@linkcode ElfError} for the first failed
 * check; {@linkcode checkElf} runs the same checks, in the same order, and
 * collects every problem it can find (for `amp inspect`). Both accept ELF32 and
 * ELF64 little-endian images. All bounds arithmetic is done on exact doubles:
 * 64-bit fields are read as `bigint` and refused above
 * `Number.MAX_SAFE_INTEGER`, and every "inside the file" test is written as
 * `off > len || size > len - off`, which cannot wrap.
 *
 * @module
 */

import { ElfError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import {
  type ClassLayout,
  EI_CLASS,
  EI_DATA,
  EI_NIDENT,
  EI_VERSION,
  ELF_MAGIC,
  type Field,
  LAYOUT32,
  LAYOUT64,
  readField,
} from "./_layout.ts";
import {
  ELF_CODES,
  type ElfCode,
  type ElfImage,
  type ElfProblem,
  type ElfSection,
  type ElfSegment,
  PT_LOAD,
  SHT_NOBITS,
  SHT_STRTAB,
} from "./types.ts";

/** Options of {@linkcode parseElf} and {@linkcode checkElf}. */
export interface ParseElfOptions {
  /** File name used in messages, e.g. `"fw.elf"`. */
  name?: string;
}

/** Result of {@linkcode checkElf}. */
export interface ElfCheckResult {
  /** The parsed image, present only when no problem has severity `"error"`. */
  image?: ElfImage;
  /** Every problem found, errors and warnings, in check order. */
  problems: ElfProblem[];
}

/**
 * Parses and validates an ELF image. The returned image shares `bytes` (no copy).
 *
 * @throws {ElfError} for the first failed check; `code` is one of `ELF_CODES`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { parseElf } from "./reader.ts";
 * const bytes = buildElf({ class: 32, entry: 0x8000_0000, segments: [
 *   { paddr: 0x8000_0000, data: new Uint8Array([0x13, 0, 0, 0]) },
 * ] });
 * const img = parseElf(bytes, { name: "fw.elf" });
 * assert(img.entry === 0x8000_0000 && img.segments.length === 1);
 * ```
 */
export function parseElf(bytes: Uint8Array, options?: ParseElfOptions): ElfImage {
  const image = analyze(bytes, new Sink(options?.name, true));
  // A throwing sink either throws or lets analyze return an image.
  if (image === undefined) throw new Error("unreachable: parseElf produced no image");
  return image;
}

/**
 * Runs every check of {@linkcode parseElf} and reports all problems instead of
 * stopping at the first. The first `"error"` problem is exactly what
 * `parseElf` would throw. Never throws for malformed input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { checkElf } from "./reader.ts";
 * const bytes = buildElf({ class: 64, segments: [
 *   { paddr: 0x1000, data: new Uint8Array(16) },
 *   { paddr: 0x1008, data: new Uint8Array(16) },
 * ] });
 * const { image, problems } = checkElf(bytes, { name: "fw.elf" });
 * assert(image === undefined);
 * assert(problems[0]?.code === "ELF_SEGMENTS_OVERLAP");
 * ```
 */
export function checkElf(bytes: Uint8Array, options?: ParseElfOptions): ElfCheckResult {
  const sink = new Sink(options?.name, false);
  const image = analyze(bytes, sink);
  const result: ElfCheckResult = { problems: sink.problems };
  if (image !== undefined && !sink.failed) result.image = image;
  return result;
}

/**
 * The first section called `name`, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { parseElf, sectionByName } from "./reader.ts";
 * const img = parseElf(buildElf({ class: 32, segments: [{ paddr: 0, data: new Uint8Array(4) }],
 *   resourceTable: { addr: 0x100, data: new Uint8Array(16) } }));
 * assert(sectionByName(img, ".resource_table")?.addr === 0x100);
 * assert(sectionByName(img, ".nope") === undefined);
 * ```
 */
export function sectionByName(img: ElfImage, name: string): ElfSection | undefined {
  return img.sections.find((s) => s.name === name);
}

/**
 * The file bytes of a section, as a zero-copy view into `img.bytes`.
 * `SHT_NOBITS` sections (e.g. `.bss`) have no file bytes: the result is empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { parseElf, sectionByName, sectionData } from "./reader.ts";
 * const img = parseElf(buildElf({ class: 64, segments: [{ paddr: 0, data: new Uint8Array(4) }],
 *   sections: [{ name: ".data", addr: 0x40, data: new Uint8Array([1, 2, 3]) }] }));
 * const d = sectionData(img, sectionByName(img, ".data")!);
 * assert(d.length === 3 && d[2] === 3 && d.buffer === img.bytes.buffer);
 * ```
 */
export function sectionData(img: ElfImage, section: ElfSection): Uint8Array {
  if (section.type === SHT_NOBITS) return img.bytes.subarray(0, 0);
  return img.bytes.subarray(section.offset, section.offset + section.size);
}

/**
 * The `PT_LOAD` segments, in program header order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { loadSegments, parseElf } from "./reader.ts";
 * const img = parseElf(buildElf({ class: 32, segments: [
 *   { paddr: 0x1000, data: new Uint8Array(8) },
 *   { paddr: 0x2000, data: new Uint8Array(0), memsz: 0x100, type: 4 },
 * ] }));
 * assert(loadSegments(img).length === 1);
 * ```
 */
export function loadSegments(img: ElfImage): ElfSegment[] {
  return img.segments.filter((s) => s.type === PT_LOAD);
}

/**
 * The file bytes of a segment (`p_filesz` bytes at `p_offset`), zero-copy.
 * The loader copies these and zero-fills up to `p_memsz`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { loadSegments, parseElf, segmentData } from "./reader.ts";
 * const img = parseElf(buildElf({ class: 64, segments: [
 *   { paddr: 0x1000, data: new Uint8Array([7, 8]), memsz: 0x10 },
 * ] }));
 * const seg = loadSegments(img)[0]!;
 * assert(segmentData(img, seg).length === 2 && seg.memsz === 0x10);
 * ```
 */
export function segmentData(img: ElfImage, segment: ElfSegment): Uint8Array {
  return img.bytes.subarray(segment.offset, segment.offset + segment.filesz);
}

// ---------------------------------------------------------------------------

/** Receives problems: throws on the first error (parseElf) or collects them (checkElf). */
class Sink {
  readonly problems: ElfProblem[] = [];
  failed = false;
  readonly prefix: string;
  constructor(name: string | undefined, readonly throwing: boolean) {
    this.prefix = name === undefined
      ? "Cannot load firmware: "
      : `Cannot load firmware "${name}": `;
  }
  error(code: ElfCode, detail: string): void {
    const message = this.prefix + detail;
    if (this.throwing) throw new ElfError(code, message);
    this.failed = true;
    this.problems.push({ code, message, severity: "error" });
  }
  warn(code: ElfCode, detail: string): void {
    if (!this.throwing) {
      this.problems.push({ code, message: this.prefix + detail, severity: "warning" });
    }
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);
const ADDR_LIMIT_32 = 0x1_0000_0000;
const decoder = new TextDecoder();

/**
 * A header field read as a number; `undefined` when it was refused (and
 * reported). 8-byte fields are read as `bigint` and range-checked before
 * conversion. The field's description is `what` + `key`, built only for the
 * message.
 */
function readNum(
  dv: DataView,
  base: number,
  field: Field,
  what: string,
  key: string,
  sink: Sink,
): number | undefined {
  const v = readField(dv, base, field);
  if (typeof v === "number") return v;
  if (v > MAX_SAFE_BIG) {
    sink.error(
      ELF_CODES.VALUE_TOO_LARGE,
      `${what}${key} is ${hex(v)}, above 2^53-1 (${hex(MAX_SAFE)}), ` +
        `the largest value amp handles exactly`,
    );
    return undefined;
  }
  return Number(v);
}

/** `[start, +size)` formatted as in every message. */
function range(start: number, size: number): string {
  return `[${hex(start)}, +${hex(size)})`;
}

/** Reads every field of a structure, or `undefined` when one was refused. */
function readAll<K extends string>(
  dv: DataView,
  base: number,
  fields: readonly (readonly [K, Field])[],
  what: string,
  sink: Sink,
): Record<K, number> | undefined {
  const out = {} as Record<K, number>;
  let ok = true;
  for (const [key, field] of fields) {
    const v = readNum(dv, base, field, what, key, sink);
    if (v === undefined) ok = false;
    else out[key] = v;
  }
  return ok ? out : undefined;
}

function entriesOf<K extends string>(fields: Readonly<Record<K, Field>>): [K, Field][] {
  return Object.entries(fields) as [K, Field][];
}

function analyze(bytes: Uint8Array, sink: Sink): ElfImage | undefined {
  const len = bytes.length;
  const fileDesc = `the ${hex(len)}-byte file`;

  // --- identification -----------------------------------------------------
  if (len < EI_NIDENT) {
    sink.error(
      ELF_CODES.TOO_SMALL,
      `file is ${len} bytes, smaller than the ${EI_NIDENT}-byte ELF identification`,
    );
    return undefined;
  }
  if (ELF_MAGIC.some((b, i) => bytes[i] !== b)) {
    const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    sink.error(ELF_CODES.BAD_MAGIC, `not an ELF file: magic is ${got}, expected 7f 45 4c 46`);
    return undefined;
  }
  const eiClass = bytes[EI_CLASS] ?? 0;
  if (eiClass !== 1 && eiClass !== 2) {
    sink.error(
      ELF_CODES.BAD_CLASS,
      `EI_CLASS is ${eiClass}, expected 1 (ELF32) or 2 (ELF64)`,
    );
    return undefined;
  }
  const L: ClassLayout = eiClass === 1 ? LAYOUT32 : LAYOUT64;
  const eiData = bytes[EI_DATA] ?? 0;
  if (eiData === 2) {
    sink.error(
      ELF_CODES.BIG_ENDIAN,
      `EI_DATA is 2 (big-endian); only little-endian images are supported`,
    );
    return undefined;
  }
  if (eiData !== 1) {
    sink.error(ELF_CODES.BAD_DATA, `EI_DATA is ${eiData}, expected 1 (little-endian)`);
    return undefined;
  }
  const eiVersion = bytes[EI_VERSION] ?? 0;
  if (eiVersion !== 1) {
    sink.error(ELF_CODES.BAD_VERSION, `EI_VERSION is ${eiVersion}, expected 1`);
  }
  if (len < L.ehsize) {
    sink.error(
      ELF_CODES.TOO_SMALL,
      `file is ${len} bytes, smaller than the ${L.ehsize}-byte ELF${L.cls} header`,
    );
    return undefined;
  }

  // --- ELF header ------------------------------------------------------------
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u = (field: Field): number => readField(dv, 0, field) as number; // <= 4-byte fields
  const eVersion = u(L.eh.e_version);
  if (eVersion !== 1) sink.error(ELF_CODES.BAD_VERSION, `e_version is ${eVersion}, expected 1`);
  const entry = readNum(dv, 0, L.eh.e_entry, "", "e_entry", sink);
  const phoff = readNum(dv, 0, L.eh.e_phoff, "", "e_phoff", sink);
  const shoff = readNum(dv, 0, L.eh.e_shoff, "", "e_shoff", sink);
  const phentsize = u(L.eh.e_phentsize), phnum = u(L.eh.e_phnum);
  const shentsize = u(L.eh.e_shentsize), shnum = u(L.eh.e_shnum);
  const shstrndx = u(L.eh.e_shstrndx);

  // --- program headers -------------------------------------------------------
  const segments: ElfSegment[] = [];
  if (phnum === 0) {
    sink.error(ELF_CODES.NO_SEGMENTS, `e_phnum is 0: the image has no program headers`);
  } else if (phentsize !== L.phentsize) {
    sink.error(
      ELF_CODES.BAD_PHENTSIZE,
      `e_phentsize is ${phentsize}, expected ${L.phentsize} for ELF${L.cls}`,
    );
  } else if (phoff === 0) {
    sink.error(ELF_CODES.PHDRS_MISSING, `e_phoff is 0 but e_phnum is ${phnum}`);
  } else if (phoff !== undefined) {
    const tableSize = phnum * phentsize; // <= 65535 * 65535: exact
    if (phoff > len || tableSize > len - phoff) {
      sink.error(
        ELF_CODES.PHDRS_OUTSIDE_FILE,
        `program header table ${range(phoff, tableSize)} (e_phnum ${phnum} x e_phentsize ` +
          `${phentsize}) extends past the end of ${fileDesc}`,
      );
    } else {
      readSegments(dv, L, phoff, phnum, len, fileDesc, sink, segments);
    }
  }

  // --- section headers -------------------------------------------------------
  const sections: ElfSection[] = [];
  if (shnum !== 0) {
    if (shentsize !== L.shentsize) {
      sink.error(
        ELF_CODES.BAD_SHENTSIZE,
        `e_shentsize is ${shentsize}, expected ${L.shentsize} for ELF${L.cls} ` +
          `(e_shnum is ${shnum})`,
      );
    } else if (shoff === 0) {
      sink.error(ELF_CODES.SHDRS_MISSING, `e_shoff is 0 but e_shnum is ${shnum}`);
    } else if (shoff !== undefined) {
      const tableSize = shnum * shentsize;
      if (shoff > len || tableSize > len - shoff) {
        sink.error(
          ELF_CODES.SHDRS_OUTSIDE_FILE,
          `section header table ${range(shoff, tableSize)} (e_shnum ${shnum} x e_shentsize ` +
            `${shentsize}) extends past the end of ${fileDesc}`,
        );
      } else {
        readSections(bytes, dv, L, shoff, shnum, shstrndx, fileDesc, sink, sections);
      }
    }
  }

  if (sink.failed || entry === undefined) return undefined;
  return {
    bytes,
    class: L.cls,
    type: u(L.eh.e_type),
    machine: u(L.eh.e_machine),
    flags: u(L.eh.e_flags),
    entry,
    segments,
    sections,
  };
}

function readSegments(
  dv: DataView,
  L: ClassLayout,
  phoff: number,
  phnum: number,
  len: number,
  fileDesc: string,
  sink: Sink,
  out: ElfSegment[],
): void {
  // The highest end address a PT_LOAD may reach (exclusive end).
  const addrLimit = L.cls === 32 ? ADDR_LIMIT_32 : MAX_SAFE;
  const loads: ElfSegment[] = [];
  const fields = entriesOf(L.ph);
  for (let i = 0; i < phnum; i++) {
    const p = readAll(dv, phoff + i * L.phentsize, fields, `segment ${i} `, sink);
    if (p === undefined) continue;
    let addrOk = true;
    if (p.p_offset > len || p.p_filesz > len - p.p_offset) {
      sink.error(
        ELF_CODES.SEGMENT_OUTSIDE_FILE,
        `segment ${i} file bytes ${range(p.p_offset, p.p_filesz)} (p_offset ${hex(p.p_offset)} + ` +
          `p_filesz ${hex(p.p_filesz)}) extend past the end of ${fileDesc}`,
      );
    }
    if (p.p_type === PT_LOAD) {
      if (p.p_filesz > p.p_memsz) {
        sink.error(
          ELF_CODES.SEGMENT_FILESZ_GT_MEMSZ,
          `segment ${i} has p_filesz ${hex(p.p_filesz)} > p_memsz ${hex(p.p_memsz)}`,
        );
      }
      if (p.p_paddr > addrLimit - p.p_memsz) {
        const end = BigInt(p.p_paddr) + BigInt(p.p_memsz);
        sink.error(
          ELF_CODES.SEGMENT_ADDRESS_WRAP,
          `segment ${i} ${range(p.p_paddr, p.p_memsz)} ends at ${hex(end)}, past the end of the ` +
            (L.cls === 32
              ? "32-bit physical address space (0x100000000)"
              : `2^53-1 (${hex(MAX_SAFE)})`),
        );
        addrOk = false;
      }
      if (p.p_memsz === 0) {
        sink.warn(
          ELF_CODES.SEGMENT_EMPTY,
          `segment ${i} at ${hex(p.p_paddr)} is PT_LOAD with p_memsz 0 and loads nothing`,
        );
      }
    }
    const seg: ElfSegment = {
      index: i,
      type: p.p_type,
      flags: p.p_flags,
      offset: p.p_offset,
      vaddr: p.p_vaddr,
      paddr: p.p_paddr,
      filesz: p.p_filesz,
      memsz: p.p_memsz,
      align: p.p_align,
    };
    out.push(seg);
    // The overlap check needs only a valid address range.
    if (addrOk && seg.type === PT_LOAD && seg.memsz > 0) loads.push(seg);
  }

  // Overlaps: sort by start address; each segment must start at or after the
  // furthest end seen so far. Reports every overlapping pair with that segment.
  loads.sort((a, b) => a.paddr - b.paddr || a.index - b.index);
  let reach: ElfSegment | undefined;
  for (const s of loads) {
    if (reach !== undefined) {
      const reachEnd = reach.paddr + reach.memsz;
      if (s.paddr < reachEnd) {
        const end = Math.min(reachEnd, s.paddr + s.memsz);
        const [a, b] = reach.index < s.index ? [reach, s] : [s, reach];
        sink.error(
          ELF_CODES.SEGMENTS_OVERLAP,
          `PT_LOAD segments ${a.index} ${range(a.paddr, a.memsz)} and ${b.index} ` +
            `${range(b.paddr, b.memsz)} overlap in [${hex(s.paddr)}, ${hex(end)})`,
        );
      }
      if (s.paddr + s.memsz > reachEnd) reach = s;
    } else {
      reach = s;
    }
  }
}

interface RawSection {
  readonly index: number;
  readonly h: Record<keyof ClassLayout["sh"], number>;
  /** Data lies inside the file (or the section is SHT_NOBITS). */
  readonly inFile: boolean;
}

function readSections(
  bytes: Uint8Array,
  dv: DataView,
  L: ClassLayout,
  shoff: number,
  shnum: number,
  shstrndx: number,
  fileDesc: string,
  sink: Sink,
  out: ElfSection[],
): void {
  const len = bytes.length;
  let strtabIndexOk = true;
  if (shstrndx >= shnum) {
    sink.error(
      ELF_CODES.BAD_SHSTRNDX,
      `e_shstrndx is ${shstrndx}, not below e_shnum ${shnum}`,
    );
    strtabIndexOk = false;
  }

  const raw: (RawSection | undefined)[] = [];
  const fields = entriesOf(L.sh);
  for (let i = 0; i < shnum; i++) {
    const h = readAll(dv, shoff + i * L.shentsize, fields, `section ${i} `, sink);
    if (h === undefined) {
      raw.push(undefined);
      continue;
    }
    let inFile = true;
    if (h.sh_type !== SHT_NOBITS && (h.sh_offset > len || h.sh_size > len - h.sh_offset)) {
      sink.error(
        ELF_CODES.SECTION_OUTSIDE_FILE,
        `section ${i} data ${range(h.sh_offset, h.sh_size)} (sh_offset ${hex(h.sh_offset)} + ` +
          `sh_size ${hex(h.sh_size)}) extends past the end of ${fileDesc}`,
      );
      inFile = false;
    }
    raw.push({ index: i, h, inFile });
  }

  // Names.
  const names: string[] = new Array<string>(shnum).fill("");
  if (strtabIndexOk && shstrndx === 0) {
    sink.warn(
      ELF_CODES.NO_SECTION_NAMES,
      `e_shstrndx is 0 (no section name table): sections have no names, ` +
        `so no resource table can be found`,
    );
  } else if (strtabIndexOk) {
    const st = raw[shstrndx];
    if (st !== undefined && st.h.sh_type !== SHT_STRTAB) {
      sink.error(
        ELF_CODES.SHSTRTAB_NOT_STRTAB,
        `section name table (section ${shstrndx}, e_shstrndx) has sh_type ${st.h.sh_type}, ` +
          `expected ${SHT_STRTAB} (SHT_STRTAB)`,
      );
    } else if (st !== undefined && st.inFile) {
      const base = st.h.sh_offset, size = st.h.sh_size;
      for (const r of raw) {
        if (r === undefined) continue;
        const off = r.h.sh_name;
        if (off >= size) {
          sink.error(
            ELF_CODES.SECTION_NAME_OUTSIDE_STRTAB,
            `section ${r.index} sh_name ${hex(off)} is outside the ${hex(size)}-byte section ` +
              `name table (section ${shstrndx})`,
          );
          continue;
        }
        const nul = bytes.subarray(base + off, base + size).indexOf(0);
        if (nul < 0) {
          sink.error(
            ELF_CODES.SECTION_NAME_UNTERMINATED,
            `section ${r.index} name at sh_name ${hex(off)} has no NUL before the end of the ` +
              `${hex(size)}-byte section name table (section ${shstrndx})`,
          );
          continue;
        }
        names[r.index] = decoder.decode(bytes.subarray(base + off, base + off + nul));
      }
    }
  }

  for (const r of raw) {
    if (r === undefined) continue;
    const h = r.h;
    out.push({
      index: r.index,
      name: names[r.index] ?? "",
      type: h.sh_type,
      flags: h.sh_flags,
      addr: h.sh_addr,
      offset: h.sh_offset,
      size: h.sh_size,
      link: h.sh_link,
      info: h.sh_info,
      addralign: h.sh_addralign,
      entsize: h.sh_entsize,
    });
  }
}
