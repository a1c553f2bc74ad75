import assert from "node:assert/strict";
import { ConfigError, LoadError, ResourceTableError } from "../errors.ts";
import { parseElf } from "../elf/reader.ts";
import { buildElf, type ElfSpec } from "../elf/writer.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion, type MemoryRegion } from "../mem/region.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../rsc/table.ts";
import { loadElf, planLoad } from "./loader.ts";

const IMAGE = 0x9020_0000, SHM = 0x9010_0000;

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function rv64Map(fill = 0xaa): { map: MemoryMap; image: MemoryRegion; shm: MemoryRegion } {
  const image = heapRegion(IMAGE, 0x10_0000, { name: "90200000.rproc" });
  const shm = heapRegion(SHM, 0x10_0000, { name: "90100000.shm" });
  image.fill(IMAGE, image.size, fill);
  shm.fill(SHM, shm.size, fill);
  return { map: new MemoryMap([image, shm]), image, shm };
}

function seedTable(): Uint8Array {
  const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
  return serializeResourceTable(buildResourceTable(
    [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
    { offsetSlots: 8, size: 0x100 },
  ));
}

function image(spec: ElfSpec) {
  return parseElf(buildElf(spec), { name: "fw.elf" });
}

function loadErr(fn: () => unknown): LoadError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LoadError, `not a LoadError: ${e}`);
    return e;
  }
  assert.fail("did not throw");
}

Deno.test("loadElf: copies file bytes at p_paddr and zero-fills to p_memsz", () => {
  for (const cls of [32, 64] as const) {
    const text = pattern(0x300, 1), data = pattern(0x40, 7);
    const img = image({
      class: cls,
      entry: IMAGE,
      segments: [
        // vaddr differs from paddr: the loader must use paddr.
        { paddr: IMAGE, vaddr: 0x1000, data: text },
        { paddr: IMAGE + 0x8000, data, memsz: 0x1000 },
      ],
    });
    const { map, image: ram } = rv64Map();
    const r = loadElf(img, map, { name: "fw.elf" });
    assert.equal(r.entry, IMAGE);
    assert.deepEqual(ram.read(IMAGE, 0x300), text);
    assert.deepEqual(ram.read(IMAGE + 0x8000, 0x40), data);
    assert.ok(ram.read(IMAGE + 0x8040, 0x1000 - 0x40).every((b) => b === 0));
    // Untouched around the segments.
    assert.equal(ram.u8(IMAGE + 0x300), 0xaa);
    assert.equal(ram.u8(IMAGE + 0x7fff), 0xaa);
    assert.equal(ram.u8(IMAGE + 0x9000), 0xaa);
    assert.equal(r.bytesCopied, 0x340);
    assert.equal(r.bytesZeroed, 0x1000 - 0x40);
    assert.deepEqual(
      r.segments.map((s) => [s.index, s.paddr, s.filesz, s.memsz, s.region.name]),
      [
        [0, IMAGE, 0x300, 0x300, "90200000.rproc"],
        [1, IMAGE + 0x8000, 0x40, 0x1000, "90200000.rproc"],
      ],
    );
    assert.equal(r.rsc, undefined);
    assert.deepEqual(r.warnings, []);
  }
});

Deno.test("loadElf: segments go to whichever region holds them", () => {
  const img = image({
    segments: [
      { paddr: IMAGE + 0x10, data: pattern(16, 2) },
      { paddr: SHM + 0x20, data: pattern(8, 3), memsz: 24 },
    ],
  });
  const { map, image: ram, shm } = rv64Map();
  const r = loadElf(img, map);
  assert.deepEqual(r.segments.map((s) => s.region), [ram, shm]);
  assert.deepEqual(shm.read(SHM + 0x20, 8), pattern(8, 3));
  assert.deepEqual(shm.read(SHM + 0x28, 16), new Uint8Array(16));
  assert.equal(shm.u8(SHM + 0x38), 0xaa);
});

Deno.test("loadElf: a segment outside every region is refused with the exact message", () => {
  const img = image({
    entry: 0x8000_0000,
    segments: [
      { paddr: 0x8000_0000, data: pattern(0x100, 1) },
      { paddr: 0x8000_1000, data: pattern(0x10, 2) },
      { paddr: IMAGE, data: pattern(0x100, 3), memsz: 0x47d00 },
    ],
  });
  const low = heapRegion(0x8000_0000, 0x10000, { name: "ram" });
  low.fill(0x8000_0000, 0x10000, 0x55);
  const map = new MemoryMap([low]);
  const e = loadErr(() => loadElf(img, map, { name: "fw.elf" }));
  assert.equal(e.code, "LOAD_OUTSIDE_REGIONS");
  assert.equal(
    e.message,
    'Cannot load firmware "fw.elf": segment 2 [0x90200000, +0x47d00) is outside every memory region',
  );
  // Nothing was written: placement is checked before copying.
  assert.ok(low.read(0x8000_0000, 0x10000).every((b) => b === 0x55));
  assert.equal(loadErr(() => planLoad(img, map, { name: "fw.elf" })).message, e.message);
  // Without a name.
  assert.match(loadErr(() => loadElf(img, map)).message, /^Cannot load firmware: segment 2 /);
});

