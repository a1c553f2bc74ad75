/**
 * Batched publication (`stageBuf` / `stageUsed` then one `publish`) and the
 * once-per-batch read of the peer's index: everything is published in order
 * with one index store, nothing staged is visible or returnable early, and a
 * hostile index jump in the middle of a batch still breaks the queue.
 */
import assert from "node:assert/strict";
import { VirtioError } from "../errors.ts";
import { heapRegion } from "../mem/region.ts";
import { DeviceQueue } from "./device_queue.ts";
import { DriverQueue } from "./driver_queue.ts";

const PA = 0x9000_0000;
const NUM = 16;
const o = { pa: PA, num: NUM, align: 0x100 };
const BUF = PA + 0x2000;

function pair() {
  const shm = heapRegion(PA, 0x4000);
  const drv = new DriverQueue(shm, o);
  const dev = new DeviceQueue(shm, { ...o, bufferRange: { base: BUF, size: 0x2000 } });
  const l = drv.layout;
  return {
    shm,
    drv,
    dev,
    availIdx: () => shm.u16(PA + l.avail + 2),
    usedIdx: () => shm.u16(PA + l.used + 2),
    setAvailIdx: (v: number) => shm.setU16(PA + l.avail + 2, v),
    setUsedIdx: (v: number) => shm.setU16(PA + l.used + 2, v),
  };
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof VirtioError) return e.code;
    throw e;
  }
  return "none";
}

Deno.test("driver: a staged batch is invisible until one publish, then arrives whole and in order", () => {
  const { drv, dev, availIdx } = pair();
  const heads: number[] = [];
  for (let i = 0; i < 10; i++) heads.push(drv.stageBuf(BUF + 64 * i, 64, false, 100 + i));
  assert.equal(drv.staged, 10);
  assert.equal(availIdx(), 0, "avail.idx is not written while staging");
  assert.equal(dev.hasAvail(), false);
  assert.equal(dev.getAvail(), -1);
  assert.equal(drv.publish(), 10);
  assert.equal(availIdx(), 10, "one store publishes the batch");
  assert.equal(drv.staged, 0);
  assert.equal(drv.publish(), 0, "nothing left to publish");
  const got: number[] = [];
  for (let h; (h = dev.getAvail()) >= 0;) {
    got.push(h);
    assert.equal(dev.chain[0]!.addr, BUF + 64 * got.length - 64);
  }
  assert.deepEqual(got, heads);
});

Deno.test("driver: addBuf publishes what was staged before it, in order", () => {
  const { drv, dev, availIdx } = pair();
  drv.stageBuf(BUF, 32, false);
  drv.stageBuf(BUF + 32, 32, false);
  const h = drv.addBuf(BUF + 64, 32, false);
  assert.equal(availIdx(), 3);
  assert.deepEqual([dev.getAvail(), dev.getAvail(), dev.getAvail(), dev.getAvail()], [0, 1, h, -1]);
});

Deno.test("driver: a device returning a staged, unpublished head breaks the queue", () => {
  const { shm, drv, setUsedIdx } = pair();
  const h = drv.stageBuf(BUF, 64, true);
  // The hostile device guesses the head and returns it before it was published.
  const e = PA + drv.layout.used + 4;
  shm.setU32(e, h);
  shm.setU32(e + 4, 8);
  setUsedIdx(1);
  assert.equal(code(() => drv.getUsed()), "VQ_USED_ID_NOT_POSTED");
  assert.equal(code(() => drv.publish()), "VQ_USED_ID_NOT_POSTED", "broken stays broken");
});

Deno.test("device: staged used elements are published with one store, in order", () => {
  const { drv, dev, usedIdx } = pair();
  for (let i = 0; i < 8; i++) drv.stageBuf(BUF + 64 * i, 64, true, i);
  drv.publish();
  const heads: number[] = [];
  for (let h; (h = dev.getAvail()) >= 0;) heads.push(h);
  for (const h of heads) dev.stageUsed(h, 10 + h);
  assert.equal(dev.staged, 8);
  assert.equal(usedIdx(), 0, "used.idx is not written while staging");
  assert.equal(drv.getUsed(), -1);
  assert.equal(dev.publish(), 8);
  assert.equal(usedIdx(), 8);
  const back: number[] = [];
  for (let id; (id = drv.getUsed()) >= 0;) {
    back.push(drv.lastToken);
    assert.equal(drv.lastLen, 10 + id);
  }
  assert.deepEqual(back, [0, 1, 2, 3, 4, 5, 6, 7]);
  // stageUsed keeps putUsed's checks.
  assert.equal(code(() => dev.stageUsed(heads[0]!, 1)), "VQ_PUT_NOT_IN_FLIGHT");
});

