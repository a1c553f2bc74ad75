/**
 * The raw limit of a link to amp's demo firmware (examples/firmware/rv64-virt):
 * round trips of one word through its diagnostics block, the host writing
 * PING and the firmware's polling loop copying it to PONG. The firmware
 * answers PING in every loop round, inside a demo too, so measured while its
 * echo demo runs this is what no rpmsg round trip with the same hart, the same
 * loop and the same shared memory can beat. The block is amp-only: a firmware
 * without its magic (the seed's RT-Thread image) has no limit to measure.
 *
 * @module
 */

import { pingPongBursts, type RawLimit } from "../apps/bench.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import type { MemoryRegion } from "../mem/region.ts";

/** The firmware's diagnostics block: u32 PING (host writes), u32 PONG, ..., u32 magic at +0x0C. */
export const FW_DIAG_PING = 0x9000_2000,
  FW_DIAG_PONG = 0x9000_2004,
  FW_DIAG_MAGIC = 0x9000_200c,
  FW_DIAG_MAGIC_VALUE = 0x4650_4d41;

/**
 * The firmware's diagnostics block in `map` when it is mapped and the
 * firmware's magic ("AMPF") is there, else undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { FW_DIAG_MAGIC, FW_DIAG_MAGIC_VALUE, firmwareDiag } from "./diag_ping.ts";
 * const r = heapRegion(0x9000_0000, 0x4000);
 * const map = new MemoryMap([r]);
 * assert.equal(firmwareDiag(map), undefined); // no magic: not amp's firmware
 * r.atomicStoreU32(FW_DIAG_MAGIC, FW_DIAG_MAGIC_VALUE);
 * assert.equal(firmwareDiag(map), r);
 * ```
 */
export function firmwareDiag(map: MemoryMap): MemoryRegion | undefined {
  const r = map.find(FW_DIAG_PING, FW_DIAG_MAGIC + 4 - FW_DIAG_PING);
  return r && r.atomicLoadU32(FW_DIAG_MAGIC) === FW_DIAG_MAGIC_VALUE ? r : undefined;
}

/** Options of {@linkcode firmwarePingPong}. */
export interface FirmwarePingOptions {
  /** Measuring stops after this long even if fewer than `n` round trips were done, ms (default 1000). */
  maxMs?: number;
  /** Longest wait for one PONG, ms (default 5000): then TimeoutError. */
  timeoutMs?: number;
  /** Unmeasured round trips first (default: a tenth of `n`, at most 2000). */
  warmup?: number;
}

/**
 * Up to `n` round trips of the diagnostics word with the firmware: write a
 * new PING, poll PONG until it is the same, as amp's waits poll (spin, then
 * `sched_yield`, then an event-loop turn now and then). `diag` is the region
 * holding the block ({@linkcode firmwareDiag}). TimeoutError when one round
 * trip takes longer than `timeoutMs` (the firmware does not answer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion } from "../mem/region.ts";
 * import { FW_DIAG_PONG, firmwarePingPong } from "./diag_ping.ts";
 * // Nobody answers here: a short timeout ends the wait.
 * const r = heapRegion(0x9000_2000, 0x40);
 * await assert.rejects(firmwarePingPong(r, 10, { timeoutMs: 5, warmup: 0 }), /PONG/);
 * assert.equal(r.atomicLoadU32(FW_DIAG_PONG), 0);
 * ```
 */
export async function firmwarePingPong(
  diag: MemoryRegion,
  n: number,
  options: FirmwarePingOptions = {},
): Promise<RawLimit> {
  const maxMs = options.maxMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const warmup = Math.max(0, Math.floor(options.warmup ?? Math.min(2000, n / 10)));
  let v = diag.atomicLoadU32(FW_DIAG_PONG);
  return await pingPongBursts({
    what: "raw PING/PONG with the firmware's hart (its polled diag word, inside the demo)",
    waiting: "waiting for the firmware's PONG",
    post: () => {
      v = (v + 1) >>> 0 || 1;
      diag.atomicStoreU32(FW_DIAG_PING, v);
    },
    pong: () => diag.atomicLoadU32(FW_DIAG_PONG) === v,
  }, { n, maxMs, warmup, timeoutMs });
}
