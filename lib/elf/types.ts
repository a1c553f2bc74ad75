/**
 * Shapes of a parsed ELF image. All addresses, offsets and sizes are plain
 * numbers: the parser rejects any 64-bit value above `Number.MAX_SAFE_INTEGER`
 * (code `ELF_VALUE_TOO_LARGE`), so arithmetic on them is exact.
 *
 * @module
 */

import type { ElfErrorCode } from "../errors.ts";

/** Program header type of a loadable segment. */
export const PT_LOAD = 1;
/** Segment flag bits. */
export const PF_X = 1, PF_W = 2, PF_R = 4;
/** Other program header types amp knows by name. */
export const PT_NULL = 0, PT_NOTE = 4;

/** Section header types. `SHT_NOBITS` sections occupy no bytes in the file. */
export const SHT_NULL = 0, SHT_PROGBITS = 1, SHT_STRTAB = 3, SHT_NOBITS = 8;
/** Section flag bits. */
export const SHF_WRITE = 1, SHF_ALLOC = 2, SHF_EXECINSTR = 4;

/** e_type of an executable. */
export const ET_EXEC = 2;
/** e_machine values of the cores amp meets. */
export const EM_ARM = 40, EM_X86_64 = 62, EM_AARCH64 = 183, EM_RISCV = 243;

/** Name of the section that holds the OpenAMP resource table. */
export const RESOURCE_TABLE_SECTION = ".resource_table";

/** One program header. */
export interface ElfSegment {
  /** Index in the program header table. */
  readonly index: number;
  /** p_type (1 = PT_LOAD). */
  readonly type: number;
  /** p_flags: PF_X (1), PF_W (2), PF_R (4). */
  readonly flags: number;
  /** p_offset: file offset of the segment's bytes. */
  readonly offset: number;
  /** p_vaddr: the address the code runs at. */
  readonly vaddr: number;
  /** p_paddr: the address the segment is loaded at (what remoteproc uses). */
  readonly paddr: number;
  /** p_filesz: bytes in the file (at most `memsz`). */
  readonly filesz: number;
  /** p_memsz: bytes in memory; the part past `filesz` is zero-filled. */
  readonly memsz: number;
  /** p_align: 0, 1 or a power of two. */
  readonly align: number;
}

/** One section header, with its name resolved from the section name string table. */
export interface ElfSection {
  /** Index in the section header table. */
  readonly index: number;
  /** Name from the section name string table (sh_name), "" when it has none. */
  readonly name: string;
  /** sh_type (1 = PROGBITS, 8 = NOBITS). */
  readonly type: number;
  /** sh_flags: SHF_WRITE (1), SHF_ALLOC (2), SHF_EXECINSTR (4). */
  readonly flags: number;
  /** sh_addr: the section's address in memory (the resource table's device address). */
  readonly addr: number;
  /** sh_offset: file offset of the section's bytes. */
  readonly offset: number;
  /** sh_size: bytes (in the file unless NOBITS). */
  readonly size: number;
  /** sh_link: a related section's index (meaning depends on the type). */
  readonly link: number;
  /** sh_info: extra information (meaning depends on the type). */
  readonly info: number;
  /** sh_addralign: 0, 1 or a power of two. */
  readonly addralign: number;
  /** sh_entsize: size of one entry for table sections, else 0. */
  readonly entsize: number;
}

/** A validated ELF image. Every segment and section it lists lies inside `bytes`. */
export interface ElfImage {
  /** The whole file. */
  readonly bytes: Uint8Array;
  /** 32 or 64. */
  readonly class: 32 | 64;
  /** e_type (2 = EXEC). */
  readonly type: number;
  /** e_machine (243 = RISC-V, 40 = ARM, 183 = AArch64, 62 = x86-64). */
  readonly machine: number;
  /** e_flags. */
  readonly flags: number;
  /** Boot address, e_entry. */
  readonly entry: number;
  /** The program headers, in table order. */
  readonly segments: readonly ElfSegment[];
  /** The section headers, in table order (empty when the file has none). */
  readonly sections: readonly ElfSection[];
}

/** How serious an {@linkcode ElfProblem} is: errors make the image unloadable. */
export type ElfProblemSeverity = "error" | "warning";

/** One finding of `checkElf`: the same `code` and message `parseElf` would throw. */
export interface ElfProblem {
  /** Stable identifier of the failed check, one of {@linkcode ELF_CODES}. */
  readonly code: string;
  /** Human message naming the file and the numbers involved. */
  readonly message: string;
  /** Whether it makes the image unloadable (error) or only deserves a look (warning). */
  readonly severity: ElfProblemSeverity;
}

