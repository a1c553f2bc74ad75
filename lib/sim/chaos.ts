/**
 * A hostile remote on purpose: the simulated core's chaos mode (`amp load FW
 * 1 --machine sim --chaos SEED`). During some host sessions (chosen by the
 * seed) it corrupts, at random moments, what a remote controls or can
 * scribble on: the used ring's index and elements, the rpmsg headers of the
 * buffers it hands back, malformed name-service messages, the resource
 * table and the vdev status, and the driver's descriptor table. A host must
 * report the broken ring or message, never hang, never touch memory outside
 * its regions, and work again after the next session's reset (the simulated
 * core publishes its table again when a session ends, as a restarted remote
 * application would).
 *
 * @module
 */

import type { MachineProfile } from "../machine/types.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import type { MemoryRegion } from "../mem/region.ts";
import { RPMSG_NS_ADDR } from "../rpmsg/mod.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../rpmsg/mod.ts";
import { VIRTIO_ID_RPMSG } from "../rsc/layout.ts";
import { parseResourceTable, resourceTableExtent } from "../rsc/table.ts";
import { sleep } from "../util/wait.ts";
import { vringLayout } from "../virtio/virtqueue.ts";

/** The faults chaos injects. */
export const CHAOS_FAULTS = [
  "used-idx-jump",
  "used-id-range",
  "used-id-twice",
  "used-len",
  "rpmsg-header",
  "ns-malformed",
  "status-flip",
  "table-scribble",
  "desc-scribble",
] as const;

/** One chaos fault. */
export type ChaosFault = typeof CHAOS_FAULTS[number];

/** Options of {@linkcode Chaos}. */
export interface ChaosOptions {
  /** Seed of every random choice (same seed, same schedule). */
  seed: number;
  /** Mean time between two faults during a chaotic session, ms (default 30). */
  meanMs?: number;
  /** Share of host sessions that get chaos, 0..1 (default 0.5). */
  odds?: number;
  /** One line per fault injected. */
  log?: (line: string) => void;
}

/** A small seeded generator (xorshift32). */
class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = (seed >>> 0) || 0x9e37_79b9;
  }
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return this.#s;
  }
  below(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
}

interface Ring {
  pa: number;
  num: number;
  availAt: number;
  usedAt: number;
}

/**
 * The chaos agent of one simulated core.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CHAOS_FAULTS } from "./chaos.ts";
 * assert(CHAOS_FAULTS.includes("used-idx-jump"));
 * ```
 */
export class Chaos {
  readonly #memory: MemoryMap;
  readonly #profile: MachineProfile;
  readonly #device: RpmsgDevice;
  readonly #rng: Rng;
  readonly #meanMs: number;
  readonly #odds: number;
  readonly #log: (line: string) => void;
  #run: AbortController | undefined;
  #ep: RpmsgEndpoint | undefined;
  /** Faults injected so far, by kind. */
  readonly injected = new Map<ChaosFault, number>();

  /** Chaos over `memory` of `profile`, talking through `device` (for malformed messages). */
  constructor(memory: MemoryMap, profile: MachineProfile, device: RpmsgDevice, o: ChaosOptions) {
    this.#memory = memory;
    this.#profile = profile;
    this.#device = device;
    this.#rng = new Rng(o.seed);
    this.#meanMs = o.meanMs ?? 30;
    this.#odds = o.odds ?? 0.5;
    this.#log = o.log ?? (() => {});
  }

  /** A host session started: maybe make it chaotic. */
  sessionStarted(n: number): void {
    this.#stop();
    if (!this.#rng.chance(this.#odds)) {
      this.#log(`chaos: session ${n} left alone`);
      return;
    }
    this.#log(`chaos: session ${n} gets faults (about one every ${this.#meanMs} ms)`);
    const run = new AbortController();
    this.#run = run;
    this.#loop(run.signal).catch((e) => this.#log(`chaos: stopped: ${(e as Error).message}`));
  }

  /** The session ended: stop injecting. */
  sessionEnded(): void {
    this.#stop();
  }

  /** Stop for good. */
  close(): void {
    this.#stop();
  }

