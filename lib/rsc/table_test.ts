import assert from "node:assert/strict";
import { isAmpError, ResourceTableError } from "../errors.ts";
import { FW_RSC_U32_ADDR_ANY } from "./layout.ts";
import {
  buildResourceTable,
  checkResourceTable,
  entrySize,
  parseResourceTable,
  rpmsgVdev,
  serializeResourceTable,
  vdevStatusAddr,
  vdevStatusOffset,
  vringOffset,
} from "./table.ts";
import type { EntryInit, ResourceTable, Vdev } from "./types.ts";

// ---------------------------------------------------------------------------
// Reference tables, written word by word from machines.md (independent of the serializer).

function words(size: number, fields: [number, number][], bytes: [number, number][] = []) {
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  for (const [o, v] of fields) dv.setUint32(o, v, true);
  for (const [o, v] of bytes) out[o] = v;
  return out;
}

/** machines.md section 1: the seed firmware's table (8 offset slots, vdev at 0x30). */
function seedBytes(): Uint8Array {
  return words(116, [
    [0, 1],
    [4, 1],
    [16, 0x30],
    [0x30, 3],
    [0x34, 7],
    [0x38, 0],
    [0x3c, 1],
    [0x4c, 0xffff_ffff],
    [0x50, 0x1000],
    [0x54, 256],
    [0x58, 1],
    [0x60, 0xffff_ffff],
    [0x64, 0x1000],
    [0x68, 256],
    [0x6c, 2],
  ], [[0x49, 2]]);
}

/** machines.md section 2: upstream openamp-linux's table (vdev at 0x14). */
function linuxBytes(): Uint8Array {
  return words(0x14 + 68, [
    [0, 1],
    [4, 1],
    [16, 0x14],
    [0x14, 3],
    [0x18, 7],
    [0x20, 1],
    [0x30, 0x4000],
    [0x34, 0x1000],
    [0x38, 256],
    [0x3c, 1],
    [0x44, 0x8000],
    [0x48, 0x1000],
    [0x4c, 256],
    [0x50, 2],
  ], [[0x14 + 25, 2]]);
}

function setU32(b: Uint8Array, o: number, v: number): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(o, v, true);
  return b;
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

function firstVdev(t: ResourceTable): Vdev {
  const e = t.entries[0];
  assert.ok(e && e.kind === "vdev");
  return e;
}

// ---------------------------------------------------------------------------

