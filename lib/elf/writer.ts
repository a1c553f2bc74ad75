/**
 * Minimal ELF writer for tests and examples: builds little-endian ELF32/ELF64
 * executables with program headers, sections (plus a generated null section
 * and `.shstrtab`) and, optionally, an OpenAMP `.resource_table` section
 * covered by its own `PT_LOAD` segment, as a linker would lay it out.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import { EI_CLASS, EI_DATA, EI_VERSION, ELF_MAGIC, layoutOf, writeField } from "./_layout.ts";
import {
  EM_RISCV,
  ET_EXEC,
  PF_R,
  PF_W,
  PF_X,
  PT_LOAD,
  RESOURCE_TABLE_SECTION,
  SHF_ALLOC,
  SHF_WRITE,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_STRTAB,
} from "./types.ts";

/** One program header to emit. */
export interface ElfSegmentSpec {
  /** Physical (load) address. */
  paddr: number;
  /** Virtual address; defaults to `paddr`. */
  vaddr?: number;
  /** File bytes (p_filesz = data.length). */
  data: Uint8Array;
  /** Memory size; defaults to `data.length`, must not be smaller. */
  memsz?: number;
  /** p_flags; default `PF_R | PF_W | PF_X`. */
  flags?: number;
  /** p_type; default `PT_LOAD`. */
  type?: number;
  /** p_align (0 or a power of two); default 0x10. The file offset is congruent to vaddr. */
  align?: number;
}

/** One section to emit (besides the generated null section and `.shstrtab`). */
export interface ElfSectionSpec {
  /** Section name (goes into `.shstrtab`). */
  name: string;
  /** sh_addr; default 0. */
  addr?: number;
  /** File bytes of the section (type defaults to `SHT_PROGBITS`). */
  data?: Uint8Array;
  /** Size of an `SHT_NOBITS` section (no file bytes). Exclusive with `data`. */
  nobitsSize?: number;
  /** sh_type; default `SHT_PROGBITS`, or `SHT_NOBITS` with `nobitsSize`. */
  type?: number;
  /** sh_flags; default `SHF_ALLOC`. */
  flags?: number;
  /** sh_addralign (0 or a power of two); default 4. */
  align?: number;
  /** sh_link (e.g. a symbol table's string table index); default 0. */
  link?: number;
  /** sh_entsize (e.g. 24 for an ELF64 symbol table); default 0. */
  entsize?: number;
}

/** What {@linkcode buildElf} builds. */
export interface ElfSpec {
  /** 32 or 64; default 32. */
  class?: 32 | 64;
  /** e_machine; default 243 (RISC-V). */
  machine?: number;
  /** e_type; default 2 (EXEC). */
  type?: number;
  /** e_flags; default 0. */
  flags?: number;
  /** e_entry; default the first segment's paddr, or 0. */
  entry?: number;
  /** Program headers to emit, in order; default none. */
  segments?: ElfSegmentSpec[];
  /** Sections to emit besides the null section and `.shstrtab`; default none. */
  sections?: ElfSectionSpec[];
  /**
   * Adds a `.resource_table` section (SHF_ALLOC | SHF_WRITE) at `addr` and a
   * `PT_LOAD` segment (R|W) at the same address whose file bytes are the same
   * bytes as the section's.
   */
  resourceTable?: { addr: number; data: Uint8Array };
}

interface PlacedSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
  data: Uint8Array;
}

interface PlacedSection {
  name: string;
  nameOff: number;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  align: number;
  link?: number;
  entsize?: number;
  /** Bytes to copy at `offset`, when the section owns its file bytes. */
  data?: Uint8Array;
}

/**
 * Builds an ELF image from a spec. The result is accepted by `parseElf` (as
 * long as the spec's segments do not overlap) and by binutils `readelf`.
 *
 * @throws {ConfigError} `ELF_SPEC_VALUE` for a number that is not a
 *   non-negative integer fitting the class, `ELF_SPEC_SECTION` for a section
 *   with both or neither of `data`/`nobitsSize`, or a name containing NUL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { parseElf, sectionByName } from "./reader.ts";
 * const bytes = buildElf({
 *   class: 64,
 *   entry: 0x8000_0000,
 *   segments: [{ paddr: 0x8000_0000, data: new Uint8Array(64), memsz: 0x1000 }],
 *   sections: [{ name: ".bss", addr: 0x8000_1000, nobitsSize: 0x100 }],
 *   resourceTable: { addr: 0x8000_2000, data: new Uint8Array(16) },
 * });
 * const img = parseElf(bytes);
 * assert(img.class === 64 && img.segments.length === 2);
 * assert(sectionByName(img, ".resource_table")?.size === 16);
 * ```
 */
