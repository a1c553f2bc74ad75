import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { heapRegion } from "../mem/region.ts";
import { InProcessNotifier } from "../notify/in_process.ts";
import {
  createRpmsgDevice,
  type CreateRpmsgDeviceOptions,
  type CreateRpmsgDriverOptions,
} from "./create.ts";
import { RpmsgDeviceBus } from "./device_bus.ts";
import { RpmsgDriverBus } from "./driver_bus.ts";
import type { RpmsgEndpoint } from "./endpoint.ts";
import type { RpmsgRxHandle } from "./types.ts";
import { RPMSG_ADDR_ANY } from "./_wire.ts";

const LAYOUT = {
  vring0: { pa: 0x4000, num: 256, align: 0x1000 },
  vring1: { pa: 0x8000, num: 256, align: 0x1000 },
  pool: { base: 0x10000, size: 0x40000 },
};
const GUARDS: [number, number][] = [[0, 0x4000], [0x6806, 0x8000], [0xa806, 0x10000], [
  0x50000,
  0x60000,
]];

type Opts<O> = Partial<Omit<O, "role" | "region" | "notifier">>;

function pair(
  hostOpts: Opts<CreateRpmsgDriverOptions> = {},
  remoteOpts: Opts<CreateRpmsgDeviceOptions> = {},
) {
  const shm = heapRegion(0, 0x60000);
  shm.fill(0, 0x60000, 0xee);
  const [nh, nr] = InProcessNotifier.pair();
  const warnings: string[] = [];
  const log = (m: string) => warnings.push(m);
  const host = createRpmsgDevice({
    role: "driver",
    region: shm,
    notifier: nh,
    log,
    ...LAYOUT,
    ...hostOpts,
  });
  const remote = createRpmsgDevice({
    role: "device",
    region: shm,
    notifier: nr,
    log,
    ...LAYOUT,
    ...remoteOpts,
  });
  const pump = () => {
    for (let i = 0; i < 10_000; i++) if (remote.poll() + host.poll() === 0) return;
  };
  const guardsIntact = () => GUARDS.every(([a, b]) => shm.bytes(a, b - a).every((x) => x === 0xee));
  return { shm, host, remote, pump, warnings, guardsIntact, nh, nr };
}

const te = new TextEncoder();
const td = new TextDecoder();
function code(c: string) {
  return (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, c);
    return true;
  };
}

Deno.test("echo through name service: both sides bind, payload and counters", () => {
  const { host, remote, pump, guardsIntact, warnings } = pair();
  const rEp = remote.createEndpoint({
    name: "echo",
    onMessage: (d, _src, ep) => assert.ok(ep.trySend(d)),
  });
  const replies: string[] = [];
  const hEp = host.createEndpoint({ name: "echo", onMessage: (d) => replies.push(td.decode(d)) });
  assert.equal(rEp.addr, 1024);
  assert.equal(hEp.addr, 1024);
  assert.equal(hEp.ready, false);
  pump();
  assert.equal(hEp.ready, true);
  assert.equal(rEp.ready, true);
  assert.equal(hEp.dst, rEp.addr);
  assert.equal(rEp.dst, hEp.addr);
  assert.equal(host.stats.nsCreate, 1);
  assert.equal(remote.stats.nsCreate, 1);
  for (const s of ["hello world!", "", "x".repeat(496)]) assert.ok(hEp.trySend(te.encode(s)));
  pump();
  assert.deepEqual(replies, ["hello world!", "", "x".repeat(496)]);
  assert.equal(hEp.stats.txMessages, 3);
  assert.equal(hEp.stats.txBytes, 508);
  assert.equal(hEp.stats.rxMessages, 3);
  assert.equal(rEp.stats.rxBytes, 508);
  assert.equal(host.stats.kicks, 4); // NS + 3 messages, one kick each
  assert.equal(remote.stats.kicks, 4);
  assert.deepEqual(warnings, []);
  assert.ok(guardsIntact());
});

