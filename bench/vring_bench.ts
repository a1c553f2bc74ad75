/**
 * Split virtqueue throughput: full add → getAvail → putUsed → getUsed cycles
 * between a driver and a device queue over the same heap ring, in one process.
 *
 * Run: `npx deno bench --allow-all bench/vring_bench.ts`. Each bench iteration
 * moves {@linkcode BUFFERS} buffers, so buffers/s = BUFFERS / (time per iteration).
 * The baseline does the same number of ring-slot stores and Atomics index
 * publishes on a bare typed array, to show the cost of the checks.
 *
 * @module
 */

import { heapRegion } from "../lib/mem/region.ts";
import { DeviceQueue } from "../lib/virtio/device_queue.ts";
import { DriverQueue } from "../lib/virtio/driver_queue.ts";

/** Buffers moved per bench iteration. */
export const BUFFERS = 32 * 1024;
const NUM = 256;
const PA = 0x9000_0000;
const BUF_BASE = PA + 0x10000;

function pair() {
  const shm = heapRegion(PA, 0x10000 + NUM * 512);
  const opts = { pa: PA, num: NUM, align: 0x1000 };
  const drv = new DriverQueue(shm, opts);
  const dev = new DeviceQueue(shm, { ...opts, bufferRange: { base: BUF_BASE, size: NUM * 512 } });
  return { drv, dev };
}

function cycles(batch: number) {
  const { drv, dev } = pair();
  return () => {
    let moved = 0;
    while (moved < BUFFERS) {
      for (let i = 0; i < batch; i++) drv.addBuf(BUF_BASE + i * 512, 512, true, i);
      for (let i = 0; i < batch; i++) {
        const h = dev.getAvail();
        dev.putUsed(h, 100);
      }
      for (let i = 0; i < batch; i++) {
        if (drv.getUsed() < 0) throw new Error("lost a buffer");
      }
      moved += batch;
    }
  };
}

Deno.bench({ name: `virtqueue cycle batch 1 (${BUFFERS} buffers)`, group: "vring", fn: cycles(1) });
Deno.bench({
  name: `virtqueue cycle batch 32 (${BUFFERS} buffers)`,
  group: "vring",
  baseline: true,
  fn: cycles(32),
});

// Baseline: per buffer, the same shared-memory traffic without any checks or
// bookkeeping: 5 descriptor stores, 1 avail slot store, 1 avail idx publish,
// 1 avail idx load, 5 descriptor loads, 2 used stores + publish, 1 used idx
// load, 2 used loads.
const raw16 = new Uint16Array(0x2806 >>> 1);
const raw32 = new Uint32Array(raw16.buffer, 0, 0x2806 >>> 2);
Deno.bench({
  name: `raw typed-array loop, same stores (${BUFFERS} buffers)`,
  group: "vring",
  fn: () => {
    let ai = 0, ui = 0, sink = 0;
    for (let k = 0; k < BUFFERS; k++) {
      const d = k & (NUM - 1);
      raw32[d * 4] = BUF_BASE + d * 512;
      raw32[d * 4 + 1] = 0;
      raw32[d * 4 + 2] = 512;
      raw16[d * 8 + 6] = 2;
      raw16[d * 8 + 7] = 0;
      raw16[0x802 + d] = d;
      ai = (ai + 1) & 0xffff;
      Atomics.store(raw16, 0x801, ai);
      sink += Atomics.load(raw16, 0x801);
      sink += raw32[d * 4]! + raw32[d * 4 + 1]! + raw32[d * 4 + 2]! + raw16[d * 8 + 6]! +
        raw16[d * 8 + 7]!;
      raw32[0x801 + d * 2] = d;
      raw32[0x802 + d * 2] = 100;
      ui = (ui + 1) & 0xffff;
      Atomics.store(raw16, 0x1001, ui);
      sink += Atomics.load(raw16, 0x1001) + raw32[0x801 + d * 2]! + raw32[0x802 + d * 2]!;
    }
    if (sink === -1) throw new Error("unreachable");
  },
});