Deno.test("seed table: built layout matches machines.md byte for byte", () => {
  const vr = { da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 256 };
  const t = buildResourceTable(
    [rpmsgVdev({ notifyid: 0, vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
    { offsetSlots: 8 },
  );
  assert.equal(t.size, 116);
  assert.deepEqual(t.offsets, [0x30]);
  assert.deepEqual(serializeResourceTable(t), seedBytes());
});

Deno.test("seed table: parsed field by field", () => {
  const t = parseResourceTable(seedBytes());
  assert.equal(t.version, 1);
  assert.equal(t.size, 116);
  assert.deepEqual(t.offsets, [0x30]);
  assert.equal(t.entries.length, 1);
  assert.deepEqual(t.warnings, []);
  const v = firstVdev(t);
  assert.equal(v.offset, 0x30);
  assert.equal(v.id, 7);
  assert.equal(v.notifyid, 0);
  assert.equal(v.dfeatures, 1);
  assert.equal(v.gfeatures, 0);
  assert.equal(v.status, 0);
  assert.deepEqual(v.reserved, [0, 0]);
  assert.equal(v.config.length, 0);
  assert.deepEqual(v.vrings, [
    { da: 0xffff_ffff, align: 0x1000, num: 256, notifyid: 1, reserved: 0 },
    { da: 0xffff_ffff, align: 0x1000, num: 256, notifyid: 2, reserved: 0 },
  ]);
  assert.equal(vdevStatusOffset(v), 0x48);
  assert.equal(vdevStatusAddr(0x9010_0000, v), 0x9010_0048);
  assert.equal(vringOffset(v, 1), 0x60);
});

Deno.test("openamp-linux table: built and parsed field by field", () => {
  const t = buildResourceTable([
    rpmsgVdev({
      vrings: [
        { da: 0x4000, align: 0x1000, num: 256, notifyid: 1 },
        { da: 0x8000, align: 0x1000, num: 256, notifyid: 2 },
      ],
    }),
  ]);
  assert.deepEqual(serializeResourceTable(t), linuxBytes());
  const p = parseResourceTable(linuxBytes());
  assert.deepEqual(p.offsets, [0x14]);
  assert.equal(p.size, 88);
  const v = firstVdev(p);
  assert.equal(v.offset, 0x14);
  assert.deepEqual([v.id, v.notifyid, v.dfeatures, v.gfeatures, v.status], [7, 0, 1, 0, 0]);
  assert.deepEqual(v.vrings.map((r) => [r.da, r.align, r.num, r.notifyid]), [
    [0x4000, 0x1000, 256, 1],
    [0x8000, 0x1000, 256, 2],
  ]);
  assert.equal(vdevStatusAddr(0, v), 0x14 + 24);
});

Deno.test("parse: works on a subarray with a non-zero byteOffset", () => {
  const big = new Uint8Array(300);
  big.set(seedBytes(), 37);
  const t = parseResourceTable(big.subarray(37, 37 + 116));
  assert.equal(firstVdev(t).vrings[1]?.notifyid, 2);
});

Deno.test("parse: big-endian option reads big-endian tables", () => {
  const t = buildResourceTable([
    rpmsgVdev({ vrings: [{ da: 0x4000, align: 0x1000, num: 64, notifyid: 1 }] }),
  ]);
  const be = serializeResourceTable(t, { littleEndian: false });
  assert.equal(be[3], 1); // version in the last byte
  assert.equal(codeOf(() => parseResourceTable(be)), "RSC_BAD_VERSION");
  const p = parseResourceTable(be, { littleEndian: false });
  assert.equal(firstVdev(p).vrings[0]?.da, 0x4000);
});

// ---------------------------------------------------------------------------
// One test per check: a valid table, one corruption, the exact code.

Deno.test("check RSC_TOO_SMALL", () => {
  assert.equal(codeOf(() => parseResourceTable(seedBytes().slice(0, 15))), "RSC_TOO_SMALL");
  assert.equal(codeOf(() => parseResourceTable(new Uint8Array(0))), "RSC_TOO_SMALL");
  // Exactly the header with num 0 is a valid empty table.
  assert.equal(parseResourceTable(words(16, [[0, 1]])).entries.length, 0);
});

Deno.test("check RSC_BAD_VERSION", () => {
  for (const v of [0, 2, 0xffff_ffff]) {
    assert.equal(codeOf(() => parseResourceTable(setU32(seedBytes(), 0, v))), "RSC_BAD_VERSION");
  }
});

Deno.test("check RSC_RESERVED_NONZERO", () => {
  assert.equal(codeOf(() => parseResourceTable(setU32(seedBytes(), 8, 1))), "RSC_RESERVED_NONZERO");
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 12, 0x8000_0000))),
    "RSC_RESERVED_NONZERO",
  );
});

Deno.test("check RSC_OFFSETS_OUT_OF_BOUNDS", () => {
  // 116 bytes hold 16 + 4 * 25: 25 entries is the most, 26 is too many.
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 4, 26))),
    "RSC_OFFSETS_OUT_OF_BOUNDS",
  );
  // A count whose byte size wraps 32 bits (0x40000001 * 4 = 0x100000004).
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 4, 0x4000_0001))),
    "RSC_OFFSETS_OUT_OF_BOUNDS",
  );
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 4, 0xffff_ffff))),
    "RSC_OFFSETS_OUT_OF_BOUNDS",
  );
  // 25 entries fit the offset array; they then fail on their own offsets, not here.
  assert.notEqual(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 4, 25))),
    "RSC_OFFSETS_OUT_OF_BOUNDS",
  );
});

Deno.test("check RSC_ENTRY_OUT_OF_BOUNDS", () => {
  for (const off of [113, 116, 0xffff_fffc, 0xffff_ffff]) {
    assert.equal(
      codeOf(() => parseResourceTable(setU32(seedBytes(), 16, off))),
      "RSC_ENTRY_OUT_OF_BOUNDS",
      `offset ${off}`,
    );
  }
});

