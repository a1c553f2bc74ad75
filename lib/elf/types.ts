/**
 * Shapes of a parsed ELF image. All addresses, offsets and sizes are plain
 * numbers: the parser rejects any 64-bit value above `Number.MAX_SAFE_INTEGER`
 * (code `ELF_VALUE_TOO_LARGE`), so arithmetic on them is exact.
 *
 * @module
 */

/** Program header type of a loadable segment. */
export const PT_LOAD = 1;
/** Segment flag bits. */
export const PF_X = 1, PF_W = 2, PF_R = 4;

/** One program header. */
export interface ElfSegment {
  /** Index in the program header table. */
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
  readonly align: number;
}

/** One section header, with its name resolved from the section name string table. */
export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly addr: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
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
  readonly segments: readonly ElfSegment[];
  readonly sections: readonly ElfSection[];
}