Deno.test("name service: bind callback for unknown names, DESTROY unbinds and notifies", () => {
  const binds: [string, number][] = [];
  const unbinds: [string, number][] = [];
  let hEp: RpmsgEndpoint | null = null;
  let epUnbound = 0;
  const { host, remote, pump } = pair({
    onBind: (name, addr) => {
      binds.push([name, addr]);
      hEp = host.createEndpoint({
        name,
        dst: addr,
        onMessage: () => {},
        onUnbind: () => epUnbound++,
      });
    },
    onUnbind: (name, addr) => unbinds.push([name, addr]),
  });
  const got: string[] = [];
  remote.createEndpoint({ addr: 5000, onMessage: () => {} }); // unnamed: never announced
  const rEp = remote.createEndpoint({ name: "svc-a", onMessage: (d) => got.push(td.decode(d)) });
  pump();
  assert.deepEqual(binds, [["svc-a", rEp.addr]]);
  const ep = hEp as RpmsgEndpoint | null;
  assert.ok(ep);
  assert.equal(ep.ready, true);
  assert.equal(host.stats.txMessages, 0); // dst given: the host does not announce it
  assert.ok(ep.trySend(te.encode("to svc-a")));
  pump();
  assert.deepEqual(got, ["to svc-a"]);
  assert.equal(rEp.dst, ep.addr); // learned from the first message
  rEp.destroy();
  assert.equal(rEp.destroyed, true);
  pump();
  assert.equal(host.stats.nsDestroy, 1);
  assert.equal(ep.ready, false);
  assert.equal(ep.dst, RPMSG_ADDR_ANY);
  assert.equal(epUnbound, 1);
  assert.throws(() => ep.trySend(te.encode("x")), code("RPMSG_NO_DST"));
  assert.throws(() => rEp.trySend(te.encode("x")), code("RPMSG_EP_DESTROYED"));
  // a DESTROY nobody is bound to goes to the device-level callback
  const other = remote.createEndpoint({ name: "svc-b", onMessage: () => {} });
  pump();
  assert.equal(binds.length, 2);
  const hB = hEp as RpmsgEndpoint | null;
  assert.ok(hB && hB.name === "svc-b");
  hB.destroy();
  other.destroy();
  pump();
  assert.deepEqual(unbinds, [["svc-b", other.addr]]);
  // destroyed addresses are reused
  assert.equal(remote.createEndpoint({ onMessage: () => {} }).addr, 1024);
});

Deno.test("without name service: dst is learned from the first message; waitReady times out", async () => {
  const { host, remote, pump } = pair({ features: 0 }, { features: 0 });
  assert.equal(host.nameService, false);
  const seen: number[] = [];
  const hEp = host.createEndpoint({ name: "quiet", onMessage: (_d, src) => seen.push(src) });
  await assert.rejects(hEp.waitReady({ deadlineMs: 20 }), code("TIMEOUT"));
  assert.equal(remote.stats.rxMessages, 0); // nothing was announced
  const rEp = remote.createEndpoint({ addr: 0x500, dst: hEp.addr, onMessage: () => {} });
  assert.ok(rEp.trySend(te.encode("first")));
  await hEp.waitReady({ deadlineMs: 30_000 });
  assert.equal(hEp.dst, 0x500);
  assert.deepEqual(seen, [0x500]);
  // an endpoint with an explicit dst keeps it
  assert.ok(rEp.trySend(te.encode("second")));
  pump();
  assert.equal(rEp.dst, hEp.addr);
  // messages to address 53 are not name service now: unknown destination
  await host.sendTo(hEp, 53, new Uint8Array(40));
  pump();
  assert.equal(remote.stats.drops.get("RPMSG_UNKNOWN_DST"), 1);
});

