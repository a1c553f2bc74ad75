/**
 * Batching and notification suppression on the rpmsg buses: zero-copy sends
 * queued and published together, received buffers handed back with one index
 * store, no kicks to a peer that asked for none, and no buffer lost in the
 * window between a poller's last look at the ring and clearing its flag.
 */
import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { heapRegion } from "../mem/region.ts";
import { InProcessNotifier } from "../notify/in_process.ts";
import { createRpmsgDevice } from "./create.ts";
import type { RpmsgDevice } from "./device.ts";
import { batchSize, MAX_BATCH as TX_BATCH } from "./_tx.ts";
import type { Virtqueue } from "../virtio/virtqueue.ts";

function code(c: string) {
  return (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, c);
    return true;
  };
}

/**
 * The active window of the pairs whose tests need one to pass (they sleep
 * past it) but not to end early: long enough that a loaded machine does not
 * end it between two statements.
 */
const WINDOW_MS = 100;

function pair(num = 256, activeWindowMs = 5) {
  const layout = {
    vring0: { pa: 0x4000, num, align: 0x1000 },
    vring1: { pa: 0x8000, num, align: 0x1000 },
    pool: { base: 0x10000, size: 0x40000 },
  };
  const shm = heapRegion(0, 0x60000);
  const [nh, nr] = InProcessNotifier.pair();
  const host = createRpmsgDevice({
    role: "driver",
    region: shm,
    notifier: nh,
    activeWindowMs,
    ...layout,
  });
  const remote = createRpmsgDevice({
    role: "device",
    region: shm,
    notifier: nr,
    activeWindowMs,
    ...layout,
  });
  const got: number[] = [];
  const hostGot: number[] = [];
  const seqOf = (d: Uint8Array) => (d[0]! | d[1]! << 8 | d[2]! << 16 | d[3]! << 24) >>> 0;
  const rep = remote.createEndpoint({
    addr: 1024,
    dst: 1024,
    onMessage: (d) => got.push(seqOf(d)),
  });
  const hep = host.createEndpoint({
    addr: 1024,
    dst: 1024,
    onMessage: (d) => hostGot.push(seqOf(d)),
  });
  const l1 = host.vrings[1].layout;
  const l0 = host.vrings[0].layout;
  return {
    shm,
    host,
    remote,
    hep,
    rep,
    got,
    hostGot,
    nh,
    nr,
    /** vring1 avail.idx and used.idx as they are in shared memory. */
    vring1Idx: () => [shm.u16(0x8000 + l1.avail + 2), shm.u16(0x8000 + l1.used + 2)],
    vring0Idx: () => [shm.u16(0x4000 + l0.avail + 2), shm.u16(0x4000 + l0.used + 2)],
  };
}

/** Run `fn` once, in the window just before the first `enableNotifications` of `vq` takes effect. */
function beforeFirstEnable(vq: Virtqueue, fn: () => void): void {
  const enable = vq.enableNotifications.bind(vq);
  let armed = true;
  vq.enableNotifications = () => {
    if (armed) {
      armed = false;
      fn();
    }
    enable();
  };
}

/** Queue `n` zero-copy messages numbered from `from` (4-byte sequence, `size` bytes). */
function queue(
  bus: RpmsgDevice,
  ep: Parameters<RpmsgDevice["queueNoCopy"]>[0],
  from: number,
  n: number,
  size = 16,
) {
  for (let i = 0; i < n; i++) {
    const b = bus.getTxBuffer();
    assert(b !== null, `a TX buffer for message ${from + i}`);
    b.payload.fill(0xa5, 0, size);
    new DataView(b.payload.buffer, b.payload.byteOffset).setUint32(0, from + i, true);
    bus.queueNoCopy(ep, b, size);
  }
}

