import assert from "node:assert/strict";
import { AmpError, MemoryBoundsError, TimeoutError, VirtioError } from "../errors.ts";
import { heapRegion } from "../mem/region.ts";
import { FW_RSC_U32_ADDR_ANY, RSC_VDEV, VIRTIO_ID_RPMSG } from "../rsc/layout.ts";
import { SharedVdev } from "./vdev.ts";

const BASE = 0x3000_0000;
const PA = BASE + 0x40; // entry placed inside a table

/** A region holding an rpmsg-like vdev entry built field by field. */
function table(opts: { nrings?: number; configLen?: number; dfeatures?: number } = {}) {
  const shm = heapRegion(BASE, 0x200);
  const n = opts.nrings ?? 2;
  shm.setU32(PA, RSC_VDEV);
  shm.setU32(PA + 4, VIRTIO_ID_RPMSG);
  shm.setU32(PA + 8, 2);
  shm.setU32(PA + 12, opts.dfeatures ?? 1);
  shm.setU32(PA + 20, opts.configLen ?? 0);
  shm.setU8(PA + 25, n);
  for (let i = 0; i < n; i++) {
    const v = PA + 28 + 20 * i;
    shm.setU32(v, FW_RSC_U32_ADDR_ANY);
    shm.setU32(v + 4, 0x1000);
    shm.setU32(v + 8, 256);
    shm.setU32(v + 12, i);
  }
  return shm;
}

function vErr(code: string) {
  return (e: unknown) => e instanceof VirtioError && e.code === code;
}

Deno.test("vdev: driver writes features and exactly DRIVER_OK; device negotiates", async () => {
  const shm = table({ dfeatures: 0b101 });
  const host = new SharedVdev(shm, PA, { name: "vdev0" });
  const remote = new SharedVdev(shm, PA, { name: "vdev0" });
  assert.equal(host.id, VIRTIO_ID_RPMSG);
  assert.equal(host.notifyid, 2);
  assert.equal(host.deviceFeatures(), 0b101);
  host.writeGuestFeatures(0b011);
  assert.equal(shm.u32(PA + 16), 0b011);
  assert.equal(remote.guestFeatures(), 0b011);
  assert.equal(remote.negotiatedFeatures(), 0b001);
  host.writeGuestFeatures(0xffff_ffff);
  shm.setU32(PA + 12, 0x8000_0001);
  assert.equal(remote.negotiatedFeatures(), 0x8000_0001, "unsigned result");
  assert.equal(remote.driverOk(), false);
  const t = setTimeout(() => host.setDriverOk(), 20);
  const status = await remote.waitDriverOk({ deadlineMs: 10_000 });
  clearTimeout(t);
  assert.equal(status, 4);
  assert.equal(shm.u8(PA + 24), 4, "the status byte holds exactly DRIVER_OK");
  assert.equal(shm.u8(PA + 25), 2, "num_of_vrings untouched");
  assert.equal(shm.u16(PA + 26), 0, "reserved untouched");
  assert.throws(() => host.writeGuestFeatures(-1), vErr("VDEV_BAD_ARG"));
  assert.throws(() => host.writeStatus(0x100), vErr("VDEV_BAD_ARG"));
});

Deno.test("vdev: waitDriverOk honours the deadline, abort and FAILED", async () => {
  const shm = table();
  const remote = new SharedVdev(shm, PA, { name: "vdev0" });
  await assert.rejects(
    remote.waitDriverOk({ deadlineMs: 30 }),
    (e: unknown) =>
      e instanceof TimeoutError && e.ms === 30 && /DRIVER_OK on vdev0/.test(e.message),
  );
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 10);
  await assert.rejects(
    remote.waitDriverOk({ deadlineMs: 60_000, signal: ac.signal }),
    (e: unknown) => e instanceof AmpError && e.code === "ABORTED",
  );
  clearTimeout(t);
  new SharedVdev(shm, PA).writeStatus(0x80 | 2);
  await assert.rejects(remote.waitDriverOk({ deadlineMs: 1000 }), vErr("VDEV_FAILED"));
  assert.equal(remote.statusReset(), false, "never saw DRIVER_OK");
});

