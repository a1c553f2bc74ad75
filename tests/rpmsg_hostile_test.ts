/**
 * rpmsg against a hostile peer: a raw virtqueue plays the other side and
 * writes whatever it likes into shared memory. Every violation must be caught
 * with its own counted drop reason (or a VirtioError for broken rings), and
 * nothing outside the region's pool and rings may be touched.
 */
import assert from "node:assert/strict";
import { isAmpError } from "../lib/errors.ts";
import { heapRegion, type MemoryRegion } from "../lib/mem/region.ts";
import { InProcessNotifier } from "../lib/notify/in_process.ts";
import {
  createRpmsgDevice,
  encodeNs,
  RPMSG_ADDR_ANY,
  RPMSG_MAX_REMOTE_SERVICES,
  RpmsgDeviceBus,
  writeHeader,
} from "../lib/rpmsg/mod.ts";
import { DeviceQueue } from "../lib/virtio/device_queue.ts";
import { DriverQueue } from "../lib/virtio/driver_queue.ts";

const V0 = 0x4000, V1 = 0x8000, NUM = 256, ALIGN = 0x1000;
const POOL = { base: 0x10000, size: 0x40000 };
const GUARDS: [number, number][] = [[0, V0], [V0 + 0x2806, V1], [V1 + 0x2806, POOL.base], [
  0x50000,
  0x60000,
]];

function setup() {
  const shm = heapRegion(0, 0x60000);
  shm.fill(0, 0x60000, 0xee);
  const guardsIntact = () => GUARDS.every(([a, b]) => shm.bytes(a, b - a).every((x) => x === 0xee));
  return { shm, guardsIntact, notifiers: InProcessNotifier.pair() };
}

function code(c: string) {
  return (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, c);
    return true;
  };
}

function rawDriver(shm: MemoryRegion, pa: number) {
  return new DriverQueue(shm, { pa, num: NUM, align: ALIGN });
}

function rawDevice(shm: MemoryRegion, pa: number) {
  return new DeviceQueue(shm, { pa, num: NUM, align: ALIGN });
}

/** A host (driver) and a hostile device that fills RX buffers by hand. */
function hostileDevice() {
  const { shm, guardsIntact, notifiers: [nh] } = setup();
  const warnings: string[] = [];
  const binds: string[] = [];
  const host = createRpmsgDevice({
    role: "driver",
    region: shm,
    notifier: nh,
    log: (m) => warnings.push(m),
    onBind: (name) => binds.push(name),
    vring0: { pa: V0, num: NUM, align: ALIGN },
    vring1: { pa: V1, num: NUM, align: ALIGN },
    pool: POOL,
  });
  const vq0 = rawDevice(shm, V0);
  const got: Uint8Array[] = [];
  const ep = host.createEndpoint({ addr: 0x400, onMessage: (d) => got.push(d.slice()) });
  /** Fill the next RX buffer with a header (src 0x500) and payload, return it with usedLen. */
  const inject = (dst: number, hdrLen: number, payload: Uint8Array, usedLen: number) => {
    const head = vq0.getAvail();
    assert.ok(head >= 0, "no RX buffer posted");
    const { addr, len } = vq0.chain[0]!;
    assert.equal(len, 512);
    writeHeader(shm.dataView(addr, 16), 0, 0x500, dst, hdrLen);
    shm.write(addr + 16, payload.subarray(0, Math.min(payload.length, 496)));
    vq0.putUsed(head, usedLen);
    return addr;
  };
  const availCount = () => {
    let n = 0;
    while (vq0.hasAvail()) {
      const h = vq0.getAvail();
      vq0.putUsed(h, 0); // hands it back; the host drops it as short and re-posts it
      n++;
    }
    return n;
  };
  return { shm, host, vq0, ep, got, inject, warnings, binds, guardsIntact, availCount };
}

