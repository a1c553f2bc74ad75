import assert from "node:assert/strict";
import { heapRegion } from "../mem/region.ts";
import type { WorkerDeviceStart } from "./_worker_device.ts";
import { DriverQueue } from "./driver_queue.ts";
import { vringLayout } from "./virtqueue.ts";

Deno.test("driver and device in two threads over a SharedArrayBuffer", async () => {
  const base = 0x4000_0000, num = 64, align = 0x1000, count = 100_000;
  const pool = { base: base + 0x4000, size: num * 64 };
  assert.ok(vringLayout(num, align).size <= 0x4000);
  const shm = heapRegion(base, 0x4000 + pool.size, { shared: true });
  const sab = shm.bytes(base, 1).buffer as SharedArrayBuffer;
  const drv = new DriverQueue(shm, { name: "main", pa: base, num, align });
  const worker = new Worker(new URL("./_worker_device.ts", import.meta.url).href, {
    type: "module",
  });
  const result = new Promise<{ done: number; error: string | null }>((resolve) => {
    worker.onmessage = (ev) => resolve(ev.data);
  });
  const deadlineMs = 60_000;
  const start: WorkerDeviceStart = { sab, base, pa: base, num, align, pool, count, deadlineMs };
  worker.postMessage(start);
  try {
    let posted = 0, got = 0, idle = 0;
    const end = performance.now() + deadlineMs;
    while (got < count && performance.now() < end) {
      while (posted < count && drv.numFree > 0) {
        const slot = posted % num;
        assert.ok(drv.addBuf(pool.base + slot * 64, 64, true, posted) >= 0);
        posted++;
      }
      const head = drv.getUsed();
      if (head < 0) {
        // Give the event loop a turn now and then while the worker catches up.
        if (++idle % 1000 === 0) await new Promise((r) => setTimeout(r, 0));
        continue;
      }
      // The device returns in order, so the token is the buffer sequence number.
      assert.equal(drv.lastToken, got);
      assert.equal(drv.lastLen, 4 + (got % 60));
      // The worker's write into the buffer is visible once used.idx is.
      assert.equal(shm.u32(pool.base + (got % num) * 64), (head ^ got) >>> 0);
      got++;
    }
    const r = await result;
    assert.equal(r.error, null);
    assert.equal(r.done, count);
    assert.equal(got, count);
    assert.equal(drv.numFree, num);
  } finally {
    worker.terminate();
  }
});