Deno.test("100k messages each way with sequence numbers: nothing lost, duplicated or reordered", () => {
  const { host, remote, pump, guardsIntact } = pair();
  const N = 100_000;
  let rNext = 0, hNext = 0;
  const rEp = remote.createEndpoint({
    name: "seq",
    onMessage: (d, _s, ep) => {
      const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
      const seq = dv.getUint32(0, true);
      assert.equal(seq, rNext, "device saw a gap or reorder");
      assert.equal(d.length, 4 + (seq % 61));
      assert.equal(d[d.length - 1], d.length === 4 ? d[3] : seq & 0xff);
      rNext++;
      while (!ep.trySend(d)) host.poll(); // echo, same bytes
    },
  });
  const hEp = host.createEndpoint({
    name: "seq",
    onMessage: (d) => {
      const seq = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0, true);
      assert.equal(seq, hNext, "host saw a gap or reorder");
      assert.equal(d.length, 4 + (seq % 61));
      hNext++;
    },
  });
  pump();
  assert.ok(hEp.ready && rEp.ready);
  const msg = new Uint8Array(64);
  const dv = new DataView(msg.buffer);
  for (let i = 0; i < N; i++) {
    const len = 4 + (i % 61);
    dv.setUint32(0, i, true);
    if (len > 4) msg[len - 1] = i & 0xff;
    const m = msg.subarray(0, len);
    while (!hEp.trySend(m)) remote.poll();
    if ((i & 63) === 0) host.poll();
  }
  pump();
  assert.equal(rNext, N);
  assert.equal(hNext, N);
  assert.equal(hEp.stats.rxMessages, N);
  assert.equal(rEp.stats.txMessages, N);
  assert.equal(host.stats.drops.size, 0);
  assert.equal(remote.stats.drops.size, 0);
  assert.ok(guardsIntact());
});