Deno.test("check RSC_ENTRY_TRUNCATED for each fixed struct", () => {
  // Put a type word 4 bytes before the end: only the type word fits.
  for (const type of [0, 1, 2, 3]) {
    const b = setU32(setU32(seedBytes(), 16, 112), 112, type);
    assert.equal(codeOf(() => parseResourceTable(b)), "RSC_ENTRY_TRUNCATED", `type ${type}`);
  }
  // A vdev one byte short of its 28-byte fixed part.
  const v = setU32(setU32(seedBytes(), 16, 0x58), 0x58, 3);
  assert.equal(116 - 0x58, 28);
  assert.equal(firstVdev(parseResourceTable(setU32(v, 0x58 + 20, 0))).offset, 0x58);
  assert.equal(codeOf(() => parseResourceTable(v.slice(0, 115))), "RSC_ENTRY_TRUNCATED");
});

Deno.test("check RSC_UNKNOWN_TYPE and vendor entries", () => {
  for (const type of [4, 127, 513, 0xffff_ffff]) {
    assert.equal(
      codeOf(() => parseResourceTable(setU32(seedBytes(), 0x30, type))),
      "RSC_UNKNOWN_TYPE",
      `type ${type}`,
    );
  }
  for (const type of [128, 300, 512]) {
    const t = parseResourceTable(setU32(seedBytes(), 0x30, type));
    const e = t.entries[0];
    assert.ok(e && e.kind === "vendor");
    assert.equal(e.type, type);
    assert.equal(e.offset, 0x30);
    assert.equal(e.raw?.length, 116 - 0x30);
    assert.deepEqual(t.warnings?.map((w) => w.code), ["RSC_VENDOR_SKIPPED"]);
  }
});

function allKindsTable(): ResourceTable {
  return buildResourceTable([
    { kind: "carveout", da: 0x9020_0000, pa: 0x9020_0000, len: 0x80_0000, flags: 0, name: "image" },
    { kind: "devmem", da: 0x1000_0000, pa: 0x1000_0000, len: 0x1000, flags: 3, name: "uart" },
    { kind: "trace", da: 0x9030_0000, len: 0x2000, name: "trace0" },
    {
      ...rpmsgVdev({
        notifyid: 5,
        dfeatures: 3,
        vrings: [
          { da: 0x9016_0000, align: 0x1000, num: 256, notifyid: 6 },
          { da: 0x9016_4000, align: 0x1000, num: 128, notifyid: 7 },
        ],
      }),
      config: Uint8Array.of(1, 2, 3, 4, 5, 6),
      gfeatures: 1,
      status: 7,
    },
    { kind: "vendor", type: 200, raw: Uint8Array.of(200, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd) },
  ]);
}

Deno.test("check RSC_CARVEOUT_RESERVED_NONZERO / RSC_DEVMEM_RESERVED_NONZERO", () => {
  const t = allKindsTable();
  const b = serializeResourceTable(t);
  assert.equal(
    codeOf(() => parseResourceTable(setU32(b.slice(), t.offsets[0]! + 20, 1))),
    "RSC_CARVEOUT_RESERVED_NONZERO",
  );
  assert.equal(
    codeOf(() => parseResourceTable(setU32(b.slice(), t.offsets[1]! + 20, 1))),
    "RSC_DEVMEM_RESERVED_NONZERO",
  );
});

Deno.test("check RSC_TRACE_BAD_DA / RSC_TRACE_ZERO_LEN; trace reserved only warns", () => {
  const t = allKindsTable();
  const b = serializeResourceTable(t);
  const o = t.offsets[2]!;
  assert.equal(
    codeOf(() => parseResourceTable(setU32(b.slice(), o + 4, 0xffff_ffff))),
    "RSC_TRACE_BAD_DA",
  );
  assert.equal(codeOf(() => parseResourceTable(setU32(b.slice(), o + 8, 0))), "RSC_TRACE_ZERO_LEN");
  const w = parseResourceTable(setU32(b.slice(), o + 12, 9));
  assert.ok(w.warnings?.some((p) => p.code === "RSC_TRACE_RESERVED_NONZERO"));
});