Deno.test("loadElf: a segment straddling two adjacent regions is refused", () => {
  const a = heapRegion(0x1000_0000, 0x1000, { name: "a" });
  const b = heapRegion(0x1000_1000, 0x1000, { name: "b" });
  const map = new MemoryMap([a, b]);
  const img = image({ segments: [{ paddr: 0x1000_0f00, data: pattern(0x200, 1) }] });
  const e = loadErr(() => loadElf(img, map, { name: "fw.elf" }));
  assert.equal(e.code, "LOAD_OUTSIDE_REGIONS");
  assert.equal(
    e.message,
    'Cannot load firmware "fw.elf": segment 0 [0x10000f00, +0x200) is not inside one memory ' +
      "region: it spans a [0x10000000, +0x1000) and b [0x10001000, +0x1000)",
  );
  // Zero-fill part overrunning the only region is refused too.
  const over = image({ segments: [{ paddr: 0x1000_1f00, data: pattern(0x10, 1), memsz: 0x101 }] });
  const e2 = loadErr(() => loadElf(over, map, { name: "fw.elf" }));
  assert.equal(e2.code, "LOAD_OUTSIDE_REGIONS");
  assert.match(e2.message, /segment 0 \[0x10001f00, \+0x101\) .*overruns b/);
  // Exactly filling the region is fine.
  const fits = image({ segments: [{ paddr: 0x1000_1f00, data: pattern(0x10, 1), memsz: 0x100 }] });
  assert.equal(loadElf(fits, map).bytesZeroed, 0xf0);
});

Deno.test("loadElf: empty PT_LOAD and non-PT_LOAD segments are skipped", () => {
  const img = image({
    segments: [
      { paddr: IMAGE, data: pattern(0x20, 1) },
      { paddr: 0x4000_0000, data: new Uint8Array(0), memsz: 0 }, // nowhere, but empty
      { paddr: 0x5000_0000, data: pattern(8, 1), type: 4 }, // PT_NOTE, nowhere
    ],
  });
  const { map } = rv64Map();
  const r = loadElf(img, map);
  assert.deepEqual(r.segments.map((s) => s.index), [0]);
  assert.equal(r.bytesCopied, 0x20);
});

Deno.test("loadElf: resource table written at sh_addr and at rscTableAddr", () => {
  const table = seedTable();
  // The section is not covered by any segment: only the table write puts it in memory.
  const img = image({
    entry: IMAGE,
    segments: [{ paddr: IMAGE, data: pattern(0x100, 1) }],
    sections: [{ name: ".resource_table", addr: IMAGE + 0x4000, data: table, align: 0x100 }],
  });
  const { map, image: ram, shm } = rv64Map();
  const r = loadElf(img, map, { name: "fw.elf", rscTableAddr: SHM });
  assert.deepEqual(ram.read(IMAGE + 0x4000, 0x100), table);
  assert.deepEqual(shm.read(SHM, 0x100), table);
  assert.equal(shm.u8(SHM + 0x100), 0xaa);
  assert.ok(r.rsc);
  assert.equal(r.rsc.addr, SHM);
  assert.equal(r.rsc.imageAddr, IMAGE + 0x4000);
  assert.deepEqual(r.rsc.bytes, table);
  const v = r.rsc.table.entries[0];
  assert.ok(v?.kind === "vdev" && v.offset === 0x30);

  // Without rscTableAddr the live table is the section's copy.
  const { map: m2, shm: shm2 } = rv64Map();
  const r2 = loadElf(img, m2);
  assert.equal(r2.rsc?.addr, IMAGE + 0x4000);
  assert.equal(shm2.u8(SHM), 0xaa);
});

Deno.test("loadElf: the writer's resource-table segment loads like any other", () => {
  const table = seedTable();
  const img = image({
    segments: [{ paddr: IMAGE, data: pattern(0x100, 1) }],
    resourceTable: { addr: IMAGE + 0x1000, data: table },
  });
  const { map, image: ram } = rv64Map();
  const r = loadElf(img, map);
  assert.deepEqual(ram.read(IMAGE + 0x1000, 0x100), table);
  assert.equal(r.rsc?.addr, IMAGE + 0x1000);
  assert.equal(r.segments.length, 2);
});

