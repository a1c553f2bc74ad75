import assert from "node:assert/strict";
import { ElfError, isAmpError } from "../errors.ts";
import {
  checkElf,
  loadSegments,
  parseElf,
  sectionByName,
  sectionData,
  segmentData,
} from "./reader.ts";
import { buildElf } from "./writer.ts";
import { PT_LOAD, PT_NOTE, SHT_NOBITS } from "./types.ts";

// Field offsets written out from the ELF specification, independently of
// _layout.ts, so a wrong layout table there cannot hide behind these tests.
const EH = {
  32: {
    size: 52,
    e_version: 20,
    e_entry: 24,
    e_phoff: 28,
    e_shoff: 32,
    e_phentsize: 42,
    e_phnum: 44,
    e_shentsize: 46,
    e_shnum: 48,
    e_shstrndx: 50,
  },
  64: {
    size: 64,
    e_version: 20,
    e_entry: 24,
    e_phoff: 32,
    e_shoff: 40,
    e_phentsize: 54,
    e_phnum: 56,
    e_shentsize: 58,
    e_shnum: 60,
    e_shstrndx: 62,
  },
} as const;
const PH = {
  32: {
    size: 32,
    p_type: 0,
    p_offset: 4,
    p_vaddr: 8,
    p_paddr: 12,
    p_filesz: 16,
    p_memsz: 20,
    p_align: 28,
  },
  64: {
    size: 56,
    p_type: 0,
    p_offset: 8,
    p_vaddr: 16,
    p_paddr: 24,
    p_filesz: 32,
    p_memsz: 40,
    p_align: 48,
  },
} as const;
const SH = {
  32: { size: 40, sh_name: 0, sh_type: 4, sh_flags: 8, sh_addr: 12, sh_offset: 16, sh_size: 20 },
  64: { size: 64, sh_name: 0, sh_type: 4, sh_flags: 8, sh_addr: 16, sh_offset: 24, sh_size: 32 },
} as const;

const NAME = "fw.elf";
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A valid image and exact-field patching for it. */
class Img {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  constructor(readonly cls: 32 | 64) {
    this.bytes = buildElf({
      class: cls,
      entry: 0x8000_0000,
      segments: [
        { paddr: 0x8000_0000, data: new Uint8Array(64).fill(0xaa), memsz: 0x100 },
        { paddr: 0x8000_1000, data: new Uint8Array(32).fill(0xbb), memsz: 0x40 },
      ],
      sections: [
        { name: ".data", addr: 0x8000_1000, data: new Uint8Array(8).fill(0xcc) },
        { name: ".bss", addr: 0x8000_1040, nobitsSize: 0x80 },
      ],
      resourceTable: { addr: 0x8000_2000, data: new Uint8Array(16).fill(0xdd) },
    });
    this.dv = new DataView(this.bytes.buffer);
  }
  get len(): number {
    return this.bytes.length;
  }
  u16(at: number, v?: number): number {
    if (v !== undefined) this.dv.setUint16(at, v, true);
    return this.dv.getUint16(at, true);
  }
  u32(at: number, v?: number): number {
    if (v !== undefined) this.dv.setUint32(at, v, true);
    return this.dv.getUint32(at, true);
  }
  /** An address/offset/size word: u32 in ELF32, u64 in ELF64. */
  word(at: number, v?: number | bigint): number {
    if (this.cls === 32) return this.u32(at, v === undefined ? undefined : Number(v));
    if (v !== undefined) this.dv.setBigUint64(at, BigInt(v), true);
    return Number(this.dv.getBigUint64(at, true));
  }
  eh(field: keyof typeof EH[32]): number {
    return EH[this.cls][field];
  }
  ph(i: number, field: Exclude<keyof typeof PH[32], "size">): number {
    return this.word(this.eh("e_phoff")) + i * PH[this.cls].size + PH[this.cls][field];
  }
  sh(i: number, field: Exclude<keyof typeof SH[32], "size">): number {
    return this.word(this.eh("e_shoff")) + i * SH[this.cls].size + SH[this.cls][field];
  }
  /** Program/section header fields that are u32 in both classes. */
  phType(i: number, v: number): void {
    this.u32(this.ph(i, "p_type"), v);
  }
}