Deno.test("check RSC_VDEV_TOO_MANY_VRINGS", () => {
  // Room for 3 vrings, so only the count check can fail.
  const t = buildResourceTable([
    rpmsgVdev({ vrings: [{ da: 0, align: 0x1000, num: 4, notifyid: 1 }] }),
  ], { size: 200 });
  const b = serializeResourceTable(t);
  b[0x14 + 25] = 3;
  // The third vring's fields are zero, so make them valid to isolate the check.
  for (const k of [1, 2]) {
    setU32(b, 0x14 + 28 + 20 * k + 4, 0x1000);
    setU32(b, 0x14 + 28 + 20 * k + 8, 4);
  }
  assert.equal(codeOf(() => parseResourceTable(b)), "RSC_VDEV_TOO_MANY_VRINGS");
  const s = seedBytes();
  s[0x49] = 255;
  assert.equal(codeOf(() => parseResourceTable(s)), "RSC_VDEV_TOO_MANY_VRINGS");
});

Deno.test("check RSC_VDEV_TRUNCATED (overflow-safe)", () => {
  // The seed vdev ends exactly at 116: one config byte more does not fit.
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 0x44, 1))),
    "RSC_VDEV_TRUNCATED",
  );
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 0x44, 0xffff_ffff))),
    "RSC_VDEV_TRUNCATED",
  );
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 0x44, 0xffff_ffe4))),
    "RSC_VDEV_TRUNCATED",
  );
  // One vring cut off the end.
  assert.equal(codeOf(() => parseResourceTable(seedBytes().slice(0, 112))), "RSC_VDEV_TRUNCATED");
});

Deno.test("check RSC_VDEV_RESERVED_NONZERO", () => {
  for (const at of [0x4a, 0x4b]) {
    const b = seedBytes();
    b[at] = 1;
    assert.equal(codeOf(() => parseResourceTable(b)), "RSC_VDEV_RESERVED_NONZERO");
  }
});

Deno.test("check RSC_VRING_BAD_NUM", () => {
  for (const num of [0, 3, 255, 65536, 0x8000_0000, 0xffff_ffff]) {
    assert.equal(
      codeOf(() => parseResourceTable(setU32(seedBytes(), 0x68, num))),
      "RSC_VRING_BAD_NUM",
      `num ${num}`,
    );
  }
  for (const num of [1, 2, 32768]) {
    assert.equal(firstVdev(parseResourceTable(setU32(seedBytes(), 0x68, num))).vrings[1]?.num, num);
  }
});

Deno.test("check RSC_VRING_BAD_ALIGN", () => {
  for (const align of [0, 0x1001, 0xffff_ffff]) {
    assert.equal(
      codeOf(() => parseResourceTable(setU32(seedBytes(), 0x50, align))),
      "RSC_VRING_BAD_ALIGN",
      `align ${align}`,
    );
  }
  assert.equal(firstVdev(parseResourceTable(setU32(seedBytes(), 0x50, 4))).vrings[0]?.align, 4);
});

Deno.test("check RSC_VRING_RESERVED_NONZERO", () => {
  assert.equal(
    codeOf(() => parseResourceTable(setU32(seedBytes(), 0x70, 1))),
    "RSC_VRING_RESERVED_NONZERO",
  );
});

Deno.test("error messages say what failed with the numbers", () => {
  try {
    parseResourceTable(setU32(seedBytes(), 0x68, 300), { name: "fw.elf" });
    assert.fail("no throw");
  } catch (e) {
    assert.ok(isAmpError(e));
    assert.equal(
      e.message,
      'Resource table of "fw.elf": entry 0 (vdev at 0x30): vring 1 num 300 is not a power of two in 1..32768',
    );
  }
  try {
    parseResourceTable(setU32(seedBytes(), 0x44, 0xffff_ffff));
    assert.fail("no throw");
  } catch (e) {
    assert.ok(isAmpError(e));
    assert.equal(
      e.message,
      "Resource table: entry 0 (vdev at 0x30): needs 28 + 20 * 2 vrings + 4294967295 config = " +
        "4294967363 bytes, only 68 remain in the table",
    );
  }
});

// ---------------------------------------------------------------------------
// Names