Deno.test("async run loops and blocking send: 5000 sequence-checked round trips", async () => {
  const { host, remote } = pair();
  const ac = new AbortController();
  // Echo with back-pressure: a reply that finds no buffer keeps its RX buffer
  // (holdRx) and goes out from the run loop's onPoll hook once one is free.
  const queue: { data: Uint8Array; hold: RpmsgRxHandle }[] = [];
  const rEp = remote.createEndpoint({
    name: "echo",
    onMessage: (d, _s, ep) => {
      if (queue.length === 0 && ep.trySend(d)) return;
      queue.push({ data: d, hold: remote.holdRx() });
    },
  });
  const flush = () => {
    let n = 0;
    while (queue.length > 0 && rEp.trySend(queue[0]!.data)) {
      remote.releaseRx(queue.shift()!.hold);
      n++;
    }
    return n;
  };
  const loops = [
    host.run({ signal: ac.signal }),
    remote.run({
      signal: ac.signal,
      onPoll: flush,
      until: () => queue.length > 0 && remote.vrings[0].hasAvail(),
    }),
  ];
  try {
    let next = 0;
    const hEp = host.createEndpoint({
      name: "echo",
      onMessage: (d) => {
        assert.equal(new DataView(d.buffer, d.byteOffset).getUint32(0, true), next);
        next++;
      },
    });
    await hEp.waitReady({ deadlineMs: 30_000 });
    const m = new Uint8Array(8);
    for (let i = 0; i < 5000; i++) {
      new DataView(m.buffer).setUint32(0, i, true);
      await hEp.send(m, { deadlineMs: 30_000 });
    }
    const end = Date.now() + 30_000;
    while (next < 5000 && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
    assert.equal(next, 5000);
    assert.equal(queue.length, 0);
    assert.equal(rEp.stats.txMessages, 5000);
  } finally {
    ac.abort();
    await Promise.all(loops);
  }
});

Deno.test("buffer exhaustion: trySend false, send times out with RPMSG_NO_BUFFER, then recovers", async () => {
  const { host, remote, pump } = pair();
  const got: number[] = [];
  const rEp = remote.createEndpoint({ addr: 0x400, dst: 0x401, onMessage: (d) => got.push(d[0]!) });
  const hEp = host.createEndpoint({ addr: 0x401, dst: 0x400, onMessage: () => {} });
  let sent = 0;
  while (hEp.trySend(new Uint8Array([sent & 0xff]))) sent++;
  assert.equal(sent, host.txBuffers);
  assert.equal(host.getTxBuffer(), null);
  await assert.rejects(hEp.send(new Uint8Array(1), { deadlineMs: 20 }), code("RPMSG_NO_BUFFER"));
  remote.poll(); // the device consumes and returns every buffer
  assert.equal(got.length, 256);
  assert.ok(hEp.trySend(new Uint8Array([7])));
  // device side: the host stops re-posting RX buffers by not polling
  let rSent = 0;
  while (rEp.trySend(new Uint8Array(3))) rSent++;
  assert.equal(rSent, host.rxBuffers);
  await assert.rejects(rEp.send(new Uint8Array(1), { deadlineMs: 20 }), code("RPMSG_NO_BUFFER"));
  // a blocking send completes once the host catches up
  const p = rEp.send(new Uint8Array(1), { deadlineMs: 30_000 });
  setTimeout(() => host.poll(), 5);
  await p;
  pump();
  assert.equal(hEp.stats.rxMessages, 257);
});

Deno.test("oversize payloads: RPMSG_TOO_LONG on both sides; device learns the buffer size", () => {
  const { host, remote, pump } = pair({ rxBufSize: 128, txBufSize: 256 });
  assert.equal(host.maxPayload, 240);
  assert.equal(host.rxBuffers, 256); // 0x40000 / 384 = 682 pairs, capped by num
  const rEp = remote.createEndpoint({ addr: 0x400, dst: 0x401, onMessage: () => {} });
  const hEp = host.createEndpoint({ addr: 0x401, dst: 0x400, onMessage: () => {} });
  assert.throws(() => hEp.trySend(new Uint8Array(241)), code("RPMSG_TOO_LONG"));
  assert.ok(hEp.trySend(new Uint8Array(240)));
  assert.throws(() => rEp.trySend(new Uint8Array(113)), code("RPMSG_TOO_LONG"));
  assert.equal(remote.maxPayload, 112);
  // the buffer taken for the refused message was kept, not lost
  let n = 0;
  while (rEp.trySend(new Uint8Array(112))) n++;
  assert.equal(n, 256);
  pump();
  assert.equal(hEp.stats.rxMessages, 256);
  assert.equal(rEp.stats.rxMessages, 1);
});

Deno.test("zero-copy TX on both sides; buffers cannot be sent twice or used after release", () => {
  const { host, remote, pump } = pair();
  const got: string[] = [];
  const rEp = remote.createEndpoint({
    addr: 0x400,
    dst: 0x401,
    onMessage: (d) => got.push("r:" + td.decode(d)),
  });
  const hEp = host.createEndpoint({
    addr: 0x401,
    dst: 0x400,
    onMessage: (d) => got.push("h:" + td.decode(d)),
  });
  const b = host.getTxBuffer();
  assert.ok(b);
  assert.equal(b.payload.length, 496);
  assert.equal(host.txFree, 255);
  te.encodeInto("zero-copy", b.payload);
  host.sendNoCopy(hEp, b, 9);
  assert.throws(() => host.sendNoCopy(hEp, b, 9), code("RPMSG_BAD_BUFFER"));
  const c = host.getTxBuffer()!;
  assert.throws(() => host.sendNoCopy(hEp, c, 497), code("RPMSG_TOO_LONG"));
  host.releaseTxBuffer(c);
  assert.equal(host.txFree, 255);
  assert.throws(() => host.releaseTxBuffer(c), code("RPMSG_BAD_BUFFER"));
  pump();
  const d = remote.getTxBuffer()!;
  assert.equal(d.payload.length, 496);
  te.encodeInto("back", d.payload);
  remote.sendNoCopy(rEp, d, 4);
  const e = remote.getTxBuffer()!;
  remote.releaseTxBuffer(e);
  pump();
  assert.deepEqual(got, ["r:zero-copy", "h:back"]);
  assert.equal(hEp.stats.txBytes, 9);
  assert.equal(rEp.stats.txBytes, 4);
});

Deno.test("RX hold: held buffers stay valid and are not recycled until released", () => {
  const { host, remote, pump } = pair();
  const held: RpmsgRxHandle[] = [];
  const rEp = remote.createEndpoint({ addr: 0x400, dst: 0x401, onMessage: () => {} });
  host.createEndpoint({
    addr: 0x401,
    onMessage: (d) => {
      if (d[0] === 1) held.push(host.holdRx());
      if (d[0] === 2) {
        host.holdRx();
        assert.throws(() => host.holdRx(), code("RPMSG_ALREADY_HELD"));
        throw new Error("app bug");
      }
    },
  });
  assert.throws(() => host.holdRx(), code("RPMSG_NOT_IN_CALLBACK"));
  let n = 0;
  while (rEp.trySend(new Uint8Array([1, n & 0xff]))) n++;
  assert.equal(n, 256);
  host.poll();
  assert.equal(held.length, 256);
  assert.equal(rEp.trySend(new Uint8Array([1])), false); // all RX buffers are held
  assert.deepEqual([...held[17]!.data], [1, 17]);
  host.releaseRx(held[17]!);
  assert.throws(() => host.releaseRx(held[17]!), code("RPMSG_BAD_HANDLE"));
  assert.ok(rEp.trySend(new Uint8Array([0])));
  assert.equal(rEp.trySend(new Uint8Array([0])), false);
  for (const h of held) if (h !== held[17]) host.releaseRx(h);
  pump();
  // a throwing callback: error propagates, drop counted, buffer recycled (hold undone? no: held)
  assert.ok(rEp.trySend(new Uint8Array([3])));
  pump();
  assert.ok(rEp.trySend(new Uint8Array([2])));
  assert.throws(() => host.poll(), /app bug/);
  assert.equal(host.stats.drops.get("RPMSG_CALLBACK_ERROR"), 1);
  // device-side hold
  const dHeld: RpmsgRxHandle[] = [];
  const r2 = remote.createEndpoint({ addr: 0x600, onMessage: () => dHeld.push(remote.holdRx()) });
  const h2 = host.createEndpoint({ addr: 0x601, dst: r2.addr, onMessage: () => {} });
  for (let i = 0; i < 256; i++) assert.ok(h2.trySend(new Uint8Array([i & 0xff])), `send ${i}`);
  remote.poll();
  assert.equal(dHeld.length, 256);
  assert.equal(h2.trySend(new Uint8Array(1)), false);
  remote.releaseRx(dHeld[0]!);
  assert.ok(h2.trySend(new Uint8Array(1)));
});

Deno.test("unknown destination: counted, warned once per second, buffer recycled", () => {
  const { host, remote, pump, warnings } = pair();
  const rEp = remote.createEndpoint({ addr: 0x400, dst: 999, onMessage: () => {} });
  for (let i = 0; i < 600; i++) {
    assert.ok(rEp.trySend(new Uint8Array(4)), `send ${i}`);
    host.poll();
  }
  assert.equal(host.stats.drops.get("RPMSG_UNKNOWN_DST"), 600);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /RPMSG_UNKNOWN_DST.*999/);
  pump();
});

