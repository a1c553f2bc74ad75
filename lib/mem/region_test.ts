import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { heapRegion, hex, MemoryRegion } from "./region.ts";

const BASE = 0x9010_0000;
const SIZE = 0x100;
const MAX = Number.MAX_SAFE_INTEGER;

/** Asserts `fn` throws an amp error with this code. */
function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, code);
    return true;
  });
}

Deno.test("hex formats integers, negatives and non-integers", () => {
  assert.equal(hex(0), "0x0");
  assert.equal(hex(0x9010_0000), "0x90100000");
  assert.equal(hex(-0x10), "-0x10");
  assert.equal(hex(2n ** 64n - 1n), "0xffffffffffffffff");
  assert.equal(hex(NaN), "NaN");
  assert.equal(hex(1.5), "1.5");
});

Deno.test("every accessor works at the first and last in-bounds position", () => {
  const r = heapRegion(BASE, SIZE);
  const last = BASE + SIZE;
  r.setU8(BASE, 0x11);
  r.setU8(last - 1, 0x22);
  r.setU16(last - 2 - 2, 0x3344);
  r.setU32(last - 8, 0x5566_7788);
  r.setU64(last - 16, 0x0102_0304_0506_0708n);
  assert.equal(r.u8(BASE), 0x11);
  assert.equal(r.u8(last - 1), 0x22);
  assert.equal(r.u16(last - 4), 0x3344);
  assert.equal(r.u32(last - 8), 0x5566_7788);
  assert.equal(r.u64(last - 16), 0x0102_0304_0506_0708n);
  // Little-endian on the wire.
  assert.deepEqual([...r.read(last - 8, 4)], [0x88, 0x77, 0x66, 0x55]);
  r.setU64(BASE, 0xffff_ffff_ffff_ffffn);
  r.setU16(BASE + 8, 0x1_2345); // masked to 16 bits
  assert.equal(r.u16(BASE + 8), 0x2345);
  assert.equal(r.u64(BASE), 0xffff_ffff_ffff_ffffn);
});

Deno.test("every accessor refuses an access that crosses either edge", () => {
  const r = heapRegion(BASE, SIZE);
  const end = BASE + SIZE;
  const reads: [string, (pa: number) => unknown, number][] = [
    ["u8", (pa) => r.u8(pa), 1],
    ["u16", (pa) => r.u16(pa), 2],
    ["u32", (pa) => r.u32(pa), 4],
    ["u64", (pa) => r.u64(pa), 8],
    ["setU8", (pa) => r.setU8(pa, 1), 1],
    ["setU16", (pa) => r.setU16(pa, 1), 2],
    ["setU32", (pa) => r.setU32(pa, 1), 4],
    ["setU64", (pa) => r.setU64(pa, 1n), 8],
    ["read", (pa) => r.read(pa, 3), 3],
    ["readInto", (pa) => r.readInto(pa, new Uint8Array(3)), 3],
    ["write", (pa) => r.write(pa, new Uint8Array(3)), 3],
    ["fill", (pa) => r.fill(pa, 3, 1), 3],
    ["bytes", (pa) => r.bytes(pa, 3), 3],
    ["dataView", (pa) => r.dataView(pa, 3), 3],
  ];
  for (const [what, f, n] of reads) {
    f(end - n); // last fitting position
    f(BASE);
    for (const pa of [end - n + 1, BASE - 1, end]) {
      assert.throws(() => f(pa), (e: unknown) => {
        assert.ok(isAmpError(e) && e.code === "MEM_OUT_OF_BOUNDS", `${what}(${hex(pa)}): ${e}`);
        return true;
      });
    }
  }
});

Deno.test("a refused write changes nothing, even the part that would fit", () => {
  const buf = new ArrayBuffer(SIZE + 16);
  const raw = new Uint8Array(buf);
  const r = new MemoryRegion(BASE, buf, {}, 8, SIZE);
  throwsCode(() => r.write(BASE + SIZE - 2, new Uint8Array([1, 2, 3])), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => r.fill(BASE + SIZE - 2, 3, 0xff), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => r.setU64(BASE + SIZE - 4, -1n), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => r.fill(BASE - 1, 2, 0xff), "MEM_OUT_OF_BOUNDS");
  assert.ok(raw.every((b) => b === 0), "no byte inside or around the region changed");
});