Deno.test("hostile device: hdr.len larger than the received bytes is dropped and the buffer recycled", () => {
  const t = hostileDevice();
  t.inject(0x400, 497, new Uint8Array(496), 512); // 497 > 512 - 16
  t.inject(0x400, 11, new Uint8Array(11), 16 + 10); // used len says 10 payload bytes
  t.inject(0x400, 0xffff, new Uint8Array(0), 512);
  t.inject(0x400, 496, new Uint8Array(496).fill(7), 512); // the largest valid one
  t.inject(0x400, 10, new Uint8Array(10).fill(8), 26); // message-length used len is fine
  assert.equal(t.host.poll(), 5);
  assert.equal(t.host.stats.drops.get("RPMSG_BAD_HDR_LEN"), 3);
  assert.equal(t.ep.stats.drops.get("RPMSG_BAD_HDR_LEN"), 3); // attributed to the endpoint
  assert.equal(t.got.length, 2);
  assert.equal(t.got[0]!.length, 496);
  assert.ok(t.got[0]!.every((x) => x === 7));
  assert.deepEqual([...t.got[1]!], new Array(10).fill(8));
  assert.equal(t.ep.dst, 0x500); // only a delivered message teaches the dst
  assert.equal(t.ep.stats.rxMessages, 2);
  // every buffer went back to the ring: 251 never used + 5 re-posted
  assert.equal(t.availCount(), 256);
  assert.equal(t.warnings.length, 1); // rate-limited
  assert.ok(t.guardsIntact());
});

Deno.test("hostile device: used len below the header size is dropped as RPMSG_SHORT_BUFFER", () => {
  const t = hostileDevice();
  t.inject(0x400, 0, new Uint8Array(0), 15);
  t.inject(0x400, 0, new Uint8Array(0), 0);
  t.host.poll();
  assert.equal(t.host.stats.drops.get("RPMSG_SHORT_BUFFER"), 2);
  assert.equal(t.got.length, 0);
  assert.ok(t.guardsIntact());
});

Deno.test("hostile device: malformed name-service messages are dropped with their reasons", () => {
  const t = hostileDevice();
  const ns = encodeNs("svc", 0x500, 0);
  t.inject(53, 39, ns, 512);
  const long = new Uint8Array(41);
  long.set(ns);
  t.inject(53, 41, long, 512);
  const noNul = ns.slice();
  noNul.fill(0x41, 0, 32);
  t.inject(53, 40, noNul, 512);
  const badFlags = ns.slice();
  badFlags[36] = 7;
  t.inject(53, 40, badFlags, 512);
  t.inject(53, 40, new Uint8Array(40), 512); // a zeroed buffer: an empty name at address 0
  t.inject(53, 40, encodeNs("svc", RPMSG_ADDR_ANY, 0), 512);
  t.inject(53, 40, ns, 512); // the one good message
  t.host.poll();
  const d = t.host.stats.drops;
  assert.equal(d.get("RPMSG_NS_BAD_LENGTH"), 2);
  assert.equal(d.get("RPMSG_NS_NAME_UNTERMINATED"), 1);
  assert.equal(d.get("RPMSG_NS_BAD_FLAGS"), 1);
  assert.equal(d.get("RPMSG_NS_EMPTY_NAME"), 1);
  assert.equal(d.get("RPMSG_NS_BAD_ADDR"), 1);
  assert.equal(t.host.stats.nsCreate, 1);
  assert.deepEqual(t.binds, ["svc"]);
  assert.equal(t.availCount(), 256);
  assert.ok(t.guardsIntact());
});

Deno.test("hostile device: used len > buffer size breaks vring0 (VQ_USED_LEN) and stays broken", () => {
  const t = hostileDevice();
  const head = t.vq0.getAvail();
  // write the used element by hand: the device-side queue refuses such a length
  const used = V0 + 0x2000;
  t.shm.setU32(used + 4, head);
  t.shm.setU32(used + 8, 4096);
  t.shm.atomicStoreU16(used + 2, 1);
  assert.throws(() => t.host.poll(), code("VQ_USED_LEN"));
  assert.throws(() => t.host.poll(), code("VQ_USED_LEN"));
  assert.ok(t.host.vrings[0].broken);
  assert.equal(t.got.length, 0);
  assert.ok(t.guardsIntact());
  // a reset (new session) recovers
  t.host.reset();
  assert.equal(t.host.vrings[0].broken, null);
});

/** A remote (device) and a hostile driver posting descriptors by hand. */
function hostileDriver(checkedQueues: boolean) {
  const { shm, guardsIntact, notifiers: [, nr] } = setup();
  // the hostile driver's queues first (they initialise the driver-owned parts)
  const h0 = rawDriver(shm, V0);
  const h1 = rawDriver(shm, V1);
  const warnings: string[] = [];
  const common = { region: shm, notifier: nr, pool: POOL };
  const remote = checkedQueues
    ? createRpmsgDevice({
      ...common,
      role: "device",
      log: (m) => warnings.push(m),
      vring0: { pa: V0, num: NUM, align: ALIGN },
      vring1: { pa: V1, num: NUM, align: ALIGN },
    })
    : new RpmsgDeviceBus({
      ...common,
      log: (m) => warnings.push(m),
      vrings: [rawDevice(shm, V0), rawDevice(shm, V1)],
    });
  const got: Uint8Array[] = [];
  const ep = remote.createEndpoint({ addr: 0x400, onMessage: (d) => got.push(d.slice()) });
  const msg = (pa: number, dst: number, len: number) => {
    writeHeader(shm.dataView(pa, 16), 0, 0x600, dst, len);
  };
  return { shm, h0, h1, remote, ep, got, msg, warnings, guardsIntact };
}