// Section indices in Img: 0 null, 1 .data, 2 .bss, 3 .resource_table, 4 .shstrtab.
const DATA = 1, BSS = 2, SHSTRTAB = 4;

/** Asserts parseElf throws an ElfError with `code` whose message names the file and `mentions`; and
 * that checkElf reports the same error first. */
function expectCode(bytes: Uint8Array, code: string, ...mentions: string[]): ElfError {
  let caught: unknown;
  try {
    parseElf(bytes, { name: NAME });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ElfError, `expected ElfError ${code}, got ${String(caught)}`);
  assert.ok(isAmpError(caught));
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.message.startsWith(`Cannot load firmware "${NAME}": `), caught.message);
  for (const m of mentions) {
    assert.ok(caught.message.includes(m), `"${m}" not in: ${caught.message}`);
  }
  const { image, problems } = checkElf(bytes, { name: NAME });
  assert.equal(image, undefined);
  const first = problems.find((p) => p.severity === "error");
  assert.deepEqual(first, { code, message: caught.message, severity: "error" });
  return caught;
}

const hex = (n: number | bigint) => "0x" + n.toString(16);

for (const cls of [32, 64] as const) {
  const T = (name: string, fn: () => void) => Deno.test(`parseElf ELF${cls}: ${name}`, fn);

  T("accepts the valid base image and reports its fields", () => {
    const img = new Img(cls);
    const e = parseElf(img.bytes, { name: NAME });
    assert.equal(e.class, cls);
    assert.equal(e.entry, 0x8000_0000);
    assert.equal(e.segments.length, 3);
    assert.deepEqual(e.sections.map((s) => s.name), [
      "",
      ".data",
      ".bss",
      ".resource_table",
      ".shstrtab",
    ]);
    assert.deepEqual(checkElf(img.bytes).problems, []);
  });

  T("ELF_TOO_SMALL: shorter than e_ident", () => {
    expectCode(new Img(cls).bytes.slice(0, 10), "ELF_TOO_SMALL", "10 bytes", "16-byte");
    expectCode(new Uint8Array(0), "ELF_TOO_SMALL", "0 bytes");
  });

  T("ELF_TOO_SMALL: shorter than the class header", () => {
    const size = EH[cls].size;
    expectCode(
      new Img(cls).bytes.slice(0, size - 1),
      "ELF_TOO_SMALL",
      `${size - 1} bytes`,
      `${size}-byte ELF${cls}`,
    );
  });

  T("ELF_BAD_MAGIC", () => {
    const img = new Img(cls);
    img.bytes[1] = 0x58;
    expectCode(img.bytes, "ELF_BAD_MAGIC", "7f 58 4c 46");
  });

  T("ELF_BAD_CLASS", () => {
    for (const v of [0, 3, 0xff]) {
      const img = new Img(cls);
      img.bytes[4] = v;
      expectCode(img.bytes, "ELF_BAD_CLASS", `EI_CLASS is ${v}`);
    }
  });

  T("ELF_BIG_ENDIAN", () => {
    const img = new Img(cls);
    img.bytes[5] = 2;
    expectCode(img.bytes, "ELF_BIG_ENDIAN", "big-endian");
  });

  T("ELF_BAD_DATA", () => {
    const img = new Img(cls);
    img.bytes[5] = 7;
    expectCode(img.bytes, "ELF_BAD_DATA", "EI_DATA is 7");
  });

  T("ELF_BAD_VERSION: EI_VERSION and e_version", () => {
    const a = new Img(cls);
    a.bytes[6] = 0;
    expectCode(a.bytes, "ELF_BAD_VERSION", "EI_VERSION is 0");
    const b = new Img(cls);
    b.u32(b.eh("e_version"), 2);
    expectCode(b.bytes, "ELF_BAD_VERSION", "e_version is 2");
  });

  T("ELF_NO_SEGMENTS: e_phnum 0", () => {
    const img = new Img(cls);
    img.u16(img.eh("e_phnum"), 0);
    expectCode(img.bytes, "ELF_NO_SEGMENTS", "e_phnum is 0");
  });

  T("ELF_BAD_PHENTSIZE", () => {
    const other = cls === 32 ? 56 : 32;
    for (const v of [0, PH[cls].size - 1, other]) {
      const img = new Img(cls);
      img.u16(img.eh("e_phentsize"), v);
      expectCode(img.bytes, "ELF_BAD_PHENTSIZE", `e_phentsize is ${v}`, `expected ${PH[cls].size}`);
    }
  });

  T("ELF_PHDRS_MISSING: e_phoff 0 with e_phnum != 0", () => {
    const img = new Img(cls);
    img.word(img.eh("e_phoff"), 0);
    expectCode(img.bytes, "ELF_PHDRS_MISSING", "e_phoff is 0", "e_phnum is 3");
  });

  T("ELF_PHDRS_OUTSIDE_FILE: one byte past the end", () => {
    const img = new Img(cls);
    const table = 3 * PH[cls].size;
    const off = img.len - table + 1;
    img.word(img.eh("e_phoff"), off);
    expectCode(img.bytes, "ELF_PHDRS_OUTSIDE_FILE", hex(off), hex(table), hex(img.len));
  });

  T("ELF_PHDRS_OUTSIDE_FILE: e_phoff at the top of the word (overflow attempt)", () => {
    const img = new Img(cls);
    const off = cls === 32 ? 0xffff_ffff - 0x10 : MAX_SAFE - 0x10;
    img.word(img.eh("e_phoff"), off);
    expectCode(img.bytes, "ELF_PHDRS_OUTSIDE_FILE", hex(off));
  });

  T("ELF_PHDRS_OUTSIDE_FILE: e_phnum * e_phentsize huge", () => {
    const img = new Img(cls);
    img.u16(img.eh("e_phnum"), 0xffff);
    expectCode(img.bytes, "ELF_PHDRS_OUTSIDE_FILE", "e_phnum 65535", hex(0xffff * PH[cls].size));
  });

  T("ELF_SEGMENT_OUTSIDE_FILE: p_offset + p_filesz one past the end", () => {
    const img = new Img(cls);
    const off = img.word(img.ph(0, "p_offset"));
    const filesz = img.len - off + 1;
    img.word(img.ph(0, "p_filesz"), filesz);
    img.word(img.ph(0, "p_memsz"), 0x1000);
    expectCode(img.bytes, "ELF_SEGMENT_OUTSIDE_FILE", "segment 0", hex(off), hex(filesz));
    // Exactly at the end is fine.
    img.word(img.ph(0, "p_filesz"), filesz - 1);
    assert.equal(parseElf(img.bytes).segments[0]?.filesz, filesz - 1);
  });

  T("ELF_SEGMENT_OUTSIDE_FILE: p_offset + p_filesz wraps the word", () => {
    const img = new Img(cls);
    // In 32-bit arithmetic 0xffffff00 + 0x200 == 0x100, inside the file.
    const off = cls === 32 ? 0xffff_ff00 : MAX_SAFE - 0xff;
    img.word(img.ph(1, "p_offset"), off);
    img.word(img.ph(1, "p_filesz"), 0x40);
    img.word(img.ph(1, "p_memsz"), 0x200);
    img.word(img.ph(1, "p_filesz"), 0x200);
    expectCode(img.bytes, "ELF_SEGMENT_OUTSIDE_FILE", "segment 1", hex(off), "0x200");
  });

  T("ELF_SEGMENT_OUTSIDE_FILE: also for non-PT_LOAD segments", () => {
    const img = new Img(cls);
    img.phType(0, PT_NOTE);
    img.word(img.ph(0, "p_offset"), img.len);
    expectCode(img.bytes, "ELF_SEGMENT_OUTSIDE_FILE", "segment 0");
  });

  T("ELF_SEGMENT_FILESZ_GT_MEMSZ", () => {
    const img = new Img(cls);
    img.word(img.ph(1, "p_memsz"), 0x1f);
    expectCode(
      img.bytes,
      "ELF_SEGMENT_FILESZ_GT_MEMSZ",
      "segment 1",
      "p_filesz 0x20",
      "p_memsz 0x1f",
    );
  });

  T("p_filesz > p_memsz is not checked for non-PT_LOAD segments", () => {
    const img = new Img(cls);
    img.phType(1, PT_NOTE);
    img.word(img.ph(1, "p_memsz"), 0);
    assert.equal(parseElf(img.bytes).segments[1]?.type, PT_NOTE);
  });

  T("ELF_SEGMENT_ADDRESS_WRAP", () => {
    const img = new Img(cls);
    const top = cls === 32 ? 0x1_0000_0000 : MAX_SAFE;
    // Ends exactly at the limit: accepted.
    img.word(img.ph(0, "p_paddr"), top - 0x100);
    assert.equal(parseElf(img.bytes).segments[0]?.paddr, top - 0x100);
    img.word(img.ph(0, "p_paddr"), top - 0xff);
    expectCode(img.bytes, "ELF_SEGMENT_ADDRESS_WRAP", "segment 0", hex(top - 0xff), hex(top + 1));
  });

  T("ELF_SEGMENTS_OVERLAP: partial, containment; adjacent is fine", () => {
    const img = new Img(cls);
    img.word(img.ph(1, "p_paddr"), 0x8000_0100); // adjacent to [0x80000000, +0x100)
    assert.equal(parseElf(img.bytes).segments.length, 3);
    img.word(img.ph(1, "p_paddr"), 0x8000_00f0);
    expectCode(
      img.bytes,
      "ELF_SEGMENTS_OVERLAP",
      "segments 0 [0x80000000, +0x100) and 1 [0x800000f0, +0x40)",
      "[0x800000f0, 0x80000100)",
    );
    img.word(img.ph(1, "p_paddr"), 0x8000_0010); // wholly inside segment 0
    expectCode(img.bytes, "ELF_SEGMENTS_OVERLAP", "[0x80000010, 0x80000050)");
    // Segment 2 (the resource table) below segment 0, overlapping its start.
    img.word(img.ph(1, "p_paddr"), 0x8000_1000);
    img.word(img.ph(2, "p_paddr"), 0x7fff_fff8);
    img.word(img.ph(2, "p_vaddr"), 0x7fff_fff8);
    expectCode(
      img.bytes,
      "ELF_SEGMENTS_OVERLAP",
      "segments 0 [0x80000000, +0x100) and 2 [0x7ffffff8, +0x10)",
    );
  });

  T("ELF_SEGMENT_EMPTY is a warning; an empty PT_LOAD overlaps nothing", () => {
    const img = new Img(cls);
    img.word(img.ph(1, "p_filesz"), 0);
    img.word(img.ph(1, "p_memsz"), 0);
    img.word(img.ph(1, "p_paddr"), 0x8000_0010);
    assert.equal(parseElf(img.bytes, { name: NAME }).segments[1]?.memsz, 0);
    const { image, problems } = checkElf(img.bytes, { name: NAME });
    assert.ok(image !== undefined);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.code, "ELF_SEGMENT_EMPTY");
    assert.equal(problems[0]?.severity, "warning");
    assert.match(problems[0]?.message ?? "", /segment 1 at 0x80000010/);
  });

  T("ELF_BAD_SHENTSIZE (only when there are sections)", () => {
    const img = new Img(cls);
    img.u16(img.eh("e_shentsize"), SH[cls].size + 1);
    expectCode(
      img.bytes,
      "ELF_BAD_SHENTSIZE",
      `e_shentsize is ${SH[cls].size + 1}`,
      `expected ${SH[cls].size}`,
    );
    img.u16(img.eh("e_shnum"), 0);
    assert.deepEqual(parseElf(img.bytes).sections, []);
  });

  T("e_shnum 0: no sections, no resource table", () => {
    const img = new Img(cls);
    img.u16(img.eh("e_shnum"), 0);
    img.word(img.eh("e_shoff"), 0);
    const e = parseElf(img.bytes);
    assert.equal(e.sections.length, 0);
    assert.equal(sectionByName(e, ".resource_table"), undefined);
    assert.equal(e.segments.length, 3);
  });

  T("ELF_SHDRS_MISSING: e_shoff 0 with e_shnum != 0", () => {
    const img = new Img(cls);
    img.word(img.eh("e_shoff"), 0);
    expectCode(img.bytes, "ELF_SHDRS_MISSING", "e_shoff is 0", "e_shnum is 5");
  });

  T("ELF_SHDRS_OUTSIDE_FILE: one past the end, top of word, huge count", () => {
    const a = new Img(cls);
    const table = 5 * SH[cls].size;
    a.word(a.eh("e_shoff"), a.len - table + 1);
    expectCode(a.bytes, "ELF_SHDRS_OUTSIDE_FILE", hex(a.len - table + 1), hex(table), hex(a.len));
    const b = new Img(cls);
    const top = cls === 32 ? 0xffff_ffff : MAX_SAFE;
    b.word(b.eh("e_shoff"), top);
    expectCode(b.bytes, "ELF_SHDRS_OUTSIDE_FILE", hex(top));
    const c = new Img(cls);
    c.u16(c.eh("e_shnum"), 0xffff);
    expectCode(c.bytes, "ELF_SHDRS_OUTSIDE_FILE", "e_shnum 65535", hex(0xffff * SH[cls].size));
  });

  T("ELF_BAD_SHSTRNDX", () => {
    for (const v of [5, 0xffff]) {
      const img = new Img(cls);
      img.u16(img.eh("e_shstrndx"), v);
      expectCode(img.bytes, "ELF_BAD_SHSTRNDX", `e_shstrndx is ${v}`, "e_shnum 5");
    }
  });

  T("ELF_SHSTRTAB_NOT_STRTAB", () => {
    const img = new Img(cls);
    img.u32(img.sh(SHSTRTAB, "sh_type"), SHT_NOBITS);
    expectCode(img.bytes, "ELF_SHSTRTAB_NOT_STRTAB", "section 4", "sh_type 8");
  });

  T("ELF_NO_SECTION_NAMES is a warning when e_shstrndx is 0", () => {
    const img = new Img(cls);
    img.u16(img.eh("e_shstrndx"), 0);
    assert.ok(parseElf(img.bytes).sections.every((s) => s.name === ""));
    const { image, problems } = checkElf(img.bytes);
    assert.ok(image !== undefined);
    assert.deepEqual(problems.map((p) => [p.code, p.severity]), [[
      "ELF_NO_SECTION_NAMES",
      "warning",
    ]]);
  });

  T("ELF_SECTION_OUTSIDE_FILE: one past the end", () => {
    const img = new Img(cls);
    const off = img.word(img.sh(DATA, "sh_offset"));
    img.word(img.sh(DATA, "sh_size"), img.len - off + 1);
    expectCode(
      img.bytes,
      "ELF_SECTION_OUTSIDE_FILE",
      "section 1",
      hex(off),
      hex(img.len - off + 1),
    );
    img.word(img.sh(DATA, "sh_size"), img.len - off); // exactly to the end
    assert.equal(parseElf(img.bytes).sections[DATA]?.size, img.len - off);
  });

  T("ELF_SECTION_OUTSIDE_FILE: sh_offset + sh_size wraps the word", () => {
    const img = new Img(cls);
    const off = cls === 32 ? 0xffff_ff00 : MAX_SAFE - 0xff;
    img.word(img.sh(DATA, "sh_offset"), off);
    img.word(img.sh(DATA, "sh_size"), 0x200);
    expectCode(img.bytes, "ELF_SECTION_OUTSIDE_FILE", "section 1", hex(off), "0x200");
  });

  T("SHT_NOBITS sections may lie anywhere", () => {
    const img = new Img(cls);
    img.word(img.sh(BSS, "sh_offset"), cls === 32 ? 0xffff_ff00 : MAX_SAFE);
    img.word(img.sh(BSS, "sh_size"), 0x1000_0000);
    const e = parseElf(img.bytes);
    const bss = e.sections[BSS]!;
    assert.equal(bss.size, 0x1000_0000);
    assert.equal(sectionData(e, bss).length, 0);
  });

  T("ELF_SECTION_NAME_OUTSIDE_STRTAB", () => {
    const img = new Img(cls);
    const size = img.word(img.sh(SHSTRTAB, "sh_size"));
    img.u32(img.sh(DATA, "sh_name"), size - 1); // last byte, the final NUL: empty name, fine
    assert.equal(parseElf(img.bytes).sections[DATA]?.name, "");
    img.u32(img.sh(DATA, "sh_name"), size);
    expectCode(
      img.bytes,
      "ELF_SECTION_NAME_OUTSIDE_STRTAB",
      "section 1",
      `sh_name ${hex(size)}`,
      `${hex(size)}-byte`,
    );
    img.u32(img.sh(DATA, "sh_name"), 0xffff_ffff);
    expectCode(img.bytes, "ELF_SECTION_NAME_OUTSIDE_STRTAB", "sh_name 0xffffffff");
  });

  T("ELF_SECTION_NAME_UNTERMINATED", () => {
    const img = new Img(cls);
    const off = img.word(img.sh(SHSTRTAB, "sh_offset"));
    const size = img.word(img.sh(SHSTRTAB, "sh_size"));
    assert.equal(img.bytes[off + size - 1], 0);
    img.bytes[off + size - 1] = 0x78; // ".shstrtab" is the last name: now runs off the end
    const nameOff = img.u32(img.sh(SHSTRTAB, "sh_name"));
    expectCode(img.bytes, "ELF_SECTION_NAME_UNTERMINATED", "section 4", `sh_name ${hex(nameOff)}`);
  });

  T("reads an image at a non-zero byteOffset of a larger buffer", () => {
    const src = new Img(cls).bytes;
    const big = new Uint8Array(src.length + 13);
    big.set(src, 13);
    const e = parseElf(big.subarray(13));
    assert.equal(e.entry, 0x8000_0000);
    assert.deepEqual(sectionData(e, sectionByName(e, ".data")!), new Uint8Array(8).fill(0xcc));
  });

  T("helpers: loadSegments, segmentData, sectionData are zero-copy", () => {
    const img = new Img(cls);
    img.phType(1, PT_NOTE);
    const e = parseElf(img.bytes);
    assert.deepEqual(loadSegments(e).map((s) => s.index), [0, 2]);
    assert.ok(loadSegments(e).every((s) => s.type === PT_LOAD));
    const d = segmentData(e, e.segments[0]!);
    assert.deepEqual(d, new Uint8Array(64).fill(0xaa));
    assert.equal(d.buffer, img.bytes.buffer);
    const rt = sectionData(e, sectionByName(e, ".resource_table")!);
    assert.deepEqual(rt, new Uint8Array(16).fill(0xdd));
    img.bytes[e.sections[3]!.offset] = 0x11; // a view, not a copy
    assert.equal(rt[0], 0x11);
  });

  T("checkElf reports every bad segment and section at once", () => {
    const img = new Img(cls);
    img.word(img.ph(0, "p_memsz"), 0x10); // filesz 0x40 > memsz
    img.word(img.ph(1, "p_offset"), img.len); // outside the file
    img.word(img.ph(2, "p_paddr"), 0x8000_0008); // overlaps segment 0
    img.word(img.sh(DATA, "sh_offset"), img.len); // outside the file
    img.u32(img.sh(BSS, "sh_name"), 0x7fff); // outside the string table
    const { image, problems } = checkElf(img.bytes, { name: NAME });
    assert.equal(image, undefined);
    assert.deepEqual(problems.map((p) => p.code), [
      "ELF_SEGMENT_FILESZ_GT_MEMSZ",
      "ELF_SEGMENT_OUTSIDE_FILE",
      "ELF_SEGMENTS_OVERLAP",
      "ELF_SECTION_OUTSIDE_FILE",
      "ELF_SECTION_NAME_OUTSIDE_STRTAB",
    ]);
    assert.ok(problems.every((p) => p.severity === "error" && p.message.includes(`"${NAME}"`)));
    // parseElf throws the first of them.
    assert.throws(() => parseElf(img.bytes, { name: NAME }), { message: problems[0]!.message });
  });
}

