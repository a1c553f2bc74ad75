import assert from "node:assert/strict";
import { ElfError, isAmpError } from "../errors.ts";
import {
  boundaryValue,
  fieldSites,
  flipBits,
  mutate,
  MUTATORS,
  nearFileSize,
  truncate,
} from "./_fuzz.ts";
import { mulberry32 } from "../util/random.ts";
import { checkElf, parseElf } from "./reader.ts";
import { SHT_NOBITS } from "./types.ts";
import { buildElf } from "./writer.ts";

function seedImage(cls: 32 | 64): Uint8Array {
  return buildElf({
    class: cls,
    segments: [
      { paddr: 0x8000_0000, data: new Uint8Array(48).fill(1), memsz: 0x100 },
      { paddr: 0x8000_1000, data: new Uint8Array(16).fill(2), memsz: 0x20 },
    ],
    sections: [
      { name: ".data", addr: 0x8000_1000, data: new Uint8Array(8).fill(3) },
      { name: ".bss", addr: 0x8000_1010, nobitsSize: 0x10 },
    ],
    resourceTable: { addr: 0x8000_2000, data: new Uint8Array(16).fill(4) },
  });
}

const ITERATIONS = 2000;

for (const cls of [32, 64] as const) {
  Deno.test(`fuzz ELF${cls}: ${ITERATIONS} seeded mutations only ever raise ElfError`, () => {
    const src = seedImage(cls);
    const before = src.slice();
    const codes = new Map<string, number>();
    let accepted = 0;
    for (let seed = 1; seed <= ITERATIONS; seed++) {
      const bytes = mutate(src, mulberry32(seed * 7919 + cls));
      const label = `seed ${seed}`;
      let thrown: unknown;
      let ok = false;
      try {
        const img = parseElf(bytes, { name: "fuzz.elf" });
        ok = true;
        // Whatever was accepted must honour the ElfImage promise.
        for (const s of img.segments) {
          assert.ok(s.offset + s.filesz <= bytes.length, `${label}: segment ${s.index} outside`);
        }
        for (const s of img.sections) {
          if (s.type !== SHT_NOBITS) {
            assert.ok(s.offset + s.size <= bytes.length, `${label}: section ${s.index} outside`);
          }
        }
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        thrown = e;
      }
      // checkElf never throws, and agrees with parseElf.
      const { image, problems } = checkElf(bytes, { name: "fuzz.elf" });
      const firstError = problems.find((p) => p.severity === "error");
      if (ok) {
        accepted++;
        assert.ok(image !== undefined, label);
        assert.equal(firstError, undefined, label);
      } else {
        assert.ok(isAmpError(thrown), `${label}: non-amp error ${String(thrown)}`);
        assert.ok(thrown instanceof ElfError, `${label}: ${String(thrown)}`);
        assert.equal(image, undefined, label);
        assert.equal(firstError?.code, thrown.code, label);
        assert.equal(firstError?.message, thrown.message, label);
        codes.set(thrown.code, (codes.get(thrown.code) ?? 0) + 1);
      }
    }
    assert.deepEqual(src, before, "mutators must not modify their input");
    // The mutations reach deep checks, not just the magic.
    assert.ok(accepted > 0 && accepted < ITERATIONS, `accepted ${accepted}`);
    for (
      const code of [
        "ELF_BAD_MAGIC",
        "ELF_TOO_SMALL",
        "ELF_PHDRS_OUTSIDE_FILE",
        "ELF_SEGMENT_OUTSIDE_FILE",
        "ELF_SECTION_OUTSIDE_FILE",
        "ELF_SHDRS_OUTSIDE_FILE",
      ]
    ) {
      assert.ok((codes.get(code) ?? 0) > 0, `never hit ${code}: ${JSON.stringify([...codes])}`);
    }
    if (cls === 64) assert.ok((codes.get("ELF_VALUE_TOO_LARGE") ?? 0) > 0);
  });
}

Deno.test("_fuzz: mulberry32 and mutate are deterministic per seed", () => {
  const a = mulberry32(123), b = mulberry32(123), c = mulberry32(124);
  const sa = Array.from({ length: 8 }, a), sb = Array.from({ length: 8 }, b);
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, Array.from({ length: 8 }, c));
  assert.ok(sa.every((v) => v >= 0 && v < 1));
  const src = seedImage(32);
  assert.deepEqual(mutate(src, mulberry32(5)), mutate(src, mulberry32(5)));
});

Deno.test("_fuzz: fieldSites locates every header field of both tables", () => {
  for (const cls of [32, 64] as const) {
    const src = seedImage(cls);
    const sites = fieldSites(src);
    // 13 ELF header fields, 8 per program header (3), 10 per section header (5).
    assert.equal(sites.length, 13 + 3 * 8 + 5 * 10);
    const phoff = cls === 32 ? 52 : 64;
    const filesz = sites.find((s) => s.label === "ph[2].p_filesz")!;
    assert.equal(filesz.at, phoff + 2 * (cls === 32 ? 32 : 56) + (cls === 32 ? 16 : 32));
    assert.equal(filesz.size, cls === 32 ? 4 : 8);
  }
  assert.deepEqual(fieldSites(new Uint8Array(10)), []);
});

Deno.test("_fuzz: each mutator changes or shortens the image", () => {
  const src = seedImage(64);
  for (const m of MUTATORS) {
    let changed = 0;
    for (let seed = 0; seed < 20; seed++) {
      const out = m(src, mulberry32(seed));
      if (out.length !== src.length || out.some((b, i) => b !== src[i])) changed++;
    }
    assert.ok(changed >= 15, `${m.name} changed only ${changed}/20`);
  }
  assert.ok(truncate(src, mulberry32(1)).length < src.length);
  assert.equal(flipBits(new Uint8Array(0), mulberry32(1)).length, 0);
  // boundaryValue/nearFileSize only touch header fields: the segment data stays intact.
  const seg0 = parseElf(src).segments[0]!;
  const data = (b: Uint8Array) => b.subarray(seg0.offset, seg0.offset + seg0.filesz);
  for (const m of [boundaryValue, nearFileSize]) {
    for (let seed = 0; seed < 50; seed++) {
      assert.deepEqual(data(m(src, mulberry32(seed))), data(src));
    }
  }
});
