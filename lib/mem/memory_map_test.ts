import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { MemoryMap } from "./memory_map.ts";
import { heapRegion } from "./region.ts";

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, code);
    return true;
  });
}

/** The rv64-virt layout (machines.md section 1). */
function rv64(): MemoryMap {
  return new MemoryMap([
    heapRegion(0x9020_0000, 0x7f_f000, { name: "image" }),
    heapRegion(0x9000_0000, 0x8_0000, { name: "notify" }),
    heapRegion(0x9010_0000, 0x10_0000, { name: "shm" }),
  ]);
}

Deno.test("regions are kept sorted by base and found by address", () => {
  const map = rv64();
  assert.deepEqual(map.regions.map((r) => r.name), ["notify", "shm", "image"]);
  assert.equal(map.find(0x9000_0000)?.name, "notify");
  assert.equal(map.find(0x9016_0000, 0x4000)?.name, "shm");
  assert.equal(map.find(0x9020_0000, 0x7f_f000)?.name, "image");
  assert.equal(map.byName("shm")?.base, 0x9010_0000);
  assert.equal(map.byName("nope"), undefined);
  map.close();
});

Deno.test("a range must lie entirely inside one region", () => {
  const map = rv64();
  // Gap between notify (ends 0x90080000) and shm (starts 0x90100000).
  assert.equal(map.find(0x9008_0000), undefined);
  assert.equal(map.find(0x9007_fffc, 4)?.name, "notify");
  assert.equal(map.find(0x9007_fffc, 5), undefined);
  // Adjacent regions: a range spanning both is in neither.
  assert.equal(map.find(0x901f_fff0, 0x20), undefined);
  assert.equal(map.find(0x909f_f000), undefined);
  for (const pa of [NaN, -1, Number.MAX_SAFE_INTEGER, Infinity]) {
    assert.equal(map.find(pa), undefined);
  }
  assert.equal(map.find(0x9010_0000, -1), undefined);
  assert.equal(map.find(0x9010_0000, NaN), undefined);
  throwsCode(() => map.get(0x9008_0000, 4), "MEM_UNMAPPED");
  assert.throws(
    () => map.get(0x9008_0000, 4),
    /\[0x90080000, \+0x4\) is not inside any mapped region/,
  );
  assert.equal(map.get(0x9010_0010, 4).name, "shm");
  map.close();
});

Deno.test("overlapping, duplicate and closed regions are refused", () => {
  const map = rv64();
  throwsCode(() => map.add(heapRegion(0x900f_f000, 0x2000, { name: "x" })), "MEM_OVERLAP");
  throwsCode(() => map.add(heapRegion(0x9010_0800, 0x10, { name: "y" })), "MEM_OVERLAP");
  throwsCode(() => map.add(heapRegion(0x8fff_f000, 0x20_0000, { name: "big" })), "MEM_OVERLAP");
  const shm = map.byName("shm")!;
  throwsCode(() => map.add(shm), "MEM_DUPLICATE");
  const closed = heapRegion(0x1000, 0x10);
  closed.close();
  throwsCode(() => map.add(closed), "MEM_CLOSED");
  // Touching edges are fine.
  const edge = map.add(heapRegion(0x9008_0000, 0x8_0000, { name: "gap" }));
  assert.equal(map.find(0x9008_0000)?.name, "gap");
  assert.equal(edge.name, "gap");
  assert.equal(map.regions.length, 4);
  map.close();
});

Deno.test("close closes every region; a second close is harmless", () => {
  let released = 0;
  const map = new MemoryMap([
    heapRegion(0, 16, { release: () => released++ }),
    heapRegion(16, 16, { release: () => released++ }),
  ]);
  const view = map.get(0).bytes(0, 16);
  map.close();
  assert.equal(released, 2);
  assert.ok(map.regions.every((r) => r.closed));
  assert.equal(view.length, 0);
  map.close();
  assert.equal(released, 2);
  throwsCode(() => map.get(0).u8(0), "MEM_CLOSED");
});

Deno.test("using disposes the map", () => {
  const r = heapRegion(0, 16);
  {
    using map = new MemoryMap([r]);
    assert.equal(map.find(0), r);
  }
  assert.equal(r.closed, true);
});
