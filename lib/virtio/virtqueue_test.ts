import assert from "node:assert/strict";
import { MemoryBoundsError, VirtioError } from "../errors.ts";
import { heapRegion, MemoryRegion } from "../mem/region.ts";
import { VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from "./types.ts";
import { DeviceQueue } from "./device_queue.ts";
import { DriverQueue } from "./driver_queue.ts";
import { readVringSnapshot, type Virtqueue, vringLayout } from "./virtqueue.ts";

const PA = 0x9000_0000;

function pair(
  num = 16,
  align = 0x1000,
  extra: { bufferRange?: { base: number; size: number } } = {},
) {
  const size = vringLayout(num, align).size;
  const shm = heapRegion(PA, size + 0x100);
  const o = { pa: PA, num, align, name: "vq" };
  const drv = new DriverQueue(shm, o);
  const dev = new DeviceQueue(shm, { ...o, ...extra });
  return { shm, drv, dev, l: vringLayout(num, align) };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VirtioError || e instanceof MemoryBoundsError, String(e));
    return e.code;
  }
  assert.fail("expected a throw");
}

Deno.test("vringLayout: classic sizes and pa-relative padding", () => {
  assert.deepEqual(vringLayout(256, 0x1000), {
    desc: 0,
    avail: 0x1000,
    used: 0x2000,
    size: 0x2806,
  });
  // num 4, align 16: avail at 64, avail end 64+4+8+2 = 78 -> used 80, size 80+4+32+2.
  assert.deepEqual(vringLayout(4, 16), { desc: 0, avail: 64, used: 80, size: 118 });
  // pa not aligned to `align`: padding is computed on the absolute address.
  assert.equal(vringLayout(256, 0x1000, 0x100).used, 0x1f00);
  assert.equal(vringLayout(256, 0x1000, 0x9000_1000).used, 0x2000);
  assert.equal(vringLayout(1, 1).used, 16 + 4 + 2 + 2);
  for (const n of [0, 3, 65536, 1.5, -2, NaN]) {
    assert.equal(codeOf(() => vringLayout(n, 0x1000)), "VQ_BAD_NUM", `num ${n}`);
  }
  for (const a of [0, 3, 0x1_0000_0000, 0.5]) {
    assert.equal(codeOf(() => vringLayout(16, a)), "VQ_BAD_ALIGN", `align ${a}`);
  }
  assert.equal(codeOf(() => vringLayout(16, 16, -1)), "VQ_BAD_PA");
  assert.equal(codeOf(() => vringLayout(16, 16, Number.MAX_SAFE_INTEGER - 100)), "VQ_BAD_PA");
});