Deno.test("names: stop at the first NUL, never need one, decode non-UTF-8 safely", () => {
  const t = allKindsTable();
  const b = serializeResourceTable(t);
  const nameAt = t.offsets[0]! + 24;
  b.fill(0x41, nameAt, nameAt + 32); // 32 x 'A', no NUL at all
  let e = parseResourceTable(b).entries[0];
  assert.ok(e?.kind === "carveout");
  assert.equal(e.name, "A".repeat(32));
  b.set([0x68, 0x69, 0, 0x7a, 0x7a], nameAt); // "hi\0zz..."
  e = parseResourceTable(b).entries[0];
  assert.ok(e?.kind === "carveout");
  assert.equal(e.name, "hi");
  b.set([0xff, 0xe9, 0x41, 0], nameAt); // not UTF-8: read as Latin-1
  e = parseResourceTable(b).entries[0];
  assert.ok(e?.kind === "carveout");
  assert.equal(e.name, "\u00ff\u00e9A");
  b.set([0xc3, 0xa9, 0], nameAt); // valid UTF-8 "é"
  e = parseResourceTable(b).entries[0];
  assert.ok(e?.kind === "carveout");
  assert.equal(e.name, "\u00e9");
});

// ---------------------------------------------------------------------------
// Serialization

Deno.test("serialize: round trip of every entry type", () => {
  const t = allKindsTable();
  const bytes = serializeResourceTable(t);
  assert.equal(bytes.length, t.size);
  const p = parseResourceTable(bytes);
  assert.deepEqual(p.offsets, t.offsets);
  assert.deepEqual(p.warnings?.map((w) => w.code), ["RSC_VENDOR_SKIPPED"]);
  const want = t.entries.map((e) => {
    switch (e.kind) {
      case "carveout":
      case "devmem":
      case "trace":
        return { ...e, reserved: 0 };
      default:
        return e;
    }
  });
  assert.deepEqual(p.entries, want);
  const names = p.entries.map((e) => e.kind);
  assert.deepEqual(names, ["carveout", "devmem", "trace", "vdev", "vendor"]);
  // Field values survive.
  const v = p.entries[3];
  assert.ok(v?.kind === "vdev");
  assert.deepEqual([...v.config], [1, 2, 3, 4, 5, 6]);
  assert.equal(v.status, 7);
  assert.equal(v.gfeatures, 1);
  // Serializing the parsed table gives the same bytes again.
  assert.deepEqual(serializeResourceTable(p), bytes);
  // Each entry is 4-byte aligned after a config space of 6 bytes.
  assert.equal(t.offsets[4], Math.ceil((t.offsets[3]! + entrySize(v)) / 4) * 4);
});

Deno.test("serialize: the host's edits to a parsed table land at the right bytes", () => {
  const p = parseResourceTable(seedBytes());
  const v = firstVdev(p);
  v.vrings[0]!.da = 0x9016_0000;
  v.vrings[1]!.da = 0x9016_4000;
  v.status = 4;
  v.gfeatures = 1;
  const out = serializeResourceTable(p);
  const dv = new DataView(out.buffer);
  assert.equal(dv.getUint32(0x4c, true), 0x9016_0000);
  assert.equal(dv.getUint32(0x60, true), 0x9016_4000);
  assert.equal(out[vdevStatusOffset(v)], 4);
  assert.equal(dv.getUint32(0x40, true), 1);
  // Everything else unchanged.
  const ref = seedBytes();
  for (let i = 0; i < 116; i++) {
    if ([0x40, 0x48, 0x4c, 0x4d, 0x4e, 0x4f, 0x60, 0x61, 0x62, 0x63].includes(i)) continue;
    assert.equal(out[i], ref[i], `byte ${i}`);
  }
});