Deno.test("bad addresses and lengths are refused, never wrapped", () => {
  const r = heapRegion(BASE, SIZE);
  for (const pa of [NaN, -1, -BASE, Infinity, -Infinity, 1.5, BASE + 0.5, MAX, MAX + 2]) {
    throwsCode(() => r.u8(pa), "MEM_OUT_OF_BOUNDS");
    throwsCode(() => r.read(pa, 1), "MEM_OUT_OF_BOUNDS");
  }
  for (const len of [NaN, -1, SIZE + 1, MAX, Infinity, 2.5]) {
    throwsCode(() => r.read(BASE, len), "MEM_OUT_OF_BOUNDS");
    throwsCode(() => r.fill(BASE, len), "MEM_OUT_OF_BOUNDS");
    assert.equal(r.contains(BASE, len), false);
  }
  // A huge length from a high address must not wrap around to "inside".
  throwsCode(() => r.read(BASE + 1, MAX - BASE), "MEM_OUT_OF_BOUNDS");
  // len 0 is fine anywhere in [base, end], including at end.
  assert.equal(r.read(BASE + SIZE, 0).length, 0);
  assert.equal(r.bytes(BASE, 0).length, 0);
  throwsCode(() => r.read(BASE + SIZE + 1, 0), "MEM_OUT_OF_BOUNDS");
  assert.equal(r.contains(BASE + SIZE, 0), true);
  assert.equal(r.contains(BASE - 1, 0), false);
});

Deno.test("a region at the top of the exact address range works and cannot overflow", () => {
  const top = heapRegion(MAX - 0x10, 0x10, { name: "top" });
  top.setU8(MAX - 1, 9);
  assert.equal(top.u8(MAX - 1), 9);
  assert.equal(top.end, MAX); // last byte is MAX - 1
  throwsCode(() => top.u8(MAX), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => top.u16(MAX - 1), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => top.read(MAX - 0x10, 0x11), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => top.read(MAX - 1, MAX), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => heapRegion(MAX - 0xf, 0x10), "MEM_WRAP");
});

Deno.test("constructor validates base, size, offset and wraparound", () => {
  const buf = new ArrayBuffer(64);
  throwsCode(() => new MemoryRegion(-1, buf), "MEM_BAD_BASE");
  throwsCode(() => new MemoryRegion(NaN, buf), "MEM_BAD_BASE");
  throwsCode(() => new MemoryRegion(1.5, buf), "MEM_BAD_BASE");
  throwsCode(() => new MemoryRegion(MAX + 1, buf), "MEM_BAD_BASE");
  throwsCode(() => new MemoryRegion(0, buf, {}, 65), "MEM_BAD_SIZE");
  throwsCode(() => new MemoryRegion(0, buf, {}, 8, 57), "MEM_BAD_SIZE");
  throwsCode(() => new MemoryRegion(0, buf, {}, -1, 8), "MEM_BAD_SIZE");
  throwsCode(() => new MemoryRegion(0, buf, {}, 0, -1), "MEM_BAD_SIZE");
  throwsCode(() => new MemoryRegion(0, buf, {}, 0, NaN), "MEM_BAD_SIZE");
  throwsCode(() => new MemoryRegion(MAX - 10, buf, {}, 0, 11), "MEM_WRAP");
  const ok = new MemoryRegion(MAX - 10, buf, {}, 0, 10);
  assert.equal(ok.end, MAX);
  throwsCode(() => heapRegion(0, -1), "MEM_BAD_SIZE");
  throwsCode(() => heapRegion(0, 1.5), "MEM_BAD_SIZE");
});

Deno.test("byteOffset places the base inside the buffer", () => {
  const buf = new ArrayBuffer(32);
  const raw = new Uint8Array(buf);
  const r = new MemoryRegion(0x1000, buf, { name: "win" }, 8, 16);
  r.setU8(0x1000, 0xaa);
  r.setU8(0x100f, 0xbb);
  assert.equal(raw[8], 0xaa);
  assert.equal(raw[23], 0xbb);
  assert.equal(r.size, 16);
  throwsCode(() => r.u8(0x1010), "MEM_OUT_OF_BOUNDS");
  assert.equal(raw[24], 0);
});

Deno.test("error messages name the region and the range", () => {
  const r = heapRegion(BASE, SIZE, { name: "shm" });
  assert.throws(
    () => r.u32(BASE + SIZE - 2),
    /Access \[0x901000fe, \+0x4\) is outside region shm \[0x90100000, \+0x100\)/,
  );
});