export function buildElf(spec: ElfSpec): Uint8Array {
  const cls = spec.class ?? 32;
  if (cls !== 32 && cls !== 64) {
    throw new ConfigError(
      "ELF_SPEC_VALUE",
      `Cannot build the ELF: class is ${cls}, expected 32 or 64`,
    );
  }
  const L = layoutOf(cls);
  const wordMax = cls === 32 ? 0xffff_ffff : Number.MAX_SAFE_INTEGER;
  const check = (v: number, what: string, max = wordMax): number => {
    if (!Number.isSafeInteger(v) || v < 0 || v > max) {
      throw new ConfigError(
        "ELF_SPEC_VALUE",
        `Cannot build the ELF: ${what} is ${v}, expected an integer in [0, ${hex(max)}]`,
      );
    }
    return v;
  };
  const checkAlign = (v: number, what: string): number => {
    const b = BigInt(check(v, what));
    if (b > 1n && (b & (b - 1n)) !== 0n) {
      throw new ConfigError(
        "ELF_SPEC_VALUE",
        `Cannot build the ELF: ${what} is ${v}, not a power of two`,
      );
    }
    return v;
  };

  const segSpecs: ElfSegmentSpec[] = [...(spec.segments ?? [])];
  const rt = spec.resourceTable;
  if (rt !== undefined) {
    segSpecs.push({ paddr: rt.addr, data: rt.data, flags: PF_R | PF_W, align: 4 });
  }
  const secSpecs = spec.sections ?? [];
  if (segSpecs.length > 0xffff || secSpecs.length > 0xff00) {
    throw new ConfigError("ELF_SPEC_VALUE", "Cannot build the ELF: too many segments or sections");
  }

  // --- layout ----------------------------------------------------------------
  let cursor = L.ehsize;
  const phoff = segSpecs.length > 0 ? cursor : 0;
  cursor += segSpecs.length * L.phentsize;

  const segments: PlacedSegment[] = segSpecs.map((s, i) => {
    const what = `segments[${i}]`;
    const paddr = check(s.paddr, `${what}.paddr`);
    const vaddr = check(s.vaddr ?? paddr, `${what}.vaddr`);
    const filesz = s.data.length;
    const memsz = check(s.memsz ?? filesz, `${what}.memsz`);
    if (memsz < filesz) {
      throw new ConfigError(
        "ELF_SPEC_VALUE",
        `Cannot build the ELF: ${what}.memsz ${hex(memsz)} is smaller than its data (${
          hex(filesz)
        } bytes)`,
      );
    }
    const align = checkAlign(s.align ?? 0x10, `${what}.align`);
    // Smallest offset >= cursor with offset % align == vaddr % align.
    let offset = cursor;
    if (align > 1) {
      const want = vaddr % align;
      offset = cursor + ((want - (cursor % align) + align) % align);
    }
    cursor = offset + filesz;
    return {
      type: check(s.type ?? PT_LOAD, `${what}.type`, 0xffff_ffff),
      flags: check(s.flags ?? (PF_R | PF_W | PF_X), `${what}.flags`, 0xffff_ffff),
      offset,
      vaddr,
      paddr,
      filesz,
      memsz,
      align,
      data: s.data,
    };
  });

  // Section name string table contents: "\0name1\0name2\0...".
  const enc = new TextEncoder();
  const strParts: Uint8Array[] = [new Uint8Array(1)];
  let strSize = 1;
  const addName = (name: string): number => {
    if (name.includes("\0")) {
      throw new ConfigError(
        "ELF_SPEC_SECTION",
        `Cannot build the ELF: section name ${JSON.stringify(name)} contains NUL`,
      );
    }
    const off = strSize;
    const b = enc.encode(name);
    strParts.push(b, new Uint8Array(1));
    strSize += b.length + 1;
    return off;
  };

  const sections: PlacedSection[] = [
    { name: "", nameOff: 0, type: SHT_NULL, flags: 0, addr: 0, offset: 0, size: 0, align: 0 },
  ];
  secSpecs.forEach((s, i) => {
    const what = `sections[${i}]`;
    const hasData = s.data !== undefined, hasNobits = s.nobitsSize !== undefined;
    if (hasData === hasNobits) {
      throw new ConfigError(
        "ELF_SPEC_SECTION",
        `Cannot build the ELF: ${what} (${
          JSON.stringify(s.name)
        }) needs exactly one of data and nobitsSize`,
      );
    }
    const align = checkAlign(s.align ?? 4, `${what}.align`);
    const type = check(
      s.type ?? (hasNobits ? SHT_NOBITS : SHT_PROGBITS),
      `${what}.type`,
      0xffff_ffff,
    );
    const nameOff = addName(s.name);
    const base = {
      name: s.name,
      nameOff,
      type,
      flags: check(s.flags ?? SHF_ALLOC, `${what}.flags`),
      addr: check(s.addr ?? 0, `${what}.addr`),
      align,
      link: check(s.link ?? 0, `${what}.link`, 0xffff_ffff),
      entsize: check(s.entsize ?? 0, `${what}.entsize`),
    };
    if (s.data !== undefined) {
      const offset = align > 1 ? alignUp(cursor, align) : cursor;
      cursor = offset + s.data.length;
      sections.push({ ...base, offset, size: s.data.length, data: s.data });
    } else {
      sections.push({
        ...base,
        offset: cursor,
        size: check(s.nobitsSize ?? 0, `${what}.nobitsSize`),
      });
    }
  });
  if (rt !== undefined) {
    const seg = segments[segments.length - 1]!; // the resource table segment pushed above
    sections.push({
      name: RESOURCE_TABLE_SECTION,
      nameOff: addName(RESOURCE_TABLE_SECTION),
      type: SHT_PROGBITS,
      flags: SHF_ALLOC | SHF_WRITE,
      addr: seg.vaddr,
      offset: seg.offset,
      size: seg.filesz,
      align: 4,
    });
  }
  const shstrNameOff = addName(".shstrtab");
  const strtab = concat(strParts, strSize);
  sections.push({
    name: ".shstrtab",
    nameOff: shstrNameOff,
    type: SHT_STRTAB,
    flags: 0,
    addr: 0,
    offset: cursor,
    size: strtab.length,
    align: 1,
    data: strtab,
  });
  cursor += strtab.length;
  const shoff = alignUp(cursor, L.word);
  const total = shoff + sections.length * L.shentsize;
  check(total, "image size");

  // --- emit --------------------------------------------------------------------
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(ELF_MAGIC, 0);
  out[EI_CLASS] = cls === 32 ? 1 : 2;
  out[EI_DATA] = 1;
  out[EI_VERSION] = 1;
  const eh = L.eh;
  const entry = check(spec.entry ?? segments[0]?.paddr ?? 0, "entry");
  writeField(dv, 0, eh.e_type, check(spec.type ?? ET_EXEC, "type", 0xffff));
  writeField(dv, 0, eh.e_machine, check(spec.machine ?? EM_RISCV, "machine", 0xffff));
  writeField(dv, 0, eh.e_version, 1);
  writeField(dv, 0, eh.e_entry, entry);
  writeField(dv, 0, eh.e_phoff, phoff);
  writeField(dv, 0, eh.e_shoff, shoff);
  writeField(dv, 0, eh.e_flags, check(spec.flags ?? 0, "flags", 0xffff_ffff));
  writeField(dv, 0, eh.e_ehsize, L.ehsize);
  writeField(dv, 0, eh.e_phentsize, L.phentsize);
  writeField(dv, 0, eh.e_phnum, segments.length);
  writeField(dv, 0, eh.e_shentsize, L.shentsize);
  writeField(dv, 0, eh.e_shnum, sections.length);
  writeField(dv, 0, eh.e_shstrndx, sections.length - 1);

  segments.forEach((s, i) => {
    const base = phoff + i * L.phentsize;
    const ph = L.ph;
    writeField(dv, base, ph.p_type, s.type);
    writeField(dv, base, ph.p_flags, s.flags);
    writeField(dv, base, ph.p_offset, s.offset);
    writeField(dv, base, ph.p_vaddr, s.vaddr);
    writeField(dv, base, ph.p_paddr, s.paddr);
    writeField(dv, base, ph.p_filesz, s.filesz);
    writeField(dv, base, ph.p_memsz, s.memsz);
    writeField(dv, base, ph.p_align, s.align);
    out.set(s.data, s.offset);
  });
  sections.forEach((s, i) => {
    const base = shoff + i * L.shentsize;
    const sh = L.sh;
    writeField(dv, base, sh.sh_name, s.nameOff);
    writeField(dv, base, sh.sh_type, s.type);
    writeField(dv, base, sh.sh_flags, s.flags);
    writeField(dv, base, sh.sh_addr, s.addr);
    writeField(dv, base, sh.sh_offset, s.offset);
    writeField(dv, base, sh.sh_size, s.size);
    writeField(dv, base, sh.sh_addralign, s.align);
    writeField(dv, base, sh.sh_link, s.link ?? 0);
    writeField(dv, base, sh.sh_entsize, s.entsize ?? 0);
    if (s.data !== undefined) out.set(s.data, s.offset);
  });
  return out;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
