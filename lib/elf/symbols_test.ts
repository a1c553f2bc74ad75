import assert from "node:assert/strict";
import { parseElf } from "./reader.ts";
import { shellCommands, symbolNames } from "./symbols.ts";
import { buildElf } from "./writer.ts";

/** A string table and a symbol table (class 64 or 32) naming `names`. */
function withSymbols(names: string[], cls: 32 | 64, mangle?: (sym: DataView) => void): Uint8Array {
  const enc = new TextEncoder();
  const parts = [new Uint8Array(1)];
  const offs: number[] = [];
  let at = 1;
  for (const n of names) {
    offs.push(at);
    const b = enc.encode(n + "\0");
    parts.push(b);
    at += b.length;
  }
  const strtab = new Uint8Array(at);
  let k = 0;
  for (const p of parts) {
    strtab.set(p, k);
    k += p.length;
  }
  const ent = cls === 64 ? 24 : 16;
  const symtab = new Uint8Array(ent * (names.length + 1));
  const dv = new DataView(symtab.buffer);
  offs.forEach((o, i) => dv.setUint32((i + 1) * ent, o, true));
  mangle?.(dv);
  // Section indices: 0 null, 1 .text, 2 .symtab, 3 .strtab.
  return buildElf({
    class: cls,
    entry: 0x9020_0000,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(16), flags: 5 }],
    sections: [
      { name: ".text", addr: 0x9020_0000, data: new Uint8Array(16) },
      { name: ".symtab", data: symtab, type: 2, flags: 0, link: 3, entsize: ent, align: 8 },
      { name: ".strtab", data: strtab, type: 3, flags: 0, align: 1 },
    ],
  });
}

Deno.test("symbols: the RT-Thread shell commands come from __fsym_ symbols, in both classes", () => {
  const names = ["main", "__fsym_rpmsg_echo", "__fsym_shmem_demod", "__vsym_x", "__fsym_help"];
  for (const cls of [32, 64] as const) {
    const img = parseElf(withSymbols(names, cls));
    assert.deepEqual(symbolNames(img).sort(), [...names].sort());
    assert.deepEqual(shellCommands(img), ["help", "rpmsg_echo", "shmem_demod"]);
  }
});

Deno.test("symbols: hostile name offsets, unterminated and odd names are skipped, never thrown", () => {
  const names = ["__fsym_ok", "__fsym_far", "__fsym_bad name", "__fsym_x"];
  const bytes = withSymbols(names, 64, (dv) => {
    dv.setUint32(2 * 24, 0xffff_fff0, true); // "far": name offset outside the string table
  });
  const img = parseElf(bytes);
  assert.deepEqual(shellCommands(img), ["ok", "x"]);
  // A string table whose last name ("__fsym_x") has no NUL: shrink the section by one byte.
  const strtab = img.sections.find((s) => s.name === ".strtab")!;
  const cut = {
    ...img,
    sections: img.sections.map((s) => s === strtab ? { ...s, size: s.size - 1 } : s),
  };
  assert.deepEqual(shellCommands(cut), ["ok"]);
  // A symbol table whose link is not a string table yields nothing.
  const badLink = {
    ...img,
    sections: img.sections.map((s) => s.name === ".symtab" ? { ...s, link: 1 } : s),
  };
  assert.deepEqual(symbolNames(badLink), []);
});
