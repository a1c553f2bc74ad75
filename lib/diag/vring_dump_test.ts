import assert from "node:assert/strict";
import { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion } from "../mem/region.ts";
import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
import { InProcessNotifier } from "../notify/in_process.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import {
  buildResourceTable,
  rpmsgVdev,
  serializeResourceTable,
  vdevStatusAddr,
} from "../rsc/table.ts";
import { statusNames } from "./names.ts";
import { dumpVdev, formatVdevDump } from "./vring_dump.ts";

const TABLE = 0x9010_0000;
const V0 = 0x9016_0000, V1 = 0x9016_4000, POOL = 0x9012_0000;

function liveTable(da0: number, da1: number, status = 4, gfeatures = 1): Uint8Array {
  const t = buildResourceTable([
    rpmsgVdev({
      vrings: [
        { da: da0, align: 0x1000, num: 256, notifyid: 1 },
        { da: da1, align: 0x1000, num: 256, notifyid: 2 },
      ],
    }),
    { kind: "trace", da: 0x9024_0000, len: 0x1000, name: "trace0" },
  ], { offsetSlots: 8 });
  const bytes = serializeResourceTable(t);
  const vdev = t.entries[0]!;
  const dv = new DataView(bytes.buffer);
  dv.setUint32(vdev.offset + 16, gfeatures, true);
  bytes[vdevStatusAddr(0, vdev)] = status;
  return bytes;
}

/** Both ends of rpmsg on one heap region laid out like rv64-virt; some traffic exchanged. */
function liveChannel() {
  const shm = heapRegion(TABLE, 0x8_0000, { name: "90100000.shm" });
  shm.write(TABLE, liveTable(V0, V1));
  const [nh, nr] = InProcessNotifier.pair();
  const layout = {
    vring0: { pa: V0, num: 256, align: 0x1000 },
    vring1: { pa: V1, num: 256, align: 0x1000 },
    pool: { base: POOL, size: 0x4_0000 },
  };
  const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
  const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
  return { shm, host, remote, map: new MemoryMap([shm]) };
}

Deno.test("dumpVdev: a live channel after some messages", async () => {
  const { host, remote, map, shm } = liveChannel();
  remote.createEndpoint({ name: "echo", addr: 1024, onMessage: (d, _s, ep) => ep.trySend(d) });
  const got: number[] = [];
  const ep = host.createEndpoint({ name: "echo", onMessage: (d) => got.push(d.length) });
  remote.poll(); // NS announcement
  host.poll();
  assert.equal(ep.dst, 1024);
  for (let i = 1; i <= 5; i++) {
    await ep.send(new Uint8Array(i * 10));
    remote.poll();
    host.poll();
  }
  // One more message sent but not consumed: it stays in flight on vring1.
  await ep.send(new Uint8Array(77));
  assert.deepEqual(got, [10, 20, 30, 40, 50]);

  const d = dumpVdev(map, RV64_VIRT, { last: 3 });
  assert.equal(d.tableOk, true, d.problems.join("; "));
  assert.equal(d.vdevs.length, 1);
  const v = d.vdevs[0]!;
  assert.equal(v.id, 7);
  assert.deepEqual(v.statusNames, ["DRIVER_OK"]);
  assert.deepEqual(v.dfeatureNames, ["NS"]);
  assert.deepEqual(v.negotiatedNames, ["NS"]);
  const [rx, tx] = v.vrings;
  assert.ok(rx && tx);
  // vring0: 256 RX buffers posted; the remote used 6 (NS + 5 echoes); all recycled.
  assert.equal(rx.usedIdx, 6);
  assert.equal(rx.availIdx, 256 + 6);
  assert.equal(rx.pending, 256);
  assert.equal(rx.inFlight.length, 256);
  assert.ok(rx.inFlight.every((f) => f.flagNames.join() === "WRITE"));
  assert.deepEqual(
    rx.lastUsed.map((e) => [e.idx, e.header?.src, e.header?.dst, e.header?.len, e.header?.ok]),
    [[3, 1024, ep.addr, 30, true], [4, 1024, ep.addr, 40, true], [5, 1024, ep.addr, 50, true]],
  );
  // vring1: the host's NS announcement and 6 messages; all but the last consumed.
  assert.equal(tx.availIdx, 7);
  assert.equal(tx.usedIdx, 6);
  assert.equal(tx.pending, 1);
  assert.equal(tx.inFlight.length, 1);
  // The driver re-used the buffer it got back, so older entries show its newest content.
  assert.equal(tx.lastAvail.length, 3);
  assert.equal(tx.lastAvail[2]?.header?.len, 77);
  assert.equal(tx.lastAvail[2]?.addr, tx.inFlight[0]?.addr);
  assert.ok(tx.lastAvail[2]!.addr >= POOL + 256 * 512, "a TX buffer (second half of the pool)");
  assert.ok(tx.lastAvail.every((e) => e.header?.src === ep.addr && e.header.dst === 1024));

  const text = formatVdevDump(d, 3);
  assert.match(text, /status 0x4 DRIVER_OK/);
  assert.match(text, /vring1 at 0x90164000: num 256, align 0x1000, notifyid 2/);
  assert.match(text, /used idx 6 flags 0x\d+.*in flight 1/);
  assert.match(text, /src 1024 dst \d+ len 50/);
  // Read-only: nothing in shared memory changed.
  const before = shm.read(TABLE, 0x8_0000);
  dumpVdev(map, RV64_VIRT, { last: 256 });
  assert.deepEqual(shm.read(TABLE, 0x8_0000), before);
  host.close();
  remote.close();
});