Deno.test("hostile driver: a TX descriptor outside the pool breaks vring1 (VQ_DESC_ADDR)", () => {
  const t = hostileDriver(true);
  t.h1.addBuf(0x50010, 64, false);
  assert.throws(() => t.remote.poll(), code("VQ_DESC_ADDR"));
  assert.throws(() => t.remote.poll(), code("VQ_DESC_ADDR"));
  assert.ok(t.guardsIntact());
});

Deno.test("hostile driver: bad descriptors are returned unused with counted reasons", () => {
  const t = hostileDriver(false);
  const P = POOL.base, END = POOL.base + POOL.size;
  t.h1.addBuf(0x50010, 64, false); // outside the pool (in a guard area)
  t.h1.addBuf(END - 8, 16, false); // straddles the pool's end
  t.h1.addBuf(0x3ff0, 0x20, false); // straddles the pool's start... below it
  t.h1.addBuf(P, 512, true); // device-writable on the driver's TX ring
  t.h1.addChain([{ addr: P + 512, len: 16, writable: false }, {
    addr: P + 1024,
    len: 16,
    writable: false,
  }]);
  t.h1.addBuf(P + 2048, 8, false); // shorter than a header
  t.msg(P + 4096, 0x400, 100);
  t.h1.addBuf(P + 4096, 16 + 99, false); // hdr.len 100 > 99 payload bytes
  t.msg(P + 8192, 0x400, 3);
  t.shm.write(P + 8192 + 16, new Uint8Array([1, 2, 3]));
  t.h1.addBuf(P + 8192, 19, false); // the one good message
  assert.equal(t.remote.poll(), 8);
  const d = t.remote.stats.drops;
  assert.equal(d.get("RPMSG_DESC_OUTSIDE_POOL"), 3);
  assert.equal(d.get("RPMSG_DESC_BAD_FLAGS"), 1);
  assert.equal(d.get("RPMSG_DESC_CHAIN"), 1);
  assert.equal(d.get("RPMSG_SHORT_BUFFER"), 1);
  assert.equal(d.get("RPMSG_BAD_HDR_LEN"), 1);
  assert.deepEqual(t.got.map((g) => [...g]), [[1, 2, 3]]);
  // all eight came back to the driver
  let back = 0;
  while (t.h1.getUsed() >= 0) back++;
  assert.equal(back, 8);
  assert.ok(t.guardsIntact());
});

Deno.test("hostile driver: bad RX buffers on vring0 are skipped when the device sends", () => {
  const t = hostileDriver(false);
  const P = POOL.base;
  t.h0.addBuf(0x50000, 512, true); // outside the pool
  t.h0.addBuf(P, 512, false); // read-only: the device must not write it
  t.h0.addBuf(P + 512, 12, true); // too short for a header
  t.h0.addBuf(P + 1024, 64, true); // good, small
  t.shm.fill(P, 512, 0x5a);
  const ep = t.remote.createEndpoint({ addr: 0x401, dst: 0x900, onMessage: () => {} });
  assert.throws(() => ep.trySend(new Uint8Array(49)), code("RPMSG_TOO_LONG"));
  assert.ok(ep.trySend(new Uint8Array(48).fill(9)));
  assert.equal(ep.trySend(new Uint8Array(1)), false);
  const d = t.remote.stats.drops;
  assert.equal(d.get("RPMSG_DESC_OUTSIDE_POOL"), 1);
  assert.equal(d.get("RPMSG_DESC_BAD_FLAGS"), 1);
  assert.equal(d.get("RPMSG_SHORT_BUFFER"), 1);
  assert.ok(t.shm.bytes(P, 512).every((x) => x === 0x5a));
  const lens: number[] = [];
  while (t.h0.getUsed() >= 0) lens.push(t.h0.lastLen);
  assert.deepEqual(lens, [0, 0, 0, 64]); // the full buffer length, as upstream reports
  assert.ok(t.shm.bytes(P + 1024 + 16, 48).every((x) => x === 9));
  assert.ok(t.guardsIntact());
});