Deno.test("reset: endpoints are re-announced and re-bound in a second session", () => {
  const { host, remote, pump } = pair();
  let echoed = 0;
  const rEp = remote.createEndpoint({ name: "echo", onMessage: (d, _s, ep) => ep.trySend(d) });
  const hEp = host.createEndpoint({ name: "echo", onMessage: () => echoed++ });
  pump();
  assert.ok(hEp.trySend(new Uint8Array(1)));
  pump();
  assert.equal(echoed, 1);
  const staleTx = host.getTxBuffer()!;
  let staleRx: RpmsgRxHandle | null = null;
  const hold = remote.createEndpoint({ addr: 0x700, onMessage: () => (staleRx = remote.holdRx()) });
  const hHold = host.createEndpoint({ addr: 0x701, dst: 0x700, onMessage: () => {} });
  hHold.trySend(new Uint8Array(1));
  pump();
  assert.ok(staleRx);
  // the host goes away and comes back: both sides re-initialise
  host.reset();
  remote.reset({ features: 1 });
  assert.equal(hEp.ready, false);
  assert.equal(rEp.ready, false);
  assert.equal(hold.ready, false);
  assert.equal(hHold.dst, 0x700); // explicit dst survives
  assert.throws(() => host.sendNoCopy(hHold, staleTx, 1), code("RPMSG_BAD_BUFFER"));
  remote.releaseRx(staleRx); // harmless after a reset
  pump();
  assert.ok(hEp.ready && rEp.ready);
  assert.equal(remote.stats.nsCreate, 2);
  assert.ok(hEp.trySend(new Uint8Array(1)));
  pump();
  assert.equal(echoed, 2);
  assert.equal(host.stats.resets, 1);
});