Deno.test("dumpVdev: a garbage ring is decoded as found, with notes", () => {
  const shm = heapRegion(TABLE, 0x8_0000, { name: "90100000.shm" });
  shm.write(TABLE, liveTable(V0, V1, 0x4f, 0xffff_ffff));
  // avail.idx far ahead of used.idx, heads out of range, descriptors pointing anywhere.
  let seed = 99;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let pa = V0; pa < V0 + 0x8000; pa += 4) shm.setU32(pa, rnd());
  const d = dumpVdev(new MemoryMap([shm]), RV64_VIRT, { last: 8 });
  const v = d.vdevs[0]!;
  assert.deepEqual(v.statusNames, [
    "ACKNOWLEDGE",
    "DRIVER",
    "DRIVER_OK",
    "FEATURES_OK",
    "NEEDS_RESET",
  ]);
  assert.equal(v.gfeatureNames.length, 32);
  for (const r of v.vrings) {
    assert.equal(r.error, null);
    assert.ok(r.inFlight.length <= 256);
    for (const e of [...r.lastUsed, ...r.lastAvail]) {
      // Every entry is explained: a bad id, an unmapped buffer, or a header judged.
      assert.ok(e.problem !== undefined || e.header !== null);
      if (e.header && e.header.ok) assert.ok(e.header.len <= e.len - 16 || e.len > 0);
    }
    assert.ok(
      [...r.lastUsed, ...r.lastAvail].some((e) =>
        /not inside a mapped region|>= num/.test(e.problem ?? "")
      ),
    );
  }
  const text = formatVdevDump(d);
  assert.match(text, /<- /);
});

Deno.test("dumpVdev: no table, an unmapped ring, da ANY", () => {
  const shm = heapRegion(TABLE, 0x8_0000, { name: "90100000.shm" });
  // Nothing published: the layout's rings are decoded instead.
  let d = dumpVdev(new MemoryMap([shm]), RV64_VIRT);
  assert.equal(d.vdevs.length, 0);
  assert.equal(d.tableOk, false);
  assert.match(d.problems.join(), /RSC_BAD_VERSION/);
  assert.deepEqual(d.layoutRings.map((r) => [r.paHex, r.error, r.usedIdx]), [
    ["0x90160000", null, 0],
    ["0x90164000", null, 0],
  ]);
  // A vring placed outside mapped memory; the other still ANY (layout address used).
  shm.write(TABLE, liveTable(0x1000_0000, 0xffff_ffff, 0));
  d = dumpVdev(new MemoryMap([shm]), RV64_VIRT);
  const [a, b] = d.vdevs[0]!.vrings;
  assert.match(a?.error ?? "", /not inside a mapped region/);
  assert.deepEqual([b?.daHex, b?.paHex, b?.source, b?.error], [
    "ANY",
    "0x90164000",
    "layout",
    null,
  ]);
  assert.deepEqual(d.vdevs[0]!.statusNames, []);
  assert.match(formatVdevDump(d), /status 0x0 \(reset\)/);
  // Nothing mapped at all.
  d = dumpVdev(new MemoryMap(), RV64_VIRT);
  assert.match(d.problems.join(), /not mapped/);
  assert.ok(d.layoutRings.every((r) => r.error !== null));
});

Deno.test("statusNames names every virtio status bit", () => {
  assert.deepEqual(statusNames(0xcf), [
    "ACKNOWLEDGE",
    "DRIVER",
    "DRIVER_OK",
    "FEATURES_OK",
    "NEEDS_RESET",
    "FAILED",
  ]);
  assert.deepEqual(statusNames(0x30), ["0x10", "0x20"]);
});
