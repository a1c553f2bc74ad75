/**
 * The test plays a malicious peer writing raw bytes into the ring. Every
 * violation must break the queue with its exact code, keep it broken, and
 * never touch memory outside the ring (checked with guard bytes around it).
 */
import assert from "node:assert/strict";
import { isAmpError, VirtioError } from "../errors.ts";
import { heapRegion, type MemoryRegion } from "../mem/region.ts";
import { DeviceQueue } from "./device_queue.ts";
import { DriverQueue } from "./driver_queue.ts";
import { type Virtqueue, vringLayout } from "./virtqueue.ts";

const PA = 0x8000_0000;
const GUARD = 256;
const NUM = 8;
const ALIGN = 16;

interface Env<Q extends Virtqueue> {
  outer: MemoryRegion;
  ring: MemoryRegion;
  q: Q;
  l: ReturnType<typeof vringLayout>;
  /** Set descriptor `d` in shared memory as the hostile driver. */
  desc(d: number, addr: bigint, len: number, flags: number, next: number): void;
  /** Publish `heads` on the avail ring starting at avail index `from`. */
  avail(from: number, heads: number[]): void;
  /** Write used element `slot` and set used.idx, as the hostile device. */
  used(slot: number, id: number, len: number, idx: number): void;
  checkGuards(): void;
}

function guardByte(i: number): number {
  return (i * 37 + 11) & 0xff;
}

function env(role: "driver"): Env<DriverQueue>;
function env(role: "device", bufferRange?: { base: number; size: number }): Env<DeviceQueue>;
function env(
  role: "driver" | "device",
  bufferRange?: { base: number; size: number },
  num = NUM,
): Env<DriverQueue> | Env<DeviceQueue> {
  const l = vringLayout(num, ALIGN);
  const outer = heapRegion(PA - GUARD, GUARD + l.size + GUARD, { name: "outer" });
  const all = outer.bytes(outer.base, outer.size);
  for (let i = 0; i < all.length; i++) all[i] = guardByte(i);
  const ring = outer.sub(PA, l.size, "ring");
  ring.fill(PA, l.size, 0); // a fresh ring; only the guards carry the pattern
  const o = { name: "hostile", pa: PA, num, align: ALIGN };
  const base: Omit<Env<Virtqueue>, "q"> = {
    outer,
    ring,
    l,
    desc(d, addr, len, flags, next) {
      ring.setU64(PA + 16 * d, addr);
      ring.setU32(PA + 16 * d + 8, len);
      ring.setU16(PA + 16 * d + 12, flags);
      ring.setU16(PA + 16 * d + 14, next);
    },
    avail(from, heads) {
      heads.forEach((h, i) => ring.setU16(PA + l.avail + 4 + 2 * ((from + i) % num), h));
      ring.setU16(PA + l.avail + 2, (from + heads.length) & 0xffff);
    },
    used(slot, id, len, idx) {
      ring.setU32(PA + l.used + 4 + 8 * slot, id);
      ring.setU32(PA + l.used + 8 + 8 * slot, len);
      ring.setU16(PA + l.used + 2, idx);
    },
    checkGuards() {
      for (let i = 0; i < GUARD; i++) {
        assert.equal(all[i], guardByte(i), `guard byte ${i} before the ring changed`);
        const j = GUARD + l.size + i;
        assert.equal(all[j], guardByte(j), `guard byte ${i} after the ring changed`);
      }
    },
  };
  return role === "driver"
    ? { ...base, q: new DriverQueue(ring, o) }
    : { ...base, q: new DeviceQueue(ring, { ...o, ...(bufferRange ? { bufferRange } : {}) }) };
}