Deno.test("endpoint addresses: dynamic from 1024, explicit, in use, NS address, exhaustion", () => {
  const { host } = pair({ dynamicAddresses: 2 });
  const a = host.createEndpoint({ onMessage: () => {} });
  const b = host.createEndpoint({ onMessage: () => {} });
  assert.deepEqual([a.addr, b.addr], [1024, 1025]);
  assert.throws(() => host.createEndpoint({ onMessage: () => {} }), code("RPMSG_NO_ADDR"));
  assert.throws(
    () => host.createEndpoint({ addr: 1025, onMessage: () => {} }),
    code("RPMSG_ADDR_IN_USE"),
  );
  assert.throws(
    () => host.createEndpoint({ addr: 53, onMessage: () => {} }),
    code("RPMSG_ADDR_IN_USE"),
  );
  assert.throws(
    () => host.createEndpoint({ addr: -1, onMessage: () => {} }),
    code("RPMSG_BAD_ADDR"),
  );
  assert.throws(
    () => host.createEndpoint({ name: "n".repeat(32), onMessage: () => {} }),
    code("RPMSG_NAME_TOO_LONG"),
  );
  const c = host.createEndpoint({ addr: 30, onMessage: () => {} });
  assert.equal(c.addr, 30);
  a.destroy();
  assert.equal(host.createEndpoint({ onMessage: () => {} }).addr, 1024);
  assert.equal(host.endpoints.size, 3);
  host.close();
  assert.throws(() => host.createEndpoint({ onMessage: () => {} }), code("RPMSG_CLOSED"));
  assert.equal(host.poll(), 0);
});

Deno.test("configuration errors: pool outside region, pool too small, bad buffer size, role mismatch", () => {
  const shm = heapRegion(0, 0x60000);
  const [n] = InProcessNotifier.pair();
  const base = { role: "driver" as const, region: shm, notifier: n, ...LAYOUT };
  assert.throws(
    () => createRpmsgDevice({ ...base, pool: { base: 0x50000, size: 0x20000 } }),
    code("RPMSG_BAD_POOL"),
  );
  assert.throws(
    () => createRpmsgDevice({ ...base, pool: { base: 0x10000, size: 1000 } }),
    code("RPMSG_POOL_TOO_SMALL"),
  );
  assert.throws(() => createRpmsgDevice({ ...base, txBufSize: 16 }), code("RPMSG_BAD_BUF_SIZE"));
  const dev = createRpmsgDevice({ ...base, role: "device" });
  const host = createRpmsgDevice(base);
  // The wrong end does not compile; from an untyped caller it fails at construction.
  // @ts-expect-error: a driver bus needs driver ends
  assert.throws(() => new RpmsgDriverBus({ ...base, vrings: dev.vrings }), code("RPMSG_VQ_ROLE"));
  // @ts-expect-error: a device bus needs device ends
  assert.throws(() => new RpmsgDeviceBus({ ...base, vrings: host.vrings }), code("RPMSG_VQ_ROLE"));
  assert.throws(
    () => createRpmsgDevice({ ...base, role: "both" as unknown as "driver" }),
    code("RPMSG_BAD_ROLE"),
  );
});