Deno.test("vdev: the device detects the host resetting status (second session)", async () => {
  const shm = table();
  const host = new SharedVdev(shm, PA);
  const remote = new SharedVdev(shm, PA);
  host.reset();
  assert.equal(remote.statusReset(), false);
  host.setDriverOk();
  await remote.waitDriverOk({ deadlineMs: 1000 });
  assert.equal(remote.statusReset(), false);
  host.reset();
  assert.equal(shm.u8(PA + 24), 0);
  assert.equal(remote.statusReset(), true);
  assert.equal(remote.statusReset(), true, "stays true until DRIVER_OK is seen again");
  host.setDriverOk();
  await remote.waitDriverOk({ deadlineMs: 1000 });
  assert.equal(remote.statusReset(), false);
});

Deno.test("vdev: vrings are read and validated from shared memory", () => {
  const shm = table({ configLen: 8 });
  const v = new SharedVdev(shm, PA);
  assert.deepEqual(v.vrings(), [
    { index: 0, da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 256, notifyid: 0 },
    { index: 1, da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 256, notifyid: 1 },
  ]);
  v.writeVringDa(1, 0x9000_4000);
  assert.equal(shm.u32(PA + 28 + 20), 0x9000_4000);
  assert.equal(v.vrings()[1]!.da, 0x9000_4000);
  assert.throws(() => v.writeVringDa(2, 0), vErr("VDEV_BAD_ARG"));
  assert.throws(() => v.writeVringDa(0, 2 ** 32), vErr("VDEV_BAD_ARG"));
  shm.write(PA + 68, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual([...v.config()], [1, 2, 3, 4, 5, 6, 7, 8]);

  const bad: [string, (s: ReturnType<typeof table>) => void][] = [
    ["VDEV_TOO_MANY_VRINGS", (s) => s.setU8(PA + 25, 3)],
    ["VDEV_TRUNCATED", (s) => s.setU32(PA + 20, 0x200)],
    ["VDEV_TRUNCATED", (s) => s.setU32(PA + 20, 0xffff_ffff)],
    ["VDEV_RESERVED", (s) => s.setU8(PA + 27, 1)],
    ["VDEV_VRING_NUM", (s) => s.setU32(PA + 28 + 8, 0)],
    ["VDEV_VRING_NUM", (s) => s.setU32(PA + 48 + 8, 255)],
    ["VDEV_VRING_NUM", (s) => s.setU32(PA + 48 + 8, 65536)],
    ["VDEV_VRING_ALIGN", (s) => s.setU32(PA + 28 + 4, 0)],
    ["VDEV_VRING_ALIGN", (s) => s.setU32(PA + 28 + 4, 0x1001)],
    ["VDEV_VRING_RESERVED", (s) => s.setU32(PA + 48 + 16, 7)],
  ];
  for (const [code, corrupt] of bad) {
    const s = table();
    const d = new SharedVdev(s, PA);
    corrupt(s);
    assert.throws(() => d.vrings(), vErr(code), code);
  }
  // An entry with no vrings is valid.
  assert.deepEqual(new SharedVdev(table({ nrings: 0 }), PA).vrings(), []);
});

Deno.test("vdev: config() reads config_len once, so a peer changing it cannot widen the copy", () => {
  const shm = table({ configLen: 8 });
  shm.write(PA + 68, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  const v = new SharedVdev(shm, PA);
  // The peer rewrites config_len right after its first read, to a length
  // that would run past the region.
  const u32 = shm.u32.bind(shm);
  let reads = 0;
  shm.u32 = (pa: number) => {
    if (pa !== PA + 20) return u32(pa);
    reads++;
    if (reads === 1) return u32(pa);
    shm.setU32(PA + 20, 0x1000);
    return 0x1000;
  };
  assert.deepEqual([...v.config()], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(reads, 1);
});

Deno.test("vdev: the entry must be inside the region and be a vdev", () => {
  const shm = table();
  assert.throws(
    () => new SharedVdev(shm, BASE + 0x200 - 27),
    (e: unknown) => e instanceof MemoryBoundsError && e.code === "VDEV_OUTSIDE",
  );
  assert.throws(() => new SharedVdev(shm, PA + 4), vErr("VDEV_BAD_TYPE"));
  // Last 28 bytes of the region: the header fits, vrings do not.
  const tail = BASE + 0x200 - 28;
  shm.setU32(tail, RSC_VDEV);
  shm.setU8(tail + 25, 1);
  assert.throws(() => new SharedVdev(shm, tail).vrings(), vErr("VDEV_TRUNCATED"));
  const v = new SharedVdev(shm, PA);
  shm.close();
  assert.throws(() => v.status(), vErr("VDEV_CLOSED"));
  assert.throws(() => v.setDriverOk(), vErr("VDEV_CLOSED"));
});
