/**
 * Test helper: a virtqueue device running in a Worker over a shared region.
 * For every chain it takes it writes `head ^ counter` as a u32 at the start of
 * the first buffer and returns it with length 4 + (counter % 60). Stops after
 * `count` buffers or at the deadline, then posts the number it handled.
 *
 * @module
 */

import { MemoryRegion } from "../mem/region.ts";
import { DeviceQueue } from "./device_queue.ts";

/** Message that starts the device. */
export interface WorkerDeviceStart {
  sab: SharedArrayBuffer;
  base: number;
  pa: number;
  num: number;
  align: number;
  pool: { base: number; size: number };
  count: number;
  deadlineMs: number;
}

/** The worker global scope, typed for what this helper uses. */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<WorkerDeviceStart>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (ev: MessageEvent<WorkerDeviceStart>) => {
  const m = ev.data;
  const shm = new MemoryRegion(m.base, m.sab);
  const q = new DeviceQueue(shm, {
    name: "worker",
    pa: m.pa,
    num: m.num,
    align: m.align,
    bufferRange: m.pool,
  });
  const end = performance.now() + m.deadlineMs;
  let done = 0;
  let error: string | null = null;
  try {
    while (done < m.count && performance.now() < end) {
      const head = q.getAvail();
      if (head < 0) continue;
      const b = q.chain[0]!;
      shm.setU32(b.addr, (head ^ done) >>> 0);
      q.putUsed(head, 4 + (done % 60));
      done++;
    }
  } catch (e) {
    error = String(e);
  }
  scope.postMessage({ done, error });
};
