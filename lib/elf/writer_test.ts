import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { parseElf, sectionByName, sectionData, segmentData } from "./reader.ts";
import { buildElf, type ElfSpec } from "./writer.ts";
import {
  PF_R,
  PF_W,
  PF_X,
  PT_LOAD,
  PT_NOTE,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_STRTAB,
} from "./types.ts";

const bytesOf = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

// A well-formed note: namesz 4, descsz 4, type 1, name "amp\0", 4 bytes of descriptor.
const NOTE = new Uint8Array([4, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x61, 0x6d, 0x70, 0, 1, 2, 3, 4]);

function spec(cls: 32 | 64): ElfSpec {
  return {
    class: cls,
    machine: 40,
    flags: 0x5000_0400,
    entry: 0x1000_0004,
    segments: [
      {
        paddr: 0x1000_0000,
        data: bytesOf(100, 1),
        memsz: 0x1000,
        flags: PF_R | PF_X,
        align: 0x1000,
      },
      {
        paddr: 0x2000_0000,
        vaddr: 0x2_0000,
        data: bytesOf(33, 2),
        memsz: 0x2000,
        flags: PF_R | PF_W,
      },
      { paddr: 0x3000_0000, data: NOTE, type: PT_NOTE, flags: PF_R, align: 4 },
    ],
    sections: [
      { name: ".text", addr: 0x1000_0000, data: bytesOf(24, 4), flags: SHF_ALLOC | SHF_EXECINSTR },
      {
        name: ".bss",
        addr: 0x2000_1000,
        nobitsSize: 0x800,
        flags: SHF_ALLOC | SHF_WRITE,
        align: 16,
      },
      { name: ".comment", data: new TextEncoder().encode("amp\0"), flags: 0, align: 1 },
    ],
    resourceTable: { addr: 0x4000_0000, data: bytesOf(40, 5) },
  };
}

for (const cls of [32, 64] as const) {
  Deno.test(`buildElf ELF${cls}: round trip through parseElf`, () => {
    const s = spec(cls);
    const bytes = buildElf(s);
    const img = parseElf(bytes, { name: "rt.elf" });
    assert.equal(img.class, cls);
    assert.equal(img.machine, 40);
    assert.equal(img.flags, 0x5000_0400);
    assert.equal(img.entry, 0x1000_0004);
    assert.equal(img.type, 2);

    // Segments, the resource table's last.
    const want = [...s.segments!, {
      paddr: 0x4000_0000,
      data: s.resourceTable!.data,
      flags: PF_R | PF_W,
    }];
    assert.equal(img.segments.length, want.length);
    img.segments.forEach((seg, i) => {
      const w = want[i]!;
      assert.equal(seg.index, i);
      assert.equal(seg.type, "type" in w && w.type !== undefined ? w.type : PT_LOAD);
      assert.equal(seg.paddr, w.paddr);
      assert.equal(seg.vaddr, "vaddr" in w && w.vaddr !== undefined ? w.vaddr : w.paddr);
      assert.equal(seg.filesz, w.data.length);
      assert.equal(seg.memsz, "memsz" in w && w.memsz !== undefined ? w.memsz : w.data.length);
      assert.equal(seg.flags, w.flags);
      assert.deepEqual(segmentData(img, seg), w.data);
      if (seg.align > 1) assert.equal(seg.offset % seg.align, seg.vaddr % seg.align);
    });
    assert.equal(img.segments[0]!.align, 0x1000);

    // Sections: null, user ones, .resource_table, .shstrtab.
    assert.deepEqual(img.sections.map((x) => [x.name, x.type]), [
      ["", SHT_NULL],
      [".text", SHT_PROGBITS],
      [".bss", SHT_NOBITS],
      [".comment", SHT_PROGBITS],
      [".resource_table", SHT_PROGBITS],
      [".shstrtab", SHT_STRTAB],
    ]);
    const text = sectionByName(img, ".text")!;
    assert.equal(text.addr, 0x1000_0000);
    assert.equal(text.flags, SHF_ALLOC | SHF_EXECINSTR);
    assert.deepEqual(sectionData(img, text), s.sections![0]!.data);
    const bss = sectionByName(img, ".bss")!;
    assert.equal(bss.size, 0x800);
    assert.equal(bss.addralign, 16);
    assert.equal(sectionData(img, bss).length, 0);
    assert.deepEqual(sectionData(img, sectionByName(img, ".comment")!), s.sections![2]!.data);

    // The resource table section and its PT_LOAD share the same file bytes.
    const rt = sectionByName(img, ".resource_table")!;
    const rtSeg = img.segments[3]!;
    assert.equal(rt.addr, 0x4000_0000);
    assert.equal(rt.flags, SHF_ALLOC | SHF_WRITE);
    assert.equal(rt.offset, rtSeg.offset);
    assert.equal(rt.size, rtSeg.filesz);
    assert.deepEqual(sectionData(img, rt), s.resourceTable!.data);
  });

  Deno.test(`buildElf ELF${cls}: defaults (RISC-V, entry = first paddr, PT_LOAD RWX)`, () => {
    const img = parseElf(
      buildElf({ class: cls, segments: [{ paddr: 0x8000_0000, data: bytesOf(4, 9) }] }),
    );
    assert.equal(img.machine, 243);
    assert.equal(img.entry, 0x8000_0000);
    assert.equal(img.segments[0]!.type, PT_LOAD);
    assert.equal(img.segments[0]!.flags, PF_R | PF_W | PF_X);
    assert.equal(img.segments[0]!.memsz, 4);
    assert.deepEqual(img.sections.map((x) => x.name), ["", ".shstrtab"]);
  });
}