Deno.test("device: a hostile avail.idx jump in the middle of a batch is still rejected", () => {
  const { drv, dev, setAvailIdx } = pair();
  for (let i = 0; i < 5; i++) drv.stageBuf(BUF + 64 * i, 64, false);
  drv.publish();
  assert.equal(dev.getAvail(), 0);
  assert.equal(dev.getAvail(), 1);
  // The driver now moves avail.idx far past the ring: the entries checked
  // with the first read are still good, the next read of the index is not.
  setAvailIdx(5 + NUM + 3);
  assert.equal(dev.getAvail(), 2);
  assert.equal(dev.getAvail(), 3);
  assert.equal(dev.getAvail(), 4);
  assert.equal(code(() => dev.getAvail()), "VQ_AVAIL_IDX_JUMP");
  assert.equal(code(() => dev.hasAvail()), "VQ_AVAIL_IDX_JUMP", "broken stays broken");
});

Deno.test("driver: a hostile used.idx jump in the middle of a batch is still rejected", () => {
  const { drv, dev, setUsedIdx } = pair();
  for (let i = 0; i < 4; i++) drv.stageBuf(BUF + 64 * i, 64, true);
  drv.publish();
  for (let h; (h = dev.getAvail()) >= 0;) dev.stageUsed(h, 1);
  dev.publish();
  assert.equal(drv.getUsed(), 0);
  setUsedIdx(4 + NUM + 1);
  assert.equal(drv.getUsed(), 1);
  assert.equal(drv.getUsed(), 2);
  assert.equal(drv.getUsed(), 3);
  assert.equal(code(() => drv.getUsed()), "VQ_USED_IDX_JUMP");
});

Deno.test("a head in the batch that is bad is rejected when reached, not hidden by the batch", () => {
  const { shm, drv, dev } = pair();
  for (let i = 0; i < 3; i++) drv.stageBuf(BUF + 64 * i, 64, false);
  drv.publish();
  // The driver rewrites the third slot with an out-of-range head after publishing.
  shm.setU16(PA + drv.layout.avail + 4 + 2 * 2, NUM + 5);
  assert.equal(dev.getAvail(), 0);
  assert.equal(dev.getAvail(), 1);
  assert.equal(code(() => dev.getAvail()), "VQ_AVAIL_HEAD_RANGE");
});

Deno.test("publish after reset publishes nothing from before the reset", () => {
  const { drv, availIdx } = pair();
  drv.stageBuf(BUF, 64, false);
  drv.reset();
  assert.equal(drv.staged, 0);
  assert.equal(drv.publish(), 0);
  assert.equal(availIdx(), 0);
  assert.equal(drv.numFree, NUM);
});

Deno.test("driver: re-posting a descriptor writes what changed and the device sees the new values", () => {
  const { drv, dev } = pair();
  for (const [addr, len] of [[BUF, 64], [BUF, 64], [BUF, 100], [BUF + 0x100, 100], [BUF, 8]]) {
    const h = drv.addBuf(addr!, len!, true);
    assert.equal(h, 0, "the same descriptor comes back each time");
    assert.equal(dev.getAvail(), 0);
    assert.deepEqual([dev.chain[0]!.addr, dev.chain[0]!.len, dev.chain[0]!.writable], [
      addr,
      len,
      true,
    ]);
    dev.putUsed(0, 1);
    assert.equal(drv.getUsed(), 0);
  }
  // Read-only after writable: the flags change too.
  drv.addBuf(BUF, 8, false);
  assert.equal(dev.getAvail(), 0);
  assert.equal(dev.chain[0]!.writable, false);
});