  #stop(): void {
    this.#run?.abort();
    this.#run = undefined;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // Exponential gaps around the mean, at least 1 ms.
      const gap = Math.max(1, -Math.log(1 - this.#rng.next() / 0x1_0000_0001) * this.#meanMs);
      await sleep(gap, signal);
      if (signal.aborted) return;
      const fault = CHAOS_FAULTS[this.#rng.below(CHAOS_FAULTS.length)]!;
      if (this.#inject(fault)) {
        this.injected.set(fault, (this.injected.get(fault) ?? 0) + 1);
        this.#log(`chaos: ${fault}`);
      }
    }
  }

  /** The live vrings as the host wrote them (undefined while the table is not usable). */
  #rings(): { shm: MemoryRegion; rings: [Ring, Ring]; vdevAt: number } | undefined {
    const { pa, size } = this.#profile.layout.rscTable;
    const region = this.#memory.get(pa, size);
    try {
      const raw = region.read(pa, size);
      const t = parseResourceTable(raw.subarray(0, resourceTableExtent(parseResourceTable(raw))));
      const v = t.entries.find((e) => e.kind === "vdev" && e.id === VIRTIO_ID_RPMSG);
      if (!v || v.kind !== "vdev" || v.vrings.length !== 2) return undefined;
      const rings = v.vrings.map((r) => {
        const l = vringLayout(r.num, r.align, r.da);
        return { pa: r.da, num: r.num, availAt: r.da + l.avail, usedAt: r.da + l.used };
      }) as [Ring, Ring];
      const lo = Math.min(rings[0].pa, rings[1].pa);
      const hi = Math.max(...rings.map((r) => r.usedAt + 4 + 8 * r.num + 2));
      const shm = this.#memory.find(lo, hi - lo);
      return shm ? { shm, rings, vdevAt: pa + v.offset } : undefined;
    } catch {
      return undefined;
    }
  }

  #inject(fault: ChaosFault): boolean {
    const live = this.#rings();
    if (!live) return false;
    const { shm, rings: [r0], vdevAt } = live;
    const rng = this.#rng;
    const idx = shm.u16(r0.usedAt + 2);
    const slot = (i: number) => r0.usedAt + 4 + 8 * (i & (r0.num - 1));
    const publish = (id: number, len: number) => {
      shm.setU32(slot(idx), id);
      shm.setU32(slot(idx) + 4, len);
      shm.atomicStoreU16(r0.usedAt + 2, (idx + 1) & 0xffff);
    };
    switch (fault) {
      case "used-idx-jump":
        shm.atomicStoreU16(r0.usedAt + 2, (idx + r0.num + 1 + rng.below(1000)) & 0xffff);
        return true;
      case "used-id-range":
        publish(r0.num + rng.below(0x1_0000), 0);
        return true;
      case "used-id-twice":
        publish(shm.u32(slot(idx - 1)), 16);
        return true;
      case "used-len": {
        const head = shm.u16(r0.availAt + 4 + 2 * ((idx + rng.below(4)) & (r0.num - 1)));
        publish(head, 0xffff_ff00 + rng.below(0x100));
        return true;
      }
      case "rpmsg-header": {
        // The buffer most recently handed back: its header's length field, or its dst.
        const head = shm.u32(slot(idx - 1));
        if (head >= r0.num) return false;
        const addr = shm.u32(r0.pa + 16 * head) + shm.u32(r0.pa + 16 * head + 4) * 2 ** 32;
        const buf = this.#memory.find(addr, 16);
        if (!buf) return false;
        if (rng.chance(0.5)) buf.setU16(addr + 12, 0xffff - rng.below(100));
        else buf.setU32(addr + 4, 0x7000_0000 + rng.below(1000));
        return true;
      }
      case "ns-malformed": {
        this.#ep ??= this.#device.createEndpoint({ onMessage: () => {} });
        const len = rng.chance(0.5) ? 39 : 40;
        const msg = new Uint8Array(len).fill(0x41); // no NUL in the name
        if (len === 40) new DataView(msg.buffer).setUint32(36, 7, true); // flags 7: neither
        try {
          return this.#device.trySend(this.#ep, msg, RPMSG_NS_ADDR);
        } catch {
          return false;
        }
      }
      case "status-flip": {
        const at = vdevAt + 24;
        const region = this.#memory.get(at, 1);
        // Garbage in the status byte, but never DRIVER_OK itself: the host's
        // reset (status 0) is how this remote learns that the session is over.
        const bits = [0x01, 0x02, 0x08, 0x10, 0x20, 0x40, 0x80];
        region.setU8(at, region.u8(at) ^ bits[rng.below(bits.length)]!);
        return true;
      }
      case "table-scribble": {
        const { pa } = this.#profile.layout.rscTable;
        const region = this.#memory.get(pa, 16);
        region.setU32(pa + 4 * rng.below(4), rng.next());
        return true;
      }
      case "desc-scribble": {
        const ring = live.rings[rng.below(2)]!;
        const d = ring.pa + 16 * rng.below(ring.num);
        shm.setU32(d, rng.next());
        shm.setU32(d + 4, rng.next());
        shm.setU32(d + 8, rng.next());
        return true;
      }
    }
  }
}