Deno.test("parseElf ELF64: ELF_VALUE_TOO_LARGE for every kind of 64-bit field", () => {
  const cases: [string, (img: Img) => number, bigint][] = [
    ["e_entry", (i) => i.eh("e_entry"), 1n << 53n],
    ["e_phoff", (i) => i.eh("e_phoff"), 0xffff_ffff_ffff_fff0n], // near 2^64
    ["e_shoff", (i) => i.eh("e_shoff"), 0xffff_ffff_ffff_ffffn],
    ["segment 0 p_offset", (i) => i.ph(0, "p_offset"), 0xffff_ffff_ffff_ff00n], // + p_filesz wraps 2^64
    ["segment 1 p_filesz", (i) => i.ph(1, "p_filesz"), 1n << 63n],
    ["segment 2 p_paddr", (i) => i.ph(2, "p_paddr"), 0xffff_ffff_ffff_f000n],
    ["section 1 sh_offset", (i) => i.sh(DATA, "sh_offset"), 0xffff_ffff_ffff_ff00n], // + sh_size wraps
    ["section 1 sh_size", (i) => i.sh(DATA, "sh_size"), 1n << 53n],
    ["section 1 sh_addr", (i) => i.sh(DATA, "sh_addr"), 1n << 60n],
  ];
  for (const [what, at, value] of cases) {
    const img = new Img(64);
    img.dv.setBigUint64(at(img), value, true);
    expectCode(img.bytes, "ELF_VALUE_TOO_LARGE", `${what} is ${hex(value)}`);
  }
  // 2^53 - 1 itself is accepted.
  const img = new Img(64);
  img.dv.setBigUint64(img.eh("e_entry"), BigInt(MAX_SAFE), true);
  assert.equal(parseElf(img.bytes).entry, MAX_SAFE);
});