Deno.test("buildElf: default class is 32; 64-bit addresses above 4 GiB work in ELF64", () => {
  assert.equal(parseElf(buildElf({ segments: [{ paddr: 0, data: new Uint8Array(1) }] })).class, 32);
  const img = parseElf(buildElf({
    class: 64,
    segments: [{ paddr: 0x10_0000_0000, data: new Uint8Array(1), memsz: 0x1_0000_0000 }],
  }));
  assert.equal(img.segments[0]!.paddr, 0x10_0000_0000);
  assert.equal(img.segments[0]!.memsz, 0x1_0000_0000);
});

Deno.test("buildElf: refuses bad specs with ConfigError codes", () => {
  const data = new Uint8Array(4);
  const cases: [ElfSpec, string, string][] = [
    [
      { class: 32, segments: [{ paddr: 0x1_0000_0000, data }] },
      "ELF_SPEC_VALUE",
      "segments[0].paddr",
    ],
    [{ class: 64, segments: [{ paddr: -1, data }] }, "ELF_SPEC_VALUE", "segments[0].paddr"],
    [{ class: 64, segments: [{ paddr: 1.5, data }] }, "ELF_SPEC_VALUE", "segments[0].paddr"],
    [{ segments: [{ paddr: 0, data, memsz: 3 }] }, "ELF_SPEC_VALUE", "memsz 0x3"],
    [{ segments: [{ paddr: 0, data, align: 12 }] }, "ELF_SPEC_VALUE", "not a power of two"],
    [{ class: 16 as 32, segments: [] }, "ELF_SPEC_VALUE", "class is 16"],
    [{ sections: [{ name: ".x" }] }, "ELF_SPEC_SECTION", "exactly one of"],
    [{ sections: [{ name: ".x", data, nobitsSize: 4 }] }, "ELF_SPEC_SECTION", "exactly one of"],
    [{ sections: [{ name: "a\0b", data }] }, "ELF_SPEC_SECTION", "contains NUL"],
    [{ entry: 2 ** 32 }, "ELF_SPEC_VALUE", "entry"],
  ];
  for (const [s, code, text] of cases) {
    assert.throws(() => buildElf(s), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.code, code);
      assert.ok(e.message.includes(text), e.message);
      return true;
    });
  }
});

async function readelf(bytes: Uint8Array): Promise<{ code: number; out: string; err: string }> {
  const path = await Deno.makeTempFile({ suffix: ".elf" });
  try {
    await Deno.writeFile(path, bytes);
    const r = await new Deno.Command("readelf", { args: ["-a", "-W", path] }).output();
    const dec = new TextDecoder();
    return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
  } finally {
    await Deno.remove(path);
  }
}

function hasReadelf(): boolean {
  try {
    return new Deno.Command("readelf", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const noReadelf = !hasReadelf();

for (const cls of [32, 64] as const) {
  Deno.test({
    name: `buildElf ELF${cls}: binutils readelf parses it without warnings`,
    ignore: noReadelf,
    async fn() {
      const { code, out, err } = await readelf(buildElf(spec(cls)));
      assert.equal(code, 0, err);
      assert.equal(err, "");
      assert.doesNotMatch(out, /warning|error|corrupt/i);
      assert.match(out, new RegExp(`Class:\\s+ELF${cls}`));
      assert.match(out, /little endian/);
      assert.match(out, /Machine:\s+ARM/);
      assert.match(out, /Entry point address:\s+0x10000004/);
      assert.match(out, /Number of program headers:\s+4/);
      assert.match(out, /Number of section headers:\s+6/);
      // Program headers: type, offset, vaddr, paddr, filesz, memsz.
      const ph = [
        ...out.matchAll(/^\s+(LOAD|NOTE)\s+(0x\w+)\s+(0x\w+)\s+(0x\w+)\s+(0x\w+)\s+(0x\w+)/gm),
      ]
        .map((m) => [m[1], ...m.slice(3, 7).map((h) => parseInt(h!, 16))]);
      assert.deepEqual(ph, [
        ["LOAD", 0x1000_0000, 0x1000_0000, 100, 0x1000],
        ["LOAD", 0x2_0000, 0x2000_0000, 33, 0x2000],
        ["NOTE", 0x3000_0000, 0x3000_0000, 20, 20],
        ["LOAD", 0x4000_0000, 0x4000_0000, 40, 40],
      ]);
      for (const name of [".text", ".bss", ".comment", ".resource_table", ".shstrtab"]) {
        assert.match(out, new RegExp(`\\]\\s+\\${name}\\s`));
      }
      assert.match(out, /\.bss\s+NOBITS\s+0*20001000/);
      // readelf maps the resource table section into the last segment.
      assert.match(out, /^\s+03\s+\.resource_table\s*$/m);
    },
  });
}