/** Run `op`, expect VirtioError `code`, then check the queue stays broken and guards hold. */
function expectBroken(
  e: Env<Virtqueue>,
  code: string,
  op: () => unknown,
  again: () => unknown = op,
): void {
  let err: unknown;
  try {
    op();
  } catch (x) {
    err = x;
  }
  assert.ok(err instanceof VirtioError, `expected VirtioError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, /^hostile: /);
  assert.equal(e.q.broken, err);
  // Still broken: a second call (and any other operation) throws the same error.
  assert.throws(again, (x: unknown) => x === err);
  assert.throws(() => e.q.kickNeeded(), (x: unknown) => x === err);
  assert.throws(() => e.q.enableNotifications(), (x: unknown) => x === err);
  assert.equal(e.q.snapshot().broken, `${code}: ${err.message}`);
  e.checkGuards();
  // reset() recovers.
  e.q.reset();
  assert.equal(e.q.broken, null);
  e.checkGuards();
}

// ---------------- driver role: the test is a hostile device ----------------

Deno.test("hostile device: used id out of range", () => {
  const e = env("driver");
  e.q.addBuf(0x1000, 64, true);
  e.used(0, NUM, 0, 1);
  expectBroken(e, "VQ_USED_ID_RANGE", () => e.q.getUsed());
  const f = env("driver");
  f.q.addBuf(0x1000, 64, true);
  f.used(0, 0xffff_ffff, 0, 1);
  expectBroken(f, "VQ_USED_ID_RANGE", () => f.q.getUsed(), () => f.q.addBuf(0, 1, true));
});

Deno.test("hostile device: used id never posted", () => {
  const e = env("driver");
  e.q.addBuf(0x1000, 64, true); // head 0
  e.used(0, 1, 0, 1);
  expectBroken(e, "VQ_USED_ID_NOT_POSTED", () => e.q.getUsed(), () => e.q.hasUsed());
});

Deno.test("hostile device: used id returned twice", () => {
  const e = env("driver");
  e.q.addBuf(0x1000, 64, true, 100);
  e.q.addBuf(0x2000, 64, true, 101);
  e.used(0, 0, 10, 1);
  e.used(1, 0, 10, 2);
  assert.equal(e.q.getUsed(), 0);
  assert.equal(e.q.lastToken, 100);
  const free = e.q.numFree;
  expectBroken(e, "VQ_USED_ID_NOT_POSTED", () => e.q.getUsed());
  assert.equal(free, NUM - 1);
});

Deno.test("hostile device: used idx jumps by more than num (forward and backward)", () => {
  const e = env("driver");
  e.q.addBuf(0x1000, 64, true);
  e.used(0, 0, 0, NUM + 1);
  expectBroken(e, "VQ_USED_IDX_JUMP", () => e.q.getUsed());
  // Backward: after one good entry, used.idx goes back to 0 (= 65535 entries ahead).
  const f = env("driver");
  f.q.addBuf(0x1000, 64, true);
  f.used(0, 0, 0, 1);
  assert.equal(f.q.getUsed(), 0);
  f.ring.setU16(PA + f.l.used + 2, 0);
  expectBroken(f, "VQ_USED_IDX_JUMP", () => f.q.getUsed());
  // Exactly num ahead is allowed by the index check (then the ids are checked).
  const g = env("driver");
  for (let i = 0; i < NUM; i++) g.q.addBuf(0x1000 * i, 8, true);
  for (let i = 0; i < NUM; i++) g.used(i, i, 8, NUM);
  for (let i = 0; i < NUM; i++) assert.equal(g.q.getUsed(), i);
  g.checkGuards();
});

Deno.test("hostile device: used len larger than the writable bytes posted", () => {
  const e = env("driver");
  e.q.addBuf(0x1000, 64, true);
  e.used(0, 0, 65, 1);
  expectBroken(e, "VQ_USED_LEN", () => e.q.getUsed());
  // Chains: the limit is the writable total, not the whole chain.
  const f = env("driver");
  f.q.addChain([
    { addr: 0x1000, len: 100, writable: false },
    { addr: 0x2000, len: 40, writable: true },
    { addr: 0x3000, len: 24, writable: true },
  ]);
  f.used(0, 0, 65, 1);
  expectBroken(f, "VQ_USED_LEN", () => f.q.getUsed());
  // A read-only buffer: any length is ignored (old remotes report the full size).
  const g = env("driver");
  g.q.addBuf(0x1000, 64, false);
  g.used(0, 0, 0xffff_ffff, 1);
  assert.equal(g.q.getUsed(), 0);
  assert.equal(g.q.lastLen, 0);
  assert.equal(g.q.broken, null);
  g.checkGuards();
});

// ---------------- device role: the test is a hostile driver ----------------

Deno.test("hostile driver: avail idx jumps by more than num", () => {
  const e = env("device");
  e.desc(0, 0x1000n, 8, 0, 0);
  e.ring.setU16(PA + e.l.avail + 2, NUM + 1);
  expectBroken(e, "VQ_AVAIL_IDX_JUMP", () => e.q.getAvail(), () => e.q.hasAvail());
  const f = env("device");
  f.ring.setU16(PA + f.l.avail + 2, 0xffff);
  expectBroken(f, "VQ_AVAIL_IDX_JUMP", () => f.q.getAvail());
});

Deno.test("hostile driver: avail head out of range", () => {
  const e = env("device");
  e.avail(0, [NUM]);
  expectBroken(e, "VQ_AVAIL_HEAD_RANGE", () => e.q.getAvail());
  const f = env("device");
  f.avail(0, [0xffff]);
  expectBroken(f, "VQ_AVAIL_HEAD_RANGE", () => f.q.getAvail(), () => f.q.putUsed(0, 0));
});

Deno.test("hostile driver: descriptor loops", () => {
  // a -> b -> a
  const e = env("device");
  e.desc(2, 0x1000n, 8, 1, 5);
  e.desc(5, 0x2000n, 8, 1, 2);
  e.avail(0, [2]);
  expectBroken(e, "VQ_DESC_LOOP", () => e.q.getAvail());
  // self loop
  const f = env("device");
  f.desc(3, 0x1000n, 8, 1, 3);
  f.avail(0, [3]);
  expectBroken(f, "VQ_DESC_LOOP", () => f.q.getAvail());
  // A chain of exactly num descriptors is not a loop.
  const g = env("device");
  for (let d = 0; d < NUM; d++) g.desc(d, BigInt(0x1000 * d), 4, d < NUM - 1 ? 1 : 0, d + 1);
  g.avail(0, [0]);
  assert.equal(g.q.getAvail(), 0);
  assert.equal(g.q.chainLen, NUM);
  g.checkGuards();
});

Deno.test("hostile driver: next out of range", () => {
  const e = env("device");
  e.desc(0, 0x1000n, 8, 1, NUM);
  e.avail(0, [0]);
  expectBroken(e, "VQ_DESC_NEXT_RANGE", () => e.q.getAvail());
});

Deno.test("hostile driver: INDIRECT descriptors are refused", () => {
  const e = env("device");
  e.desc(0, 0x1000n, 16, 4, 0);
  e.avail(0, [0]);
  expectBroken(e, "VQ_DESC_INDIRECT", () => e.q.getAvail());
  // INDIRECT further down a chain.
  const f = env("device");
  f.desc(0, 0x1000n, 16, 1, 1);
  f.desc(1, 0x2000n, 16, 4 | 2, 0);
  f.avail(0, [0]);
  expectBroken(f, "VQ_DESC_INDIRECT", () => f.q.getAvail());
});

Deno.test("hostile driver: descriptor outside the buffer range", () => {
  const range = { base: 0x10_0000, size: 0x1000 };
  const cases: [bigint, number][] = [
    [0x0f_ffffn, 1], // one byte below
    [0x10_0fffn, 2], // straddles the end
    [0x10_0000n, 0x1001], // longer than the pool
    [0x10_1001n, 0], // empty, but past the end
    [0x10_0001n, 0xffff_ffff], // length that would wrap 32-bit arithmetic
  ];
  for (const [addr, len] of cases) {
    const e = env("device", range);
    e.desc(0, addr, len, 0, 0);
    e.avail(0, [0]);
    expectBroken(e, "VQ_DESC_ADDR", () => e.q.getAvail());
  }
  // The exact pool and a zero-length buffer at its start are fine.
  const ok = env("device", range);
  ok.desc(0, 0x10_0000n, 0x1000, 1, 1);
  ok.desc(1, 0x10_0000n, 0, 0, 0);
  ok.avail(0, [0]);
  assert.equal(ok.q.getAvail(), 0);
  assert.equal(ok.q.chainLen, 2);
  // Bad second descriptor of a chain.
  const c = env("device", range);
  c.desc(0, 0x10_0000n, 16, 1, 1);
  c.desc(1, 0x20_0000n, 16, 0, 0);
  c.avail(0, [0]);
  expectBroken(c, "VQ_DESC_ADDR", () => c.q.getAvail());
});

Deno.test("hostile driver: 64-bit addresses beyond 2^53", () => {
  for (const range of [undefined, { base: 0, size: Number.MAX_SAFE_INTEGER }]) {
    for (const addr of [0xffff_ffff_ffff_f000n, 1n << 53n, 0x0020_0000_0000_0000n + 0x1000n]) {
      const e = env("device", range);
      e.desc(0, addr, 16, 0, 0);
      e.avail(0, [0]);
      expectBroken(e, "VQ_DESC_ADDR", () => e.q.getAvail());
    }
  }
  // The largest safe address is representable and accepted without a range.
  const ok = env("device");
  ok.desc(0, BigInt(Number.MAX_SAFE_INTEGER), 1, 0, 0);
  ok.avail(0, [0]);
  assert.equal(ok.q.getAvail(), 0);
  assert.equal(ok.q.chain[0]!.addr, Number.MAX_SAFE_INTEGER);
});

Deno.test("hostile driver: a head still in flight is published again", () => {
  const e = env("device");
  e.desc(0, 0x1000n, 16, 2, 0);
  e.avail(0, [0]);
  assert.equal(e.q.getAvail(), 0);
  e.avail(1, [0]);
  expectBroken(e, "VQ_AVAIL_HEAD_IN_FLIGHT", () => e.q.getAvail());
  // Once returned, republishing the same head is normal.
  const f = env("device");
  f.desc(0, 0x1000n, 16, 2, 0);
  f.avail(0, [0]);
  assert.equal(f.q.getAvail(), 0);
  f.q.putUsed(0, 16);
  f.avail(1, [0]);
  assert.equal(f.q.getAvail(), 0);
  f.checkGuards();
});

Deno.test("random garbage in the ring never escapes as a non-amp error nor writes outside", () => {
  let seed = 0x1234_5678;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  let broke = 0, taken = 0;
  for (let round = 0; round < 300; round++) {
    const role = round % 2 === 0 ? "driver" : "device";
    const e = role === "driver"
      ? env("driver")
      : env("device", round % 3 === 0 ? { base: 0x1000, size: 0x10000 } : undefined);
    const q = e.q;
    if (q.role === "driver") { for (let i = 0; i < 4; i++) q.addBuf(0x1000 * i, 64, i % 2 === 0); }
    const bytes = e.ring.bytes(PA, e.l.size);
    for (let step = 0; step < 20; step++) {
      // Mostly plausible peer writes with occasional wild values, plus a random byte.
      const wild = rnd() % 8 === 0;
      const small = (n: number) => (wild ? rnd() : rnd() % n);
      if (role === "device") {
        const d = rnd() % NUM;
        e.desc(d, BigInt(small(0x2_0000)), small(0x100), small(8), small(NUM + 1));
        const idx = e.ring.u16(PA + e.l.avail + 2);
        e.avail(idx, [small(NUM + 1)]);
      } else {
        const idx = e.ring.u16(PA + e.l.used + 2);
        e.used(idx % NUM, small(NUM + 1), small(80), (idx + (wild ? rnd() : 1)) & 0xffff);
      }
      if (rnd() % 4 === 0) bytes[rnd() % bytes.length] = rnd();
      try {
        if (q.role === "driver") {
          if (q.getUsed() >= 0) taken++;
        } else {
          const h = q.getAvail();
          if (h >= 0) {
            taken++;
            q.putUsed(h, 0);
          }
        }
      } catch (x) {
        assert.ok(isAmpError(x) && x instanceof VirtioError, String(x));
        assert.equal(e.q.broken, x);
        broke++;
        break;
      }
      e.q.snapshot(); // never throws on garbage
    }
    e.q.snapshot();
    e.checkGuards();
  }
  // The garbage exercised both outcomes.
  assert.ok(broke > 50 && taken > 10, `broke ${broke}, taken ${taken}`);
});
