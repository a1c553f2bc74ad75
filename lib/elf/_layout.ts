/**
 * Byte layout of the ELF header, program header and section header of each
 * class (little-endian). Internal: shared by the reader, the writer and the
 * fuzz helper.
 *
 * @module
 */

/** One fixed-width field: its byte offset inside its structure and its width. */
export interface Field {
  readonly off: number;
  readonly size: 1 | 2 | 4 | 8;
}

/** Offsets of the ELF header fields after e_ident. */
export interface EhdrLayout {
  readonly e_type: Field;
  readonly e_machine: Field;
  readonly e_version: Field;
  readonly e_entry: Field;
  readonly e_phoff: Field;
  readonly e_shoff: Field;
  readonly e_flags: Field;
  readonly e_ehsize: Field;
  readonly e_phentsize: Field;
  readonly e_phnum: Field;
  readonly e_shentsize: Field;
  readonly e_shnum: Field;
  readonly e_shstrndx: Field;
}

/** Offsets of the program header fields. */
export interface PhdrLayout {
  readonly p_type: Field;
  readonly p_flags: Field;
  readonly p_offset: Field;
  readonly p_vaddr: Field;
  readonly p_paddr: Field;
  readonly p_filesz: Field;
  readonly p_memsz: Field;
  readonly p_align: Field;
}

/** Offsets of the section header fields. */
export interface ShdrLayout {
  readonly sh_name: Field;
  readonly sh_type: Field;
  readonly sh_flags: Field;
  readonly sh_addr: Field;
  readonly sh_offset: Field;
  readonly sh_size: Field;
  readonly sh_link: Field;
  readonly sh_info: Field;
  readonly sh_addralign: Field;
  readonly sh_entsize: Field;
}

/** Everything that differs between ELF32 and ELF64. */
export interface ClassLayout {
  readonly cls: 32 | 64;
  /** Size of the ELF header. */
  readonly ehsize: number;
  /** Size of one program header. */
  readonly phentsize: number;
  /** Size of one section header. */
  readonly shentsize: number;
  /** Width of addresses, offsets and sizes (4 or 8). */
  readonly word: 4 | 8;
  readonly eh: EhdrLayout;
  readonly ph: PhdrLayout;
  readonly sh: ShdrLayout;
}

/** Size of e_ident, the class-independent start of every ELF file. */
export const EI_NIDENT = 16;
/** Indices into e_ident. */
export const EI_CLASS = 4, EI_DATA = 5, EI_VERSION = 6;
/** The four magic bytes. */
export const ELF_MAGIC: readonly number[] = [0x7f, 0x45, 0x4c, 0x46];

const f = (off: number, size: 1 | 2 | 4 | 8): Field => ({ off, size });

/** ELF32 layout. */
export const LAYOUT32: ClassLayout = {
  cls: 32,
  ehsize: 52,
  phentsize: 32,
  shentsize: 40,
  word: 4,
  eh: {
    e_type: f(16, 2),
    e_machine: f(18, 2),
    e_version: f(20, 4),
    e_entry: f(24, 4),
    e_phoff: f(28, 4),
    e_shoff: f(32, 4),
    e_flags: f(36, 4),
    e_ehsize: f(40, 2),
    e_phentsize: f(42, 2),
    e_phnum: f(44, 2),
    e_shentsize: f(46, 2),
    e_shnum: f(48, 2),
    e_shstrndx: f(50, 2),
  },
  ph: {
    p_type: f(0, 4),
    p_offset: f(4, 4),
    p_vaddr: f(8, 4),
    p_paddr: f(12, 4),
    p_filesz: f(16, 4),
    p_memsz: f(20, 4),
    p_flags: f(24, 4),
    p_align: f(28, 4),
  },
  sh: {
    sh_name: f(0, 4),
    sh_type: f(4, 4),
    sh_flags: f(8, 4),
    sh_addr: f(12, 4),
    sh_offset: f(16, 4),
    sh_size: f(20, 4),
    sh_link: f(24, 4),
    sh_info: f(28, 4),
    sh_addralign: f(32, 4),
    sh_entsize: f(36, 4),
  },
};

/** ELF64 layout. */
export const LAYOUT64: ClassLayout = {
  cls: 64,
  ehsize: 64,
  phentsize: 56,
  shentsize: 64,
  word: 8,
  eh: {
    e_type: f(16, 2),
    e_machine: f(18, 2),
    e_version: f(20, 4),
    e_entry: f(24, 8),
    e_phoff: f(32, 8),
    e_shoff: f(40, 8),
    e_flags: f(48, 4),
    e_ehsize: f(52, 2),
    e_phentsize: f(54, 2),
    e_phnum: f(56, 2),
    e_shentsize: f(58, 2),
    e_shnum: f(60, 2),
    e_shstrndx: f(62, 2),
  },
  ph: {
    p_type: f(0, 4),
    p_flags: f(4, 4),
    p_offset: f(8, 8),
    p_vaddr: f(16, 8),
    p_paddr: f(24, 8),
    p_filesz: f(32, 8),
    p_memsz: f(40, 8),
    p_align: f(48, 8),
  },
  sh: {
    sh_name: f(0, 4),
    sh_type: f(4, 4),
    sh_flags: f(8, 8),
    sh_addr: f(16, 8),
    sh_offset: f(24, 8),
    sh_size: f(32, 8),
    sh_link: f(40, 4),
    sh_info: f(44, 4),
    sh_addralign: f(48, 8),
    sh_entsize: f(56, 8),
  },
};

/** Layout of a class. */
export function layoutOf(cls: 32 | 64): ClassLayout {
  return cls === 32 ? LAYOUT32 : LAYOUT64;
}

/** Reads an unsigned little-endian field as a bigint (for 8-byte fields) or a number. */
export function readField(dv: DataView, base: number, field: Field): number | bigint {
  const at = base + field.off;
  switch (field.size) {
    case 1:
      return dv.getUint8(at);
    case 2:
      return dv.getUint16(at, true);
    case 4:
      return dv.getUint32(at, true);
    case 8:
      return dv.getBigUint64(at, true);
  }
}

/**
 * Writes an unsigned little-endian field. `value` is truncated to the field
 * width (two's complement for negative bigints), which is what a fuzzer wants;
 * callers that need range checks do them first.
 */
export function writeField(
  dv: DataView,
  base: number,
  field: Field,
  value: number | bigint,
): void {
  const at = base + field.off;
  const big = BigInt.asUintN(field.size * 8, BigInt(value));
  switch (field.size) {
    case 1:
      dv.setUint8(at, Number(big));
      return;
    case 2:
      dv.setUint16(at, Number(big), true);
      return;
    case 4:
      dv.setUint32(at, Number(big), true);
      return;
    case 8:
      dv.setBigUint64(at, big, true);
      return;
  }
}