Deno.test("name service: a service announced before the local endpoint exists binds at creation", () => {
  const { host, remote, pump } = pair();
  const rEp = remote.createEndpoint({ name: "early", onMessage: (d, _s, ep) => ep.trySend(d) });
  pump(); // the host has no endpoint yet: it only remembers the service
  assert.deepEqual([...host.remoteServices], [["early", rEp.addr]]);
  let got = 0;
  const hEp = host.createEndpoint({ name: "early", onMessage: () => got++ });
  assert.equal(hEp.ready, true);
  assert.equal(hEp.dst, rEp.addr);
  assert.ok(hEp.trySend(new Uint8Array(1)));
  pump();
  assert.equal(got, 1);
  rEp.destroy();
  pump();
  assert.equal(host.remoteServices.size, 0);
  assert.equal(hEp.ready, false);
});

Deno.test("device role: nothing in the rings is read or written before the session starts", () => {
  const shm = heapRegion(0, 0x60000);
  // An earlier run's rings: vring0 avail.idx 738 (738 entries past 0 on a
  // 256-entry ring: reading it breaks the queue), garbage descriptors.
  shm.fill(0x4000, 0x8000, 0xee);
  shm.setU16(0x5002, 738);
  shm.setU16(0x9002, 482);
  // The driver's parts (descriptors, avail ring) of both rings. The used
  // rings are the device's: its virtqueues start them zeroed.
  const rings = () => [shm.read(0x4000, 0x1206), shm.read(0x8000, 0x1206)];
  const before = rings();
  const [nh, nr] = InProcessNotifier.pair();
  const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...LAYOUT });
  let echoed = 0;
  const rEp = remote.createEndpoint({ name: "echo", onMessage: (d, _s, ep) => ep.trySend(d) });
  const other = remote.createEndpoint({ name: "gone", onMessage: () => {} });
  other.destroy();
  assert.equal(remote.hasWork(), false);
  assert.deepEqual(rings(), before);
  assert.ok(shm.bytes(0x6000, 0x806).every((b) => b === 0)); // no flags (NO_NOTIFY) written yet
  assert.equal(remote.stats.txMessages, 0);
  assert.equal(remote.vrings[0].broken, null);
  assert.equal(nh.pending(), false);
  // The driver sets up the rings (zeroing them), then the session starts.
  const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...LAYOUT });
  const hEp = host.createEndpoint({ name: "echo", onMessage: () => echoed++ });
  remote.reset();
  assert.equal(remote.stats.txMessages, 1); // the queued announcement, not the destroyed one
  host.poll();
  assert.ok(hEp.ready);
  assert.equal(host.remoteServices.has("gone"), false);
  assert.ok(hEp.trySend(new Uint8Array(3)));
  remote.poll();
  host.poll();
  assert.equal(echoed, 1);
  assert.ok(rEp.ready);
});