Deno.test("queueNoCopy: a batch stays invisible until flush, then one store and one kick deliver it in order", () => {
  const p = pair();
  const n = TX_BATCH - 1;
  const kicks0 = p.host.stats.kicks;
  queue(p.host, p.hep, 0, n);
  assert.deepEqual(p.vring1Idx(), [0, 0], "avail.idx not written while queued");
  assert.equal(p.remote.hasWork(), false);
  assert.equal(p.remote.poll(), 0);
  assert.equal(p.host.stats.kicks, kicks0, "no kick before the flush");
  p.host.flush();
  assert.equal(p.vring1Idx()[0], n, "one flush publishes the whole batch");
  assert.equal(p.host.stats.kicks, kicks0 + 1, "one kick for the batch");
  p.host.flush();
  assert.equal(p.host.stats.kicks, kicks0 + 1, "an empty flush neither publishes nor kicks");
  assert.equal(p.remote.poll(), n);
  assert.deepEqual(p.got, Array.from({ length: n }, (_, i) => i));
  assert.equal(p.host.stats.txMessages, n);
  assert.equal(p.hep.stats.txMessages, n);
});

Deno.test("queueNoCopy publishes on its own every 64 buffers (256-entry ring), and at poll and eager sends", () => {
  const p = pair();
  queue(p.host, p.hep, 0, TX_BATCH + 3);
  assert.equal(p.vring1Idx()[0], TX_BATCH, "the full batch went out by itself");
  p.host.poll();
  assert.equal(p.vring1Idx()[0], TX_BATCH + 3, "poll publishes what is queued");
  queue(p.host, p.hep, TX_BATCH + 3, 2);
  assert(p.hep.trySend(new Uint8Array([TX_BATCH + 5, 0, 0, 0])));
  assert.equal(
    p.vring1Idx()[0],
    TX_BATCH + 6,
    "an eager send publishes the queued ones first, in order",
  );
  p.remote.poll();
  assert.deepEqual(p.got, Array.from({ length: TX_BATCH + 6 }, (_, i) => i));
});

Deno.test("queueNoCopy: running out of TX buffers publishes the queued ones, so they can come back", () => {
  const p = pair(16); // 16 TX buffers, a batch of 4
  queue(p.host, p.hep, 0, 15);
  assert.equal(p.vring1Idx()[0], 12, "three batches out, three buffers staged");
  const last = p.host.getTxBuffer();
  assert(last !== null);
  assert.equal(p.vring1Idx()[0], 12);
  assert.equal(p.host.getTxBuffer(), null);
  assert.equal(p.vring1Idx()[0], 15, "taking a buffer with none left published the staged ones");
  p.host.releaseTxBuffer(last);
  assert.equal(p.remote.poll(), 15);
  const b = p.host.getTxBuffer();
  assert(b !== null, "the returned buffers are reclaimed");
  p.host.releaseTxBuffer(b);
});

Deno.test("queueNoCopy: a queued buffer is no longer live; bad lengths are refused", () => {
  const p = pair();
  const b = p.host.getTxBuffer()!;
  assert.throws(() => p.host.queueNoCopy(p.hep, b, 497), code("RPMSG_TOO_LONG"));
  p.host.queueNoCopy(p.hep, b, 4);
  assert.throws(() => p.host.queueNoCopy(p.hep, b, 4), code("RPMSG_BAD_BUFFER"));
  assert.throws(() => p.host.sendNoCopy(p.hep, b, 4), code("RPMSG_BAD_BUFFER"));
});

Deno.test("the device role queues too: replies published together, the host receives them in order", () => {
  const p = pair();
  queue(p.remote, p.rep, 0, 5);
  assert.deepEqual(p.vring0Idx()[1], 0, "used.idx not written while queued");
  assert.equal(p.host.poll(), 0);
  p.remote.flush();
  assert.equal(p.vring0Idx()[1], 5);
  assert.equal(p.host.poll(), 5);
  assert.deepEqual(p.hostGot, [0, 1, 2, 3, 4]);
});