Deno.test("big-endian regions read and write big-endian", () => {
  const r = heapRegion(0, 16, { littleEndian: false });
  r.setU32(0, 0x0102_0304);
  assert.deepEqual([...r.read(0, 4)], [1, 2, 3, 4]);
  r.setU64(8, 0x0102_0304_0506_0708n);
  assert.equal(r.u8(8), 1);
  assert.equal(r.u64(8), 0x0102_0304_0506_0708n);
});

Deno.test("u64Number returns safe values and refuses larger ones", () => {
  const r = heapRegion(0, 16);
  r.setU64(0, BigInt(MAX));
  assert.equal(r.u64Number(0), MAX);
  r.setU64(8, BigInt(MAX) + 1n);
  throwsCode(() => r.u64Number(8), "MEM_U64_UNSAFE");
});

Deno.test("copying accessors copy; bytes/dataView alias the region", () => {
  const r = heapRegion(0, 32);
  r.write(4, new Uint8Array([1, 2, 3]));
  const copy = r.read(4, 3);
  const view = r.bytes(4, 3);
  const dv = r.dataView(4, 3);
  r.setU8(5, 0x77);
  assert.deepEqual([...copy], [1, 2, 3]);
  assert.deepEqual([...view], [1, 0x77, 3]);
  assert.equal(dv.getUint8(1), 0x77);
  view[2] = 0x99;
  assert.equal(r.u8(6), 0x99);
  const dst = new Uint8Array(3);
  r.readInto(4, dst);
  assert.deepEqual([...dst], [1, 0x77, 0x99]);
  r.fill(0, 32, 0xee);
  assert.equal(r.u32(28), 0xeeee_eeee);
});

Deno.test("atomics work aligned and refuse misaligned addresses", () => {
  const r = heapRegion(0x1000, 64, { shared: true });
  r.atomicStoreU32(0x1004, 0xdead_beef);
  assert.equal(r.atomicLoadU32(0x1004), 0xdead_beef);
  assert.equal(r.u32(0x1004), 0xdead_beef);
  r.atomicStoreU16(0x100a, 0x1_beef);
  assert.equal(r.atomicLoadU16(0x100a), 0xbeef);
  for (const pa of [0x1001, 0x1002, 0x1003]) {
    throwsCode(() => r.atomicLoadU32(pa), "MEM_MISALIGNED");
    throwsCode(() => r.atomicStoreU32(pa, 1), "MEM_MISALIGNED");
  }
  throwsCode(() => r.atomicLoadU16(0x1001), "MEM_MISALIGNED");
  throwsCode(() => r.atomicStoreU16(0x1003, 1), "MEM_MISALIGNED");
  throwsCode(() => r.atomicLoadU32(0x103e), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => r.atomicLoadU32(0x1040), "MEM_OUT_OF_BOUNDS");
  assert.equal(r.u32(0x1000), 0, "misaligned stores must not write");
});

Deno.test("atomics check alignment in memory too, and refuse a foreign byte order", () => {
  // Base 0x1000 at buffer offset 2: addresses are aligned but memory is not.
  const r = new MemoryRegion(0x1000, new ArrayBuffer(64), {}, 2, 32);
  throwsCode(() => r.atomicLoadU32(0x1000), "MEM_MISALIGNED");
  const be = heapRegion(0, 16, { littleEndian: false });
  throwsCode(() => be.atomicLoadU32(0), "MEM_ATOMIC_BYTE_ORDER");
});

Deno.test("sub-regions share memory, keep their own bounds and inherit options", () => {
  const r = heapRegion(0x2000, 0x100, { name: "parent" });
  const s = r.sub(0x2010, 0x20);
  assert.equal(s.base, 0x2010);
  assert.equal(s.size, 0x20);
  assert.equal(s.name, "parent[0x2010]");
  s.setU32(0x2010, 0xabcd_ef01);
  assert.equal(r.u32(0x2010), 0xabcd_ef01);
  r.setU8(0x202f, 5);
  assert.equal(s.u8(0x202f), 5);
  throwsCode(() => s.u8(0x2030), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => s.u8(0x200f), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => r.sub(0x20f0, 0x11), "MEM_OUT_OF_BOUNDS");
  throwsCode(() => r.sub(0x1ff0, 0x10), "MEM_OUT_OF_BOUNDS");
  const ss = s.sub(0x2020, 8, "grandchild");
  ss.setU8(0x2027, 0x42);
  assert.equal(r.u8(0x2027), 0x42);
  // Sub-sub alignment: atomic access at an aligned address of a sub-region.
  ss.atomicStoreU32(0x2024, 7);
  assert.equal(r.u32(0x2024), 7);
  const ro = heapRegion(0, 16, { readOnly: true }).sub(4, 4);
  assert.equal(ro.readOnly, true);
  throwsCode(() => ro.setU8(4, 1), "MEM_READ_ONLY");
});