Deno.test("serialize: rejects names, values and layouts that cannot be encoded", () => {
  const longName: EntryInit = {
    kind: "trace",
    da: 0x1000,
    len: 16,
    name: "x".repeat(33),
  };
  assert.equal(
    codeOf(() => serializeResourceTable(buildResourceTable([longName]))),
    "RSC_NAME_TOO_LONG",
  );
  // 32 bytes is fine and comes back without a NUL.
  const exact = buildResourceTable([{ ...longName, name: "y".repeat(32) }]);
  const back = parseResourceTable(serializeResourceTable(exact)).entries[0];
  assert.ok(back?.kind === "trace" && back.name === "y".repeat(32));

  const big = buildResourceTable([{ ...longName, name: "t", len: 2 ** 32 }]);
  assert.equal(codeOf(() => serializeResourceTable(big)), "RSC_FIELD_RANGE");
  const neg = buildResourceTable([{ ...longName, name: "t", da: -1 }]);
  assert.equal(codeOf(() => serializeResourceTable(neg)), "RSC_FIELD_RANGE");

  const t = allKindsTable();
  t.entries[1]!.offset = t.entries[0]!.offset + 8;
  t.offsets[1] = t.entries[1]!.offset;
  assert.equal(codeOf(() => serializeResourceTable(t)), "RSC_LAYOUT");
  const small = allKindsTable();
  small.size = 64;
  assert.equal(codeOf(() => serializeResourceTable(small)), "RSC_LAYOUT");
  const mismatch = allKindsTable();
  mismatch.offsets[0] = 0x100;
  assert.equal(codeOf(() => serializeResourceTable(mismatch)), "RSC_LAYOUT");
  assert.equal(
    codeOf(() => buildResourceTable([longName, longName], { offsetSlots: 1 })),
    "RSC_LAYOUT",
  );
});

// ---------------------------------------------------------------------------
// checkResourceTable (linter)

Deno.test("checkResourceTable: a clean table has no problems", () => {
  const r = checkResourceTable(seedBytes());
  assert.deepEqual(r.problems, []);
  assert.ok(r.ok);
  assert.equal(r.table?.entries.length, 1);
});

Deno.test("checkResourceTable: collects every problem in table order", () => {
  const b = setU32(seedBytes(), 0, 2); // version
  b[0x4a] = 1; // vdev reserved
  setU32(b, 0x54, 0); // vring 0 num
  setU32(b, 0x64, 3); // vring 1 align
  const r = checkResourceTable(b);
  assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.offset]), [
    ["RSC_BAD_VERSION", "error", 0],
    ["RSC_VDEV_RESERVED_NONZERO", "error", 0x4a],
    ["RSC_VRING_BAD_NUM", "error", 0x54],
    ["RSC_VRING_BAD_ALIGN", "error", 0x64],
  ]);
  assert.equal(r.ok, false);
  // Structure is intact, so the table is still decoded for display.
  assert.equal(firstVdev(r.table!).vrings[0]?.num, 0);
});

Deno.test("checkResourceTable: warnings for size, alignment, overlap, vendor", () => {
  const b = new Uint8Array(118);
  b.set(seedBytes());
  let r = checkResourceTable(b);
  assert.deepEqual(r.problems.map((p) => p.code), ["RSC_SIZE_UNALIGNED"]);
  assert.ok(r.ok);

  // Two entries pointing at the same vdev, one slot pointing into the header.
  const two = seedBytes();
  setU32(two, 4, 2);
  setU32(two, 20, 0x30);
  r = checkResourceTable(two);
  assert.deepEqual(r.problems.map((p) => p.code), ["RSC_ENTRIES_OVERLAP"]);
  assert.ok(r.ok);

  const hdr = seedBytes();
  setU32(hdr, 16, 8); // entry at 8: its type word is reserved[0] = 0 -> carveout
  r = checkResourceTable(hdr);
  assert.ok(r.problems.some((p) => p.code === "RSC_ENTRY_OVERLAPS_HEADER"));

  const odd = seedBytes();
  setU32(odd, 16, 0x31);
  r = checkResourceTable(odd);
  assert.equal(r.problems[0]?.code, "RSC_ENTRY_UNALIGNED");
  assert.equal(r.problems[0]?.severity, "warning");
});

Deno.test("checkResourceTable: broken structure gives no table, every entry still checked", () => {
  const b = setU32(seedBytes(), 4, 3);
  setU32(b, 20, 0xffff_ffff); // entry 1 out of bounds
  setU32(b, 24, 0x30); // entry 2 duplicates entry 0
  setU32(b, 0x30, 77); // entry 0 and 2 unknown type
  const r = checkResourceTable(b);
  assert.equal(r.table, undefined);
  assert.deepEqual(r.problems.map((p) => p.code), [
    "RSC_UNKNOWN_TYPE",
    "RSC_ENTRY_OUT_OF_BOUNDS",
    "RSC_UNKNOWN_TYPE",
  ]);
  assert.deepEqual(checkResourceTable(new Uint8Array(3)).problems.map((p) => p.code), [
    "RSC_TOO_SMALL",
  ]);
});