Deno.test("wire layout: 256 RX buffers from the pool's first half on vring0, TX from the second half on vring1, ring flags", () => {
  const { shm, host, remote, pump } = pair();
  // vring0 (driver RX): every descriptor is a 512-byte device-writable buffer
  // in [0x10000, 0x30000), in order, all 256 published in avail.
  for (let i = 0; i < 256; i++) {
    const d = 0x4000 + 16 * i;
    assert.equal(shm.u32(d + 4), 0, `desc ${i} addr high word`);
    assert.equal(shm.u32(d), 0x10000 + 512 * i, `desc ${i} addr`);
    assert.equal(shm.u32(d + 8), 512, `desc ${i} len`);
    assert.equal(shm.u16(d + 12), 2, `desc ${i} flags (WRITE only)`);
  }
  assert.equal(shm.u16(0x5002), 256); // vring0 avail.idx
  // The driver asks not to be kicked for returned TX buffers (vring1 avail.flags
  // NO_INTERRUPT); vring0 avail.flags stays 0 so RX messages are kicked.
  assert.equal(shm.u16(0x9000), 1);
  assert.equal(shm.u16(0x5000), 0);
  const hEp = host.createEndpoint({ addr: 0x400, dst: 0x401, onMessage: () => {} });
  const got: number[] = [];
  remote.createEndpoint({ addr: 0x401, onMessage: (d) => got.push(d.length) });
  pump();
  // The device asks not to be kicked for re-posted RX buffers (vring0 used.flags
  // NO_NOTIFY); vring1 used.flags stays 0 so every sent message is kicked.
  assert.equal(shm.u16(0x6000), 1);
  assert.equal(shm.u16(0xa000), 0);
  const before = host.stats.kicks;
  for (let n = 0; n < 300; n++) {
    assert.ok(hEp.trySend(new Uint8Array(1 + (n % 7))), `send ${n}`);
    // vring1 (driver TX): the buffer sent is in [0x30000, 0x50000), device-readable,
    // its descriptor length the message length (header + payload).
    const slot = (shm.u16(0x9002) - 1) & 255;
    const d = 0x8000 + 16 * shm.u16(0x9004 + 2 * slot);
    const addr = shm.u32(d);
    assert.ok(addr >= 0x30000 && addr < 0x50000 && (addr - 0x30000) % 512 === 0, `TX at ${addr}`);
    assert.equal(shm.u32(d + 8), 16 + 1 + (n % 7));
    assert.equal(shm.u16(d + 12), 0);
    assert.deepEqual(
      [shm.u32(addr), shm.u32(addr + 4), shm.u32(addr + 8), shm.u16(addr + 12), shm.u16(addr + 14)],
      [0x400, 0x401, 0, 1 + (n % 7), 0],
      "header: src, dst, reserved 0, len, flags 0",
    );
    pump();
  }
  assert.equal(got.length, 300);
  assert.equal(host.stats.kicks - before, 300); // one kick per message, none for reclaiming
});

Deno.test("wire layout: the device's name-service CREATE and DESTROY, header fields, used len = buffer size", () => {
  const { shm, host, remote } = pair();
  const rEp = remote.createEndpoint({ name: "rpmsg-openamp-demo-channel", onMessage: () => {} });
  assert.equal(shm.u16(0x6002), 0); // nothing sent before the session starts
  remote.poll();
  const check = (k: number, flags: number) => {
    assert.equal(shm.u16(0x6002), k + 1); // vring0 used.idx
    const id = shm.u32(0x6004 + 8 * k);
    assert.equal(shm.u32(0x6004 + 8 * k + 4), 512, "used len is the full buffer length");
    const a = shm.u32(0x4000 + 16 * id);
    assert.deepEqual(
      [shm.u32(a), shm.u32(a + 4), shm.u32(a + 8), shm.u16(a + 12), shm.u16(a + 14)],
      [rEp.addr, 53, 0, 40, 0],
      "src = the endpoint, dst 53, reserved 0, len 40, flags 0",
    );
    const name = te.encode("rpmsg-openamp-demo-channel");
    assert.deepEqual(shm.read(a + 16, name.length), name);
    assert.ok(shm.bytes(a + 16 + name.length, 32 - name.length).every((b) => b === 0));
    assert.equal(shm.u32(a + 48), rEp.addr);
    assert.equal(shm.u32(a + 52), flags);
  };
  check(0, 0);
  host.poll();
  assert.equal(host.remoteServices.get("rpmsg-openamp-demo-channel"), rEp.addr);
  rEp.destroy();
  check(1, 1);
  host.poll();
  assert.equal(host.remoteServices.has("rpmsg-openamp-demo-channel"), false);
});