Deno.test("closing a parent closes its subs; closing a sub leaves the parent usable", () => {
  const r = heapRegion(0, 0x100);
  const a = r.sub(0, 0x10);
  const b = r.sub(0x10, 0x10);
  const bb = b.sub(0x10, 4);
  a.close();
  assert.equal(a.closed, true);
  assert.equal(r.closed, false);
  r.setU8(0, 1);
  throwsCode(() => a.u8(0), "MEM_CLOSED");
  r.close();
  assert.equal(b.closed, true);
  assert.equal(bb.closed, true);
  throwsCode(() => b.u8(0x10), "MEM_CLOSED");
  throwsCode(() => bb.u8(0x10), "MEM_CLOSED");
});

Deno.test("close detaches views, releases once, and a second close is harmless", () => {
  let released = 0;
  const buf = new ArrayBuffer(64);
  const r = new MemoryRegion(0x100, buf, { name: "m", release: () => released++ });
  const view = r.bytes(0x100, 16);
  const dv = r.dataView(0x110, 8);
  const child = r.sub(0x120, 16);
  const childView = child.bytes(0x120, 4);
  view[0] = 1;
  r.close();
  assert.equal(released, 1);
  assert.equal(r.closed, true);
  assert.equal(child.closed, true);
  assert.equal(view.length, 0, "view must be detached");
  assert.equal(childView.length, 0, "child's view must be detached");
  assert.throws(() => dv.getUint8(0), TypeError);
  r.close();
  child.close();
  assert.equal(released, 1);
});

Deno.test("every accessor after close throws MEM_CLOSED", () => {
  const r = heapRegion(0, 64);
  const kept = r.bytes(0, 8);
  r.close();
  assert.equal(kept.length, 0, "heap region views are detached too");
  const calls: (() => unknown)[] = [
    () => r.u8(0),
    () => r.u16(0),
    () => r.u32(0),
    () => r.u64(0),
    () => r.u64Number(0),
    () => r.setU8(0, 1),
    () => r.setU16(0, 1),
    () => r.setU32(0, 1),
    () => r.setU64(0, 1n),
    () => r.read(0, 1),
    () => r.readInto(0, new Uint8Array(1)),
    () => r.write(0, new Uint8Array(1)),
    () => r.fill(0, 1),
    () => r.bytes(0, 1),
    () => r.dataView(0, 1),
    () => r.atomicLoadU16(0),
    () => r.atomicStoreU16(0, 1),
    () => r.atomicLoadU32(0),
    () => r.atomicStoreU32(0, 1),
    () => r.sub(0, 1),
    () => r.offsetOf(0),
  ];
  for (const c of calls) throwsCode(c, "MEM_CLOSED");
});

Deno.test("read-only regions refuse every write and allow reads", () => {
  const buf = new ArrayBuffer(16);
  new Uint8Array(buf)[3] = 0x33;
  const r = new MemoryRegion(0, buf, { readOnly: true });
  assert.equal(r.u8(3), 0x33);
  for (
    const w of [
      () => r.setU8(0, 1),
      () => r.setU16(0, 1),
      () => r.setU32(0, 1),
      () => r.setU64(0, 1n),
      () => r.write(0, new Uint8Array(1)),
      () => r.fill(0, 1),
      () => r.atomicStoreU16(0, 1),
      () => r.atomicStoreU32(0, 1),
    ]
  ) throwsCode(w, "MEM_READ_ONLY");
  assert.deepEqual([...r.read(0, 4)], [0, 0, 0, 0x33]);
});

Deno.test("using disposes the region", () => {
  let released = false;
  {
    using r = new MemoryRegion(0, new ArrayBuffer(8), { release: () => released = true });
    r.setU8(0, 1);
  }
  assert.equal(released, true);
});