Deno.test("constructor: geometry, bounds, alignment and byte order checks (both roles)", () => {
  const size = vringLayout(16, 0x1000).size;
  const shm = heapRegion(PA, size);
  const o = { pa: PA, num: 16, align: 0x1000 };
  const ends: [string, (r: MemoryRegion, x: typeof o) => Virtqueue][] = [
    ["driver", (r, x) => new DriverQueue(r, x)],
    ["device", (r, x) => new DeviceQueue(r, x)],
  ];
  for (const [role, make] of ends) {
    assert.equal(make(shm, o).role, role); // fits exactly
    const small = heapRegion(PA, size - 2);
    const e = (() => {
      try {
        make(small, o);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(e instanceof MemoryBoundsError);
    assert.equal(e.code, "VQ_RING_OUTSIDE");
    assert.match(e.message, /\[0x90000000, \+0x1086\) is outside region/);
    assert.equal(codeOf(() => make(shm, { ...o, pa: PA + 0x1000 })), "VQ_RING_OUTSIDE");
    // The descriptor table must be 16-byte aligned.
    assert.equal(codeOf(() => make(shm, { ...o, pa: PA + 4 })), "VQ_MISALIGNED");
    assert.equal(codeOf(() => make(shm, { ...o, pa: PA - 16 })), "VQ_RING_OUTSIDE");
    assert.equal(codeOf(() => make(shm, { ...o, num: 5 })), "VQ_BAD_NUM");
    assert.equal(codeOf(() => make(shm, { ...o, align: 6 })), "VQ_BAD_ALIGN");
    // A region starting 2 bytes into its buffer cannot be used with u32 views.
    const odd = new MemoryRegion(PA, new ArrayBuffer(size + 2), {}, 2, size);
    assert.equal(codeOf(() => make(odd, o)), "VQ_MISALIGNED");
    // align 2 with num 2: used ring at 32+4+4+2 = 42, not 4-byte aligned.
    assert.equal(codeOf(() => make(shm, { ...o, num: 2, align: 2 })), "VQ_MISALIGNED");
    const ro = new MemoryRegion(PA, new ArrayBuffer(size), { readOnly: true });
    assert.equal(codeOf(() => make(ro, o)), "VQ_READ_ONLY");
    assert.equal(readVringSnapshot(ro, o).availIdx, 0, "read-only rings can still be dumped");
    const be = new MemoryRegion(PA, new ArrayBuffer(size), { littleEndian: false });
    assert.equal(codeOf(() => make(be, o)), "VQ_BYTE_ORDER");
  }
  assert.equal(
    codeOf(() => new DeviceQueue(shm, { ...o, bufferRange: { base: -1, size: 10 } })),
    "VQ_BAD_RANGE",
  );
  assert.equal(
    codeOf(() =>
      new DeviceQueue(shm, { ...o, bufferRange: { base: Number.MAX_SAFE_INTEGER - 5, size: 10 } })
    ),
    "VQ_BAD_RANGE",
  );
  // The role is the class: there is no role option to get wrong.
  // @ts-expect-error: `role` is not an option of DriverQueue
  assert.equal(new DriverQueue(shm, { ...o, role: "device" }).role, "driver");
  // @ts-expect-error: only the device end restricts descriptors to a buffer range
  new DriverQueue(shm, { ...o, bufferRange: { base: 0, size: 1 } });
});

Deno.test("driver and device exchange a buffer; wire bytes match the layout", () => {
  const { shm, drv, dev, l } = pair(16, 0x1000);
  assert.equal(drv.numFree, 16);
  const head = drv.addBuf(0x1_2345_6780, 512, true, 777);
  assert.equal(head, 0);
  assert.equal(drv.numFree, 15);
  // Descriptor 0: u64 addr, u32 len, u16 flags, u16 next.
  assert.equal(shm.u64(PA), 0x1_2345_6780n);
  assert.equal(shm.u32(PA + 8), 512);
  assert.equal(shm.u16(PA + 12), VRING_DESC_F_WRITE);
  assert.equal(shm.u16(PA + 14), 0);
  assert.equal(shm.u16(PA + l.avail + 2), 1, "avail.idx published");
  assert.equal(shm.u16(PA + l.avail + 4), 0, "avail.ring[0] = head");
  assert.equal(drv.hasUsed(), false);
  assert.equal(dev.hasAvail(), true);

  assert.equal(dev.getAvail(), 0);
  assert.equal(dev.chainLen, 1);
  assert.deepEqual(dev.chain[0], { addr: 0x1_2345_6780, len: 512, writable: true });
  assert.equal(dev.hasAvail(), false);
  assert.equal(dev.getAvail(), -1);
  assert.equal(dev.numInFlight, 1);

  dev.putUsed(0, 300);
  assert.equal(shm.u16(PA + l.used + 2), 1, "used.idx published");
  assert.equal(shm.u32(PA + l.used + 4), 0, "used.ring[0].id");
  assert.equal(shm.u32(PA + l.used + 8), 300, "used.ring[0].len");
  assert.equal(drv.hasUsed(), true);
  assert.equal(drv.getUsed(), 0);
  assert.equal(drv.lastLen, 300);
  assert.equal(drv.lastToken, 777);
  assert.equal(drv.numFree, 16);
  assert.equal(drv.getUsed(), -1);
  assert.equal(dev.numInFlight, 0);
});

Deno.test("chains: descriptors linked with NEXT, lengths checked against writable part", () => {
  const { shm, drv, dev } = pair(8, 16);
  drv.addBuf(0x1000, 16, false); // head 0 stays posted
  const head = drv.addChain([
    { addr: 0x2000, len: 16, writable: false },
    { addr: 0x3000, len: 100, writable: false },
    { addr: 0x4000, len: 64, writable: true },
    { addr: 0x5000, len: 64, writable: true },
  ], 5);
  assert.equal(head, 1);
  assert.equal(drv.numFree, 3);
  // Descriptors 1 -> 2 -> 3 -> 4 in shared memory.
  for (const [d, next, flags] of [[1, 2, 1], [2, 3, 1], [3, 4, 3], [4, 0, 2]] as const) {
    assert.equal(shm.u16(PA + 16 * d + 12), flags, `flags of ${d}`);
    assert.equal(shm.u16(PA + 16 * d + 14), next, `next of ${d}`);
  }
  assert.equal(drv.addChain(new Array(4).fill({ addr: 0, len: 1, writable: true })), -1);
  assert.equal(drv.numFree, 3, "a refused chain takes nothing");

  assert.equal(dev.getAvail(), 0);
  assert.equal(dev.getAvail(), 1);
  assert.equal(dev.chainLen, 4);
  assert.deepEqual(dev.chain.slice(0, 4).map((b) => [b.addr, b.len, b.writable]), [
    [0x2000, 16, false],
    [0x3000, 100, false],
    [0x4000, 64, true],
    [0x5000, 64, true],
  ]);
  dev.putUsed(1, 128); // exactly the writable total
  dev.putUsed(0, 16); // read-only buffer reported with its full length
  assert.equal(drv.getUsed(), 1);
  assert.equal(drv.lastLen, 128);
  assert.equal(drv.lastToken, 5);
  assert.equal(drv.getUsed(), 0);
  assert.equal(drv.lastLen, 0, "length of a read-only chain is ignored");
  assert.equal(drv.lastToken, 0, "default token is the head id");
  assert.equal(drv.numFree, 8);
  // Freed descriptors are reused.
  const again = drv.addChain([
    { addr: 1, len: 1, writable: false },
    { addr: 2, len: 2, writable: true },
  ]);
  assert.ok(again >= 0 && again < 8);
  assert.equal(drv.numFree, 6);
});

Deno.test("a full queue refuses more buffers; device can return out of order", () => {
  const { drv, dev } = pair(4, 16);
  const heads = [0, 1, 2, 3].map((i) => drv.addBuf(0x1000 * (i + 1), 64, true, i + 10));
  assert.deepEqual(heads, [0, 1, 2, 3]);
  assert.equal(drv.addBuf(0x9000, 64, true), -1);
  assert.equal(drv.numFree, 0);
  const got = [0, 1, 2, 3].map(() => dev.getAvail());
  assert.deepEqual(got, heads);
  for (const h of [2, 0, 3, 1]) dev.putUsed(h, h * 10);
  for (const h of [2, 0, 3, 1]) {
    assert.equal(drv.getUsed(), h);
    assert.equal(drv.lastLen, h * 10);
    assert.equal(drv.lastToken, h + 10);
  }
  assert.equal(drv.numFree, 4);
});

Deno.test("indices wrap past 65535 (70000+ cycles, every id/len/token checked)", () => {
  const num = 64;
  const { shm, drv, dev, l } = pair(num, 0x1000, {
    bufferRange: { base: 0x10_0000, size: num * 256 },
  });
  let total = 0;
  let k = 0;
  while (total < 70_001) {
    const batch = 1 + (k++ % num); // 1..num
    const posted: number[] = [];
    for (let i = 0; i < batch; i++) {
      const token = total + i;
      const h = drv.addBuf(0x10_0000 + (token % num) * 256, 256, true, token);
      assert.ok(h >= 0);
      posted.push(h);
    }
    for (let i = 0; i < batch; i++) {
      const h = dev.getAvail();
      assert.equal(h, posted[i]);
      assert.equal(dev.chain[0]!.addr, 0x10_0000 + ((total + i) % num) * 256);
      dev.putUsed(h, (total + i) % 257);
    }
    assert.equal(dev.getAvail(), -1);
    for (let i = 0; i < batch; i++) {
      assert.equal(drv.getUsed(), posted[i]);
      assert.equal(drv.lastLen, (total + i) % 257);
      assert.equal(drv.lastToken, total + i);
    }
    assert.equal(drv.getUsed(), -1);
    total += batch;
  }
  assert.ok(total > 65535);
  assert.equal(shm.u16(PA + l.avail + 2), total & 0xffff);
  assert.equal(shm.u16(PA + l.used + 2), total & 0xffff);
  assert.equal(drv.numFree, num);
});

Deno.test("notification suppression uses the flags words both ways", () => {
  const { shm, drv, dev, l } = pair(8, 16);
  assert.equal(drv.kickNeeded(), true);
  assert.equal(dev.kickNeeded(), true);
  dev.disableNotifications();
  assert.equal(shm.u16(PA + l.used), 1, "used.flags NO_NOTIFY");
  assert.equal(drv.kickNeeded(), false);
  assert.equal(dev.kickNeeded(), true);
  drv.disableNotifications();
  assert.equal(shm.u16(PA + l.avail), 1, "avail.flags NO_INTERRUPT");
  assert.equal(dev.kickNeeded(), false);
  dev.enableNotifications();
  assert.equal(shm.u16(PA + l.used), 0);
  assert.equal(drv.kickNeeded(), true);
  drv.enableNotifications();
  assert.equal(shm.u16(PA + l.avail), 0);
  assert.equal(dev.kickNeeded(), true);
  // Other bits of the peer's flags word do not suppress.
  shm.setU16(PA + l.used, 0xfffe);
  assert.equal(drv.kickNeeded(), true);
});

Deno.test("reset re-initialises each side's part and clears broken", () => {
  const { shm, drv, dev, l } = pair(8, 16);
  for (let i = 0; i < 5; i++) drv.addBuf(0x1000 + i, 8, true);
  dev.getAvail();
  dev.putUsed(0, 8);
  drv.disableNotifications();
  dev.disableNotifications();
  drv.reset();
  dev.reset();
  const ring = shm.read(PA, l.size);
  assert.ok(ring.every((b) => b === 0), "whole ring zero after both resets");
  assert.equal(drv.numFree, 8);
  assert.equal(dev.numInFlight, 0);
  // Works again from index 0.
  assert.equal(drv.addBuf(0x2000, 8, true, 9), 0);
  assert.equal(dev.getAvail(), 0);
  dev.putUsed(0, 4);
  assert.equal(drv.getUsed(), 0);
  assert.equal(drv.lastLen, 4);

  // A broken queue recovers with reset.
  shm.setU16(PA + l.used + 2, 100); // used.idx jumps
  assert.equal(codeOf(() => drv.getUsed()), "VQ_USED_IDX_JUMP");
  assert.ok(drv.broken !== null);
  assert.equal(codeOf(() => drv.addBuf(0, 1, false)), "VQ_USED_IDX_JUMP");
  drv.reset();
  dev.reset();
  assert.equal(drv.broken, null);
  assert.equal(drv.addBuf(0x2000, 8, true), 0);
});

Deno.test("local mistakes throw without breaking the queue", () => {
  const { drv, dev } = pair(8, 16);
  assert.equal(codeOf(() => drv.addBuf(-1, 1, true)), "VQ_BAD_ARG");
  assert.equal(codeOf(() => drv.addBuf(2 ** 53, 1, true)), "VQ_BAD_ARG");
  assert.equal(codeOf(() => drv.addBuf(0.5, 1, true)), "VQ_BAD_ARG");
  assert.equal(codeOf(() => drv.addBuf(0, 2 ** 32, true)), "VQ_BAD_ARG");
  assert.equal(codeOf(() => drv.addChain([])), "VQ_BAD_ARG");
  assert.equal(
    codeOf(() =>
      drv.addChain([{ addr: 0, len: 1, writable: true }, { addr: 0, len: -1, writable: true }])
    ),
    "VQ_BAD_ARG",
  );
  assert.equal(drv.numFree, 8, "nothing taken by refused calls");
  assert.equal(codeOf(() => dev.putUsed(0, 0)), "VQ_PUT_NOT_IN_FLIGHT");
  assert.equal(codeOf(() => dev.putUsed(99, 0)), "VQ_PUT_NOT_IN_FLIGHT");
  const h = drv.addBuf(0x100, 32, false);
  assert.equal(dev.getAvail(), h);
  assert.equal(codeOf(() => dev.putUsed(h, 33)), "VQ_PUT_LEN");
  dev.putUsed(h, 32);
  assert.equal(codeOf(() => dev.putUsed(h, 0)), "VQ_PUT_NOT_IN_FLIGHT", "returned twice");
  assert.equal(drv.broken, null);
  assert.equal(dev.broken, null);
  assert.equal(drv.getUsed(), h);
});

Deno.test("a wrong-role call does not compile (and is no method at run time)", () => {
  const { drv, dev } = pair(8, 16);
  // @ts-expect-error: addBuf is a driver operation
  assert.throws(() => dev.addBuf(0, 1, true), TypeError);
  // @ts-expect-error: getAvail is a device operation
  assert.throws(() => drv.getAvail(), TypeError);
  // @ts-expect-error: putUsed is a device operation
  assert.throws(() => drv.putUsed(0, 0), TypeError);
  // @ts-expect-error: getUsed is a driver operation
  assert.throws(() => dev.getUsed(), TypeError);
  // @ts-expect-error: hasAvail is a device operation
  assert.throws(() => drv.hasAvail(), TypeError);
  // @ts-expect-error: numFree belongs to the driver end
  assert.equal(dev.numFree, undefined);
  assert.equal(drv.broken, null);
  assert.equal(dev.broken, null);
});

Deno.test("snapshot decodes the in-flight descriptors from shared memory", () => {
  const { shm, drv, dev, l } = pair(8, 16);
  drv.addBuf(0x4000, 512, true);
  drv.addBuf(0x4200, 256, false);
  dev.getAvail();
  dev.putUsed(0, 1);
  const s = drv.snapshot();
  assert.equal(s.name, "vq");
  assert.equal(s.availIdx, 2);
  assert.equal(s.usedIdx, 1);
  assert.deepEqual(s.inFlight, [{ head: 1, addr: 0x4200, len: 256, flags: 0, next: 0 }]);
  assert.equal(s.broken, null);
  // Garbage: avail ring slot with head out of range, idx far ahead.
  shm.setU16(PA + l.avail + 2, 0x8000);
  shm.setU16(PA + l.avail + 4 + 2, 0xffff);
  const g = readVringSnapshot(shm, { pa: PA, num: 8, align: 16 });
  assert.equal(g.inFlight.length, 8, "clamped to num");
  assert.deepEqual(g.inFlight[0], { head: 0xffff, addr: -1, len: -1, flags: -1, next: -1 });
  assert.equal(
    codeOf(() => readVringSnapshot(shm, { pa: PA + 0x1000, num: 8, align: 16 })),
    "VQ_RING_OUTSIDE",
  );
  assert.equal(dev.snapshot().usedIdx, 1);
});

Deno.test("a closed region makes calls fail with VQ_CLOSED, not a TypeError", () => {
  const size = vringLayout(8, 16).size;
  const r = new MemoryRegion(PA, new ArrayBuffer(size), { release: () => {} });
  const drv = new DriverQueue(r, { pa: PA, num: 8, align: 16 });
  const dev = new DeviceQueue(r, { pa: PA, num: 8, align: 16 });
  r.close();
  assert.equal(codeOf(() => drv.getUsed()), "VQ_CLOSED");
  assert.equal(codeOf(() => drv.addBuf(0, 1, true)), "VQ_CLOSED");
  assert.equal(codeOf(() => drv.kickNeeded()), "VQ_CLOSED");
  assert.equal(codeOf(() => drv.reset()), "VQ_CLOSED");
  assert.equal(codeOf(() => dev.getAvail()), "VQ_CLOSED");
  assert.equal(codeOf(() => dev.putUsed(0, 0)), "VQ_CLOSED");
  assert.equal(codeOf(() => dev.disableNotifications()), "VQ_CLOSED");
  assert.equal(codeOf(() => dev.reset()), "VQ_CLOSED");
});

Deno.test("descriptor flags constants land in memory as written", () => {
  const { shm, drv } = pair(4, 16);
  drv.addChain([{ addr: 1, len: 1, writable: true }, { addr: 2, len: 2, writable: true }]);
  assert.equal(shm.u16(PA + 12), VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
  assert.equal(shm.u16(PA + 16 + 12), VRING_DESC_F_WRITE);
});