Deno.test("hostile driver: a driver re-posting bad RX buffers as fast as they come back cannot hold a send in a loop", () => {
  const t = hostileDriver(false);
  const vq0 = t.remote.vrings[0];
  for (let i = 0; i < NUM; i++) t.h0.addBuf(0x50000, 512, true); // all outside the pool
  // Each bad buffer the device gives back is taken back and posted again at
  // once, as a driver running in parallel could.
  const putUsed = vq0.putUsed.bind(vq0);
  const getAvail = vq0.getAvail.bind(vq0);
  let looked = 0;
  vq0.getAvail = () => (looked++, getAvail());
  vq0.putUsed = (head, len) => {
    putUsed(head, len);
    assert.ok(t.h0.getUsed() >= 0);
    t.h0.addBuf(0x50000, 512, true);
  };
  const ep = t.remote.createEndpoint({ addr: 0x401, dst: 0x900, onMessage: () => {} });
  assert.equal(ep.trySend(new Uint8Array(8)), false);
  assert.equal(looked, NUM, "at most num buffers looked at per call");
  assert.equal(t.remote.stats.drops.get("RPMSG_DESC_OUTSIDE_POOL"), NUM);
  assert.equal(t.warnings.length, 1, "logged once (rate-limited)");
  assert.ok(t.guardsIntact());
});

Deno.test("hostile device: at most RPMSG_MAX_REMOTE_SERVICES names are kept; more are dropped and counted", () => {
  const t = hostileDevice();
  const total = RPMSG_MAX_REMOTE_SERVICES + 44;
  for (let i = 0; i < total; i++) {
    t.inject(53, 40, encodeNs(`svc-${i}`, 0x500 + i, 0), 512);
    if (i % 64 === 63) t.host.poll(); // re-posts the RX buffers
  }
  t.host.poll();
  assert.equal(t.host.remoteServices.size, RPMSG_MAX_REMOTE_SERVICES);
  assert.equal(t.host.stats.nsCreate, RPMSG_MAX_REMOTE_SERVICES);
  assert.equal(t.host.stats.drops.get("RPMSG_NS_TOO_MANY_SERVICES"), 44);
  assert.equal(t.binds.length, RPMSG_MAX_REMOTE_SERVICES);
  assert.equal(t.host.remoteServices.get(`svc-${RPMSG_MAX_REMOTE_SERVICES}`), undefined);
  assert.equal(t.warnings.filter((w) => w.startsWith("RPMSG_NS_TOO_MANY_SERVICES")).length, 1);
  // A known name may move, and a DESTROY makes room for a new name.
  t.inject(53, 40, encodeNs("svc-0", 0x900, 0), 512);
  t.inject(53, 40, encodeNs("svc-1", 0x501, 1), 512);
  t.inject(53, 40, encodeNs("late", 0x901, 0), 512);
  t.host.poll();
  assert.equal(t.host.remoteServices.get("svc-0"), 0x900);
  assert.equal(t.host.remoteServices.has("svc-1"), false);
  assert.equal(t.host.remoteServices.get("late"), 0x901);
  assert.equal(t.host.remoteServices.size, RPMSG_MAX_REMOTE_SERVICES);
  assert.ok(t.guardsIntact());
});

Deno.test("hostile device: a payload is a live view of the buffer; bounds come from one read of the header", () => {
  const t = hostileDevice();
  const seen: { len: number; first: number; after: number }[] = [];
  let addr = 0;
  t.host.createEndpoint({
    addr: 0x401,
    onMessage: (d) => {
      const first = d[0]!;
      // The peer rewrites the header and the payload while the callback runs.
      writeHeader(t.shm.dataView(addr, 16), 0, 0x500, 0x401, 0xffff);
      t.shm.setU8(addr + 16, 0x77);
      seen.push({ len: d.length, first, after: d[0]! });
    },
  });
  addr = t.inject(0x401, 4, new Uint8Array([1, 2, 3, 4]), 512);
  t.host.poll();
  // The length checked is the length delivered; the bytes are shared memory.
  assert.deepEqual(seen, [{ len: 4, first: 1, after: 0x77 }]);
  assert.equal(t.host.stats.rxBytes, 4);
  assert.equal(t.host.stats.drops.size, 0);
  assert.ok(t.guardsIntact());
});