/**
 * Every `code` the ELF reader reports. Each check has its own code; the ones
 * marked "warning" never make `parseElf` throw.
 */
export const ELF_CODES = {
  /** File shorter than e_ident or than the ELF header of its class. */
  TOO_SMALL: "ELF_TOO_SMALL",
  /** First four bytes are not 0x7f 'E' 'L' 'F'. */
  BAD_MAGIC: "ELF_BAD_MAGIC",
  /** EI_CLASS is neither 1 (ELF32) nor 2 (ELF64). */
  BAD_CLASS: "ELF_BAD_CLASS",
  /** EI_DATA is 2: big-endian images are not supported. */
  BIG_ENDIAN: "ELF_BIG_ENDIAN",
  /** EI_DATA is neither 1 (little-endian) nor 2. */
  BAD_DATA: "ELF_BAD_DATA",
  /** EI_VERSION or e_version is not 1. */
  BAD_VERSION: "ELF_BAD_VERSION",
  /** A 64-bit field is above `Number.MAX_SAFE_INTEGER`. */
  VALUE_TOO_LARGE: "ELF_VALUE_TOO_LARGE",
  /** e_phnum is 0. */
  NO_SEGMENTS: "ELF_NO_SEGMENTS",
  /** e_phentsize is not 32 (ELF32) or 56 (ELF64). */
  BAD_PHENTSIZE: "ELF_BAD_PHENTSIZE",
  /** e_phoff is 0 although e_phnum is not. */
  PHDRS_MISSING: "ELF_PHDRS_MISSING",
  /** e_phoff + e_phnum * e_phentsize is past the end of the file. */
  PHDRS_OUTSIDE_FILE: "ELF_PHDRS_OUTSIDE_FILE",
  /** p_offset + p_filesz is past the end of the file. */
  SEGMENT_OUTSIDE_FILE: "ELF_SEGMENT_OUTSIDE_FILE",
  /** A PT_LOAD segment has p_filesz > p_memsz. */
  SEGMENT_FILESZ_GT_MEMSZ: "ELF_SEGMENT_FILESZ_GT_MEMSZ",
  /** A PT_LOAD segment's p_paddr + p_memsz wraps the address space. */
  SEGMENT_ADDRESS_WRAP: "ELF_SEGMENT_ADDRESS_WRAP",
  /** Two PT_LOAD segments cover the same physical bytes. */
  SEGMENTS_OVERLAP: "ELF_SEGMENTS_OVERLAP",
  /** Warning: a PT_LOAD segment with p_memsz 0 (loads nothing). */
  SEGMENT_EMPTY: "ELF_SEGMENT_EMPTY",
  /** e_shentsize is not 40 (ELF32) or 64 (ELF64) while e_shnum is not 0. */
  BAD_SHENTSIZE: "ELF_BAD_SHENTSIZE",
  /** e_shoff is 0 although e_shnum is not. */
  SHDRS_MISSING: "ELF_SHDRS_MISSING",
  /** e_shoff + e_shnum * e_shentsize is past the end of the file. */
  SHDRS_OUTSIDE_FILE: "ELF_SHDRS_OUTSIDE_FILE",
  /** e_shstrndx >= e_shnum. */
  BAD_SHSTRNDX: "ELF_BAD_SHSTRNDX",
  /** The section e_shstrndx names is not of type SHT_STRTAB. */
  SHSTRTAB_NOT_STRTAB: "ELF_SHSTRTAB_NOT_STRTAB",
  /** Warning: e_shstrndx is 0 (SHN_UNDEF): sections have no names. */
  NO_SECTION_NAMES: "ELF_NO_SECTION_NAMES",
  /** sh_offset + sh_size is past the end of the file (not SHT_NOBITS). */
  SECTION_OUTSIDE_FILE: "ELF_SECTION_OUTSIDE_FILE",
  /** sh_name is at or past the end of the section name string table. */
  SECTION_NAME_OUTSIDE_STRTAB: "ELF_SECTION_NAME_OUTSIDE_STRTAB",
  /** A section name runs to the end of the string table without a NUL. */
  SECTION_NAME_UNTERMINATED: "ELF_SECTION_NAME_UNTERMINATED",
} as const satisfies Record<string, ElfErrorCode>;

/** One of the values of {@linkcode ELF_CODES}. */
export type ElfCode = typeof ELF_CODES[keyof typeof ELF_CODES];