Deno.test("received buffers go back with one index store per poll", () => {
  const p = pair();
  for (let i = 0; i < 20; i++) assert(p.hep.trySend(new Uint8Array([i, 0, 0, 0])));
  const recycle = p.remote.vrings[1];
  const publish = recycle.publish.bind(recycle);
  let stores = 0;
  recycle.publish = () => {
    const n = publish();
    if (n > 0) stores++;
    return n;
  };
  assert.equal(p.remote.poll(), 20);
  assert.equal(stores, 1);
  assert.equal(p.vring1Idx()[1], 20, "all 20 returned");
  // A long drain hands them back in slices of 64 (a quarter of the 256-entry ring), so the driver can refill meanwhile.
  stores = 0;
  for (let i = 0; i < 100; i++) assert(p.hep.trySend(new Uint8Array([20 + i, 0, 0, 0])));
  assert.equal(p.remote.poll(), 100);
  assert.equal(stores, 2, "64 + 36");
  assert.equal(p.vring1Idx()[1], 120);
  p.got.length = 0;
  // And the host's re-posted RX buffers likewise.
  for (let i = 0; i < 20; i++) assert(p.rep.trySend(new Uint8Array([i, 0, 0, 0])));
  const availBefore = p.vring0Idx()[0];
  assert.equal(p.host.poll() >= 20, true);
  assert.equal(p.vring0Idx()[0], (availBefore! + 20) & 0xffff);
  assert.deepEqual(p.hostGot, Array.from({ length: 20 }, (_, i) => i));
});

Deno.test("a peer that set NO_NOTIFY (driver side) / NO_INTERRUPT (device side) gets no kicks", () => {
  const p = pair();
  // The remote asks for no kicks on vring1 (used.flags NO_NOTIFY).
  p.remote.vrings[1].disableNotifications();
  const k = p.host.stats.kicks;
  for (let i = 0; i < 5; i++) assert(p.hep.trySend(new Uint8Array(4)));
  queue(p.host, p.hep, 5, 3);
  p.host.flush();
  assert.equal(p.host.stats.kicks, k, "no kick while NO_NOTIFY is set");
  assert.equal(p.nr.pending(), false);
  p.remote.vrings[1].enableNotifications();
  assert(p.hep.trySend(new Uint8Array(4)));
  assert.equal(p.host.stats.kicks, k + 1, "kicks again once the flag is clear");
  // The host asks for no kicks on vring0 (avail.flags NO_INTERRUPT).
  p.host.vrings[0].disableNotifications();
  const r = p.remote.stats.kicks;
  for (let i = 0; i < 5; i++) assert(p.rep.trySend(new Uint8Array(4)));
  assert.equal(p.remote.stats.kicks, r);
  p.host.vrings[0].enableNotifications();
  assert(p.rep.trySend(new Uint8Array(4)));
  assert.equal(p.remote.stats.kicks, r + 1);
});

Deno.test("while a bus drains a ring the peer does not kick; the flag is clear when poll returns", () => {
  const p = pair();
  for (let i = 0; i < 3; i++) assert(p.hep.trySend(new Uint8Array([i, 0, 0, 0])));
  const flags = p.remote.vrings[1].layout.used + 0x8000;
  let flagInCallback = -1;
  const ep = p.remote.createEndpoint({
    addr: 1025,
    onMessage: () => {
      flagInCallback = p.shm.u16(flags);
      // A message sent while the remote drains: no kick needed.
      assert(p.hep.trySend(new Uint8Array([9, 0, 0, 0])));
    },
  });
  assert(
    p.host.createEndpoint({ addr: 1030, dst: ep.addr, onMessage: () => {} }).trySend(
      new Uint8Array(1),
    ),
  );
  const kBefore = p.host.stats.kicks;
  p.remote.poll();
  assert.equal(flagInCallback & 1, 1, "NO_NOTIFY is set during the drain");
  assert.equal(p.host.stats.kicks, kBefore, "the message sent during the drain was not kicked");
  assert.equal(p.shm.u16(flags) & 1, 0, "NO_NOTIFY is clear after poll");
  assert.deepEqual(p.got, [0, 1, 2, 9], "and it was delivered in the same poll");
});