Deno.test("loadElf: resource table placement and validity are checked before writing", () => {
  const table = seedTable();
  const outside = image({
    segments: [{ paddr: IMAGE, data: pattern(0x100, 1) }],
    sections: [{ name: ".resource_table", addr: 0x7000_0000, data: table }],
  });
  const { map, image: ram } = rv64Map();
  const e = loadErr(() => loadElf(outside, map, { name: "fw.elf" }));
  assert.equal(e.code, "LOAD_RSC_OUTSIDE_REGIONS");
  assert.equal(
    e.message,
    'Cannot load firmware "fw.elf": resource table [0x70000000, +0x100) is outside every memory region',
  );
  assert.equal(ram.u8(IMAGE), 0xaa);

  const ok = image({
    segments: [{ paddr: IMAGE, data: pattern(0x100, 1) }],
    sections: [{ name: ".resource_table", addr: IMAGE + 0x1000, data: table }],
  });
  const e2 = loadErr(() => loadElf(ok, map, { rscTableAddr: IMAGE + 0x10_0000 - 0x80 }));
  assert.equal(e2.code, "LOAD_RSC_OUTSIDE_REGIONS");
  assert.match(
    e2.message,
    /live resource table \[0x902fff80, \+0x100\) .*overruns 90200000\.rproc/,
  );

  const bad = table.slice();
  bad[0] = 2;
  const badImg = image({
    segments: [{ paddr: IMAGE, data: pattern(0x100, 1) }],
    sections: [{ name: ".resource_table", addr: IMAGE + 0x1000, data: bad }],
  });
  assert.throws(
    () => loadElf(badImg, map),
    (err) => err instanceof ResourceTableError && err.code === "RSC_BAD_VERSION",
  );
  assert.equal(ram.u8(IMAGE), 0xaa);
});

Deno.test("planLoad: reports placement without writing", () => {
  const img = image({
    entry: IMAGE + 0x10,
    segments: [{ paddr: IMAGE, data: pattern(0x100, 1), memsz: 0x300 }],
    resourceTable: { addr: IMAGE + 0x1000, data: seedTable() },
  });
  const { map, image: ram } = rv64Map();
  const plan = planLoad(img, map, { rscTableAddr: SHM });
  assert.equal(plan.totalBytes, 0x400);
  assert.equal(plan.rsc?.addr, SHM);
  assert.deepEqual(plan.warnings, []);
  assert.ok(ram.read(IMAGE, 0x2000).every((b) => b === 0xaa));
});

Deno.test("planLoad: warns when the entry point is outside every segment", () => {
  const img = image({ entry: 0x1234, segments: [{ paddr: IMAGE, data: pattern(0x10, 1) }] });
  const { map } = rv64Map();
  const plan = planLoad(img, map, { name: "fw.elf" });
  assert.deepEqual(plan.warnings.map((w) => w.code), ["LOAD_ENTRY_OUTSIDE_SEGMENTS"]);
  assert.equal(
    plan.warnings[0]?.message,
    'Loading firmware "fw.elf": entry point 0x1234 is not inside any loadable segment',
  );
});

Deno.test("loadElf: progress is reported per chunk and sums to the total", () => {
  const img = image({
    segments: [
      { paddr: IMAGE, data: pattern(10_000, 1), memsz: 12_500 },
      { paddr: IMAGE + 0x8000, data: pattern(3000, 2) },
    ],
  });
  const { map } = rv64Map();
  const calls: [number, number][] = [];
  const r = loadElf(img, map, { chunkSize: 4096, onProgress: (d, t) => calls.push([d, t]) });
  const total = 12_500 + 3000;
  assert.ok(calls.every(([, t]) => t === total));
  assert.deepEqual(calls.at(-1), [total, total]);
  for (let i = 1; i < calls.length; i++) {
    const step = calls[i]![0] - calls[i - 1]![0];
    assert.ok(step > 0 && step <= 4096, `step ${step}`);
  }
  // 10000 copied = 3 chunks, 2500 zeroed = 1 chunk, 3000 copied = 1 chunk.
  assert.equal(calls.length, 5);
  assert.equal(r.bytesCopied + r.bytesZeroed, total);
  assert.throws(
    () => loadElf(img, map, { chunkSize: 0 }),
    (e) => e instanceof ConfigError && e.code === "LOAD_CHUNK_SIZE",
  );
});

Deno.test("loadElf: 2 MiB image (measured)", () => {
  const size = 2 * 1024 * 1024;
  const img = image({
    segments: [{ paddr: 0x8000_0000, data: pattern(size, 9), memsz: size + 0x4_0000 }],
  });
  const ram = heapRegion(0x8000_0000, 4 * 1024 * 1024, { name: "ram" });
  const map = new MemoryMap([ram]);
  let calls = 0;
  const t0 = performance.now();
  const r = loadElf(img, map, { onProgress: () => calls++ });
  const ms = performance.now() - t0;
  assert.equal(r.bytesCopied, size);
  assert.equal(r.bytesZeroed, 0x4_0000);
  assert.equal(calls, 8 + 1);
  assert.equal(ram.u8(0x8000_0000 + size - 1), ((size - 1) * 31 + 9) & 0xff);
  console.log(`loaded 2 MiB + 256 KiB zero-fill in ${ms.toFixed(2)} ms (${calls} progress calls)`);
});