Deno.test("parseElf: no name gives a message without quotes; errors are SyntaxErrors", () => {
  const img = new Img(32);
  img.bytes[0] = 0;
  assert.throws(() => parseElf(img.bytes), (e: unknown) => {
    assert.ok(e instanceof ElfError && e instanceof SyntaxError);
    assert.equal(
      e.message,
      "Cannot load firmware: not an ELF file: magic is 00 45 4c 46, expected 7f 45 4c 46",
    );
    return true;
  });
});

Deno.test("checkElf: header errors stop the check; VALUE_TOO_LARGE in several headers all reported", () => {
  const img = new Img(64);
  img.dv.setBigUint64(img.ph(0, "p_vaddr"), 1n << 62n, true);
  img.dv.setBigUint64(img.ph(2, "p_align"), 1n << 62n, true);
  img.dv.setBigUint64(img.sh(DATA, "sh_flags"), 1n << 62n, true);
  const { problems } = checkElf(img.bytes);
  assert.deepEqual(problems.map((p) => p.message.replace(/^.*: /, "").split(" is ")[0]), [
    "segment 0 p_vaddr",
    "segment 2 p_align",
    "section 1 sh_flags",
  ]);
  assert.ok(problems.every((p) => p.code === "ELF_VALUE_TOO_LARGE"));
  const bad = new Img(32);
  bad.bytes[4] = 9;
  assert.equal(checkElf(bad.bytes).problems.length, 1);
});