for (const side of ["device", "driver"] as const) {
  Deno.test(`${side}: a wait that spins mutes the peer's kicks while messages come, and lifts the mute before it blocks`, async () => {
    const p = pair(256, WINDOW_MS);
    const [me, peer, send] = side === "device"
      ? [p.remote, p.host, () => p.hep.trySend(new Uint8Array(4))]
      : [p.host, p.remote, () => p.rep.trySend(new Uint8Array(4))];
    // The receive ring's flag: vring1 used.flags (device), vring0 avail.flags (driver).
    const flags = side === "device"
      ? 0x8000 + me.vrings[1].layout.used
      : 0x4000 + me.vrings[0].layout.avail;
    const muted = () => (p.shm.u16(flags) & 1) === 1;
    assert(send());
    assert(me.poll() > 0, "a message: the bus is in its active window");
    const k = peer.stats.kicks;
    const w = me.waitForWork({ deadlineMs: 5000 });
    assert(muted(), "the flag is set while the wait spins");
    assert(send());
    assert.equal(peer.stats.kicks, k, "no kick to a side that spins");
    assert.equal(await w, true, "the spin saw the message itself");
    assert(me.poll() > 0);
    assert(muted(), "kept through the poll while messages keep coming");
    // Idle past the active window: the mute is lifted before the wait blocks.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 50));
    const w2 = me.waitForWork({ deadlineMs: 5000 });
    assert(!muted(), "the flag is clear before the wait blocks");
    assert(send());
    assert.equal(peer.stats.kicks, k + 1, "a side that blocks is kicked");
    assert.equal(await w2, true);
    assert(me.poll() > 0);
  });
}

/** A pair whose remote took a message and now waits, muted (its vring1 used.flags NO_NOTIFY). */
function remoteWaitingMuted(deadlineMs: number) {
  const p = pair(256, WINDOW_MS);
  const flags = 0x8000 + p.remote.vrings[1].layout.used;
  assert(p.hep.trySend(new Uint8Array(4)));
  p.remote.poll();
  return { p, flags, w: p.remote.waitForWork({ deadlineMs }) };
}

Deno.test("a message posted while muted is found by the wait that lifts the mute, without a kick", async () => {
  const { p, flags, w } = remoteWaitingMuted(5000);
  assert(p.hep.trySend(new Uint8Array(4)));
  assert.equal(await w, true);
  p.remote.poll();
  // Still muted: the host posts without kicking, then the remote goes idle.
  const k = p.host.stats.kicks;
  assert(p.hep.trySend(new Uint8Array([7, 0, 0, 0])));
  assert.equal(p.host.stats.kicks, k);
  await new Promise((r) => setTimeout(r, WINDOW_MS + 50));
  assert.equal(await p.remote.waitForWork({ deadlineMs: 5000 }), true);
  assert.equal(p.shm.u16(flags) & 1, 0);
  assert.equal(p.host.stats.kicks, k, "no kick was needed");
  p.remote.poll();
  assert.equal(p.got.at(-1), 7);
});

Deno.test("a muted wait whose bus is closed under it ends without touching the rings", async () => {
  const { p, flags, w } = remoteWaitingMuted(50);
  assert.equal(p.shm.u16(flags) & 1, 1, "muted while it spins");
  p.remote.close();
  p.shm.setU16(flags, 0xa5a5); // a closed bus owns nothing: this must stay
  await w; // true or false (a kick from before the mute may still be pending)
  assert.equal(p.shm.u16(flags), 0xa5a5);
});

Deno.test("flag-clear race: a buffer posted between the last look and the clear is not lost", () => {
  for (const late of [1, 3]) {
    const p = pair();
    assert(p.hep.trySend(new Uint8Array([0, 0, 0, 0])));
    // Post `late` messages exactly in the window: after the drain saw the ring
    // empty (NO_NOTIFY still set, so no kick), just before the flag is cleared.
    beforeFirstEnable(p.remote.vrings[1], () => {
      for (let i = 1; i <= late; i++) assert(p.hep.trySend(new Uint8Array([i, 0, 0, 0])));
    });
    const kicks = p.host.stats.kicks;
    p.remote.poll();
    const kicked = p.host.stats.kicks > kicks;
    // Either the bus re-checked after the clear and took them, or someone kicked it.
    assert(
      p.got.length === late + 1 || kicked,
      `late messages neither delivered nor kicked (${late})`,
    );
    assert.deepEqual(
      p.got,
      Array.from({ length: late + 1 }, (_, i) => i),
      "delivered in this poll, in order",
    );
    assert.equal(p.remote.hasWork(), false);
  }
});

