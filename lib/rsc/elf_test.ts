import assert from "node:assert/strict";
import { ResourceTableError } from "../errors.ts";
import { parseElf } from "../elf/reader.ts";
import { SHT_PROGBITS } from "../elf/types.ts";
import { buildElf } from "../elf/writer.ts";
import { checkElfResourceTable, findResourceTable } from "./elf.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "./table.ts";

function seedTable(): Uint8Array {
  const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
  const t = buildResourceTable(
    [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
    { offsetSlots: 8, size: 0x100 }, // a 0x100-byte section, as in the seed firmware
  );
  return serializeResourceTable(t);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ResourceTableError, `not a ResourceTableError: ${e}`);
    return e.code;
  }
  assert.fail("did not throw");
}

const code = { paddr: 0x9020_0000, data: new Uint8Array(0x100).fill(0x13) };

Deno.test("findResourceTable: section address, private bytes, parsed table", () => {
  for (const cls of [32, 64] as const) {
    const img = parseElf(buildElf({
      class: cls,
      segments: [code],
      resourceTable: { addr: 0x9020_1000, data: seedTable() },
    }));
    const found = findResourceTable(img, { name: "fw.elf" });
    assert.ok(found);
    assert.equal(found.section.addr, 0x9020_1000);
    assert.equal(found.bytes.length, 0x100);
    assert.equal(found.table.size, 0x100);
    assert.deepEqual(found.bytes, seedTable());
    assert.notEqual(found.bytes.buffer, img.bytes.buffer);
    const v = found.table.entries[0];
    assert.ok(v?.kind === "vdev" && v.offset === 0x30 && v.vrings.length === 2);
  }
});

Deno.test("findResourceTable: no section means no table", () => {
  const img = parseElf(buildElf({ segments: [code] }));
  assert.equal(findResourceTable(img), undefined);
  assert.deepEqual(checkElfResourceTable(img), { problems: [], ok: true });
});

Deno.test("findResourceTable: NOBITS and empty sections are errors", () => {
  const nobits = parseElf(buildElf({
    segments: [code],
    sections: [{ name: ".resource_table", addr: 0x9020_1000, nobitsSize: 0x100 }],
  }));
  assert.equal(codeOf(() => findResourceTable(nobits)), "RSC_SECTION_NOBITS");
  const empty = parseElf(buildElf({
    segments: [code],
    sections: [{ name: ".resource_table", addr: 0x9020_1000, data: new Uint8Array(0) }],
  }));
  assert.equal(codeOf(() => findResourceTable(empty)), "RSC_SECTION_EMPTY");
  const r = checkElfResourceTable(empty, { name: "fw.elf" });
  assert.deepEqual(r.problems.map((p) => p.code), ["RSC_SECTION_EMPTY"]);
  assert.equal(
    r.problems[0]?.message,
    'Firmware "fw.elf": section .resource_table at 0x90201000 is empty',
  );
});

Deno.test("findResourceTable: two .resource_table sections are ambiguous", () => {
  const img = parseElf(buildElf({
    segments: [code],
    sections: [
      { name: ".resource_table", addr: 0x9020_1000, data: seedTable(), type: SHT_PROGBITS },
      { name: ".resource_table", addr: 0x9020_2000, data: seedTable() },
    ],
  }));
  assert.equal(codeOf(() => findResourceTable(img)), "RSC_SECTION_DUPLICATE");
});

Deno.test("findResourceTable: a bad table throws the table's code with the firmware name", () => {
  const bad = seedTable();
  bad[0x49] = 3; // num_of_vrings
  const img = parseElf(
    buildElf({ segments: [code], resourceTable: { addr: 0x9020_1000, data: bad } }),
  );
  try {
    findResourceTable(img, { name: "fw.elf" });
    assert.fail("no throw");
  } catch (e) {
    assert.ok(e instanceof ResourceTableError);
    assert.equal(e.code, "RSC_VDEV_TOO_MANY_VRINGS");
    assert.match(e.message, /^Resource table of "fw\.elf": entry 0 \(vdev at 0x30\)/);
  }
  const r = checkElfResourceTable(img);
  assert.equal(r.ok, false);
  assert.equal(r.section?.addr, 0x9020_1000);
  // The linter goes on: the third vring (zeros after the table) is also bad.
  assert.deepEqual(r.problems.map((p) => p.code), [
    "RSC_VDEV_TOO_MANY_VRINGS",
    "RSC_VRING_BAD_NUM",
    "RSC_VRING_BAD_ALIGN",
  ]);
});