Deno.test("a driver that breaks vring1 mid-batch breaks the device's ring and stays broken", () => {
  const p = pair();
  queue(p.host, p.hep, 0, 4);
  p.host.flush();
  // Hostile: avail.idx far past the ring after the batch.
  const l = p.host.vrings[1].layout;
  p.remote.poll();
  p.shm.setU16(0x8000 + l.avail + 2, 4 + 256 + 7);
  assert.throws(() => p.remote.poll(), code("VQ_AVAIL_IDX_JUMP"));
  assert.throws(() => p.remote.poll(), code("VQ_AVAIL_IDX_JUMP"));
  assert.deepEqual(p.got, [0, 1, 2, 3]);
});

Deno.test("reclaimed TX buffers get their header's reserved word cleared", () => {
  const p = pair(8);
  queue(p.host, p.hep, 0, 8);
  p.host.flush();
  // The remote scribbles on `reserved` as upstream receivers do, then returns the buffers.
  const ring = p.remote.vrings[1];
  const seen: number[] = [];
  for (let h; (h = ring.getAvail()) >= 0;) {
    p.shm.setU32(ring.chain[0]!.addr + 8, 0xdead_beef);
    seen.push(ring.chain[0]!.addr);
    ring.putUsed(h, 0);
  }
  assert.equal(seen.length, 8);
  const b = p.host.getTxBuffer(); // reclaims all eight
  assert(b !== null);
  for (const a of seen) assert.equal(p.shm.u32(a + 8), 0);
  p.host.releaseTxBuffer(b);
});

Deno.test("the batch is a quarter of the ring, at most 64, at least 1", () => {
  assert.deepEqual([1, 2, 4, 8, 16, 256, 1024].map(batchSize), [1, 1, 1, 2, 4, 64, 64]);
  // An 8-entry ring publishes queued sends every 2.
  const p = pair(8);
  queue(p.host, p.hep, 0, 3);
  assert.equal(p.vring1Idx()[0], 2);
});

Deno.test("flag-clear race on the driver side: a buffer returned between the last look and the clear is not lost", () => {
  const p = pair();
  assert(p.rep.trySend(new Uint8Array([0, 0, 0, 0])));
  const vq = p.host.vrings[0];
  beforeFirstEnable(vq, () => {
    // The remote fills two RX buffers while the host still has NO_INTERRUPT set: no kick.
    const k = p.remote.stats.kicks;
    assert(p.rep.trySend(new Uint8Array([1, 0, 0, 0])));
    assert(p.rep.trySend(new Uint8Array([2, 0, 0, 0])));
    assert.equal(p.remote.stats.kicks, k);
  });
  p.host.poll();
  assert.deepEqual(p.hostGot, [0, 1, 2], "taken by the look after the clear, in order");
  assert.equal(p.host.hasWork(), false);
  assert.equal(p.shm.u16(0x4000 + vq.layout.avail) & 1, 0, "NO_INTERRUPT clear after poll");
});

Deno.test("device: returned vring1 buffers kick a driver that unmasked its TX-complete interrupt, and only then", () => {
  const p = pair();
  p.remote.poll();
  p.host.poll();
  const l1 = p.host.vrings[1].layout;
  const availFlags = 0x8000 + l1.avail;
  assert.equal(p.shm.u16(availFlags) & 1, 1, "amp's driver masks it (NO_INTERRUPT)");
  const before = p.remote.stats.kicks;
  queue(p.host, p.hep, 0, 3);
  p.host.flush();
  assert.equal(p.remote.poll(), 3);
  assert.equal(p.remote.stats.kicks, before, "masked: the buffers go back without a kick");
  // A driver out of TX buffers (Linux's virtio_rpmsg) clears the flag and sleeps.
  p.shm.setU16(availFlags, 0);
  queue(p.host, p.hep, 3, 3);
  p.host.flush();
  assert.equal(p.remote.poll(), 3);
  assert.equal(p.remote.stats.kicks, before + 1, "one kick for the three buffers given back");
  assert.equal(p.vring1Idx()[1], 6, "all six back in vring1's used ring");
  assert.deepEqual(p.got, [0, 1, 2, 3, 4, 5]);
});
