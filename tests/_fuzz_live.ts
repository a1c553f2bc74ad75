/**
 * Fuzz targets for the live protocol (`deno task fuzz --target ...`): a
 * hostile peer that writes arbitrary indices, descriptors, flags, lengths,
 * rpmsg headers and name-service messages into a heap-backed shared region,
 * step by step between the operations of amp's own end.
 *
 * - `vring-driver`: amp's {@linkcode DriverQueue} against a hostile device.
 * - `vring-device`: amp's {@linkcode DeviceQueue} against a hostile driver.
 * - `rpmsg`: amp's rpmsg buses (driver and device role) against raw queues
 *   that fill buffers with arbitrary headers and payloads.
 * - `ns`: name-service messages (create/destroy, names, addresses, flags,
 *   lengths) into both buses, past the remote-service limit.
 *
 * Every case is derived from (seed, index) alone. A case fails when amp
 * throws anything but an amp error, when an access through the memory layer
 * falls outside the rings and pool it was given (the region's access
 * observer, {@linkcode observeAccesses}), when a guard byte outside them
 * changes, or when an invariant breaks (a broken queue must stay broken, a
 * returned id must be one posted, a chain must lie in the pool, a delivered
 * payload must lie inside one receive buffer, the service table must stay
 * within its limit).
 *
 * @module
 */

import { isAmpError } from "../lib/errors.ts";
import { heapRegion, hex, type MemoryRegion, observeAccesses } from "../lib/mem/region.ts";
import { InProcessNotifier } from "../lib/notify/in_process.ts";
import {
  createRpmsgDevice,
  encodeNs,
  RPMSG_ADDR_ANY,
  RPMSG_MAX_REMOTE_SERVICES,
  RPMSG_NS_ADDR,
  type RpmsgDevice,
  type RpmsgEndpoint,
  writeHeader,
} from "../lib/rpmsg/mod.ts";
import { DeviceQueue } from "../lib/virtio/device_queue.ts";
import { DriverQueue } from "../lib/virtio/driver_queue.ts";
import type { Virtqueue } from "../lib/virtio/virtqueue.ts";
import { vringLayout } from "../lib/virtio/virtqueue.ts";
import { VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from "../lib/virtio/types.ts";
import { mulberry32, randInt, type Rng } from "../lib/util/random.ts";

/** An invariant amp broke (not an exception amp threw). */
export class InvariantFailure extends Error {
  override name = "InvariantFailure";
}

/** Options of one live case. */
export interface LiveOptions {
  /** Filled with a line per step, for the replay of one case. */
  trace?: string[];
  /** Self-test of the memory check: read one word outside the rings and pool as amp would. */
  oob?: boolean;
}

/** A live target: runs case `index` of run `seed`; returns the amp error codes seen. */
export type LiveTarget = (seed: number, index: number, options?: LiveOptions) => string[];

// ---------------------------------------------------------------------------
// The shared region: guards, two rings, the pool, guards

const SIZE = 0x10000;
const R0 = 0x1000, R1 = 0x4000;
const POOL = { base: 0x8000, size: 0x6000 };
const GUARD = 0xee;
const NUMS = [1, 2, 4, 8, 16, 32, 64, 256] as const;
const ALIGNS = [16, 0x100, 0x1000] as const;

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[randInt(rng, xs.length)]!;
}

function u32(rng: Rng): number {
  return (rng() * 0x1_0000_0000) >>> 0;
}

/** A value biased towards the interesting ones around `near`. */
function around(rng: Rng, near: number, bits: 16 | 32): number {
  const r = rng();
  const max = bits === 16 ? 0xffff : 0xffff_ffff;
  if (r < 0.5) return Math.max(0, Math.min(max, near + randInt(rng, 5) - 2));
  if (r < 0.6) return max;
  if (r < 0.7) return 0;
  return bits === 16 ? randInt(rng, 0x10000) : u32(rng);
}

interface Arena {
  shm: MemoryRegion;
  num: number;
  align: number;
  ranges: [number, number][];
  violation: string | null;
  accesses: number;
  /** Run the hostile peer's own code: its accesses are not amp's and are not checked. */
  peer<T>(f: () => T): T | undefined;
  close(): void;
}

/**
 * A fresh region with guard bytes everywhere but the two rings and the pool,
 * and an access observer that records the first access outside them.
 */
function arena(rng: Rng, oob = false): Arena {
  const num = pick(rng, NUMS);
  const align = pick(rng, ALIGNS);
  const shm = heapRegion(0, SIZE, { name: "fuzz-shm" });
  shm.fill(0, SIZE, GUARD);
  const l = vringLayout(num, align);
  const ranges: [number, number][] = [[R0, l.size], [R1, l.size], [POOL.base, POOL.size]];
  shm.fill(R0, l.size, 0);
  shm.fill(R1, l.size, 0);
  shm.fill(POOL.base, POOL.size, 0);
  const a: Arena = {
    shm,
    num,
    align,
    ranges,
    violation: null,
    accesses: 0,
    peer<T>(f: () => T): T | undefined {
      const prev = observeAccesses(null);
      try {
        return f();
      } catch (e) {
        // The peer's own mistakes (its queue refusing a write) are not amp's.
        if (isAmpError(e)) return undefined;
        throw e;
      } finally {
        observeAccesses(prev);
      }
    },
    close() {
      observeAccesses(null);
      // Guards: nothing outside the rings and the pool may have changed.
      const bytes = shm.bytes(0, SIZE);
      let at = 0;
      for (const [b, n] of [...ranges, [SIZE, 0] as [number, number]]) {
        for (let i = at; i < b; i++) {
          if (bytes[i] !== GUARD && a.violation === null) {
            a.violation = `guard byte at ${hex(i)} changed to ${hex(bytes[i]!)}`;
          }
        }
        at = b + n;
      }
      shm.close();
    },
  };
  observeAccesses((_r, pa, len, write) => {
    a.accesses++;
    for (const [b, n] of ranges) {
      if (pa >= b && len >= 0 && pa + len <= b + n) return;
    }
    if (a.violation === null) {
      a.violation = `${write ? "write" : "read"} [${hex(pa)}, +${hex(len)}) outside the rings ` +
        `and pool`;
    }
  });
  if (oob) shm.u32(POOL.base + POOL.size);
  return a;
}

/** Run `f`; amp errors are recorded, anything else escapes (a failure). */
function amp<T>(codes: string[], what: string, f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isAmpError(e)) {
      codes.push(`${what}:${e.code}`);
      return undefined;
    }
    throw e;
  }
}

function check(cond: boolean, msg: () => string): void {
  if (!cond) throw new InvariantFailure(msg());
}

/** Once broken, a queue stays broken: the operation must throw that same error. */
function stillBroken(vq: Virtqueue, op: () => unknown): void {
  const b = vq.broken;
  if (b === null) return;
  let thrown: unknown = undefined;
  try {
    op();
  } catch (e) {
    thrown = e;
  }
  check(thrown === b, () => `${vq.name} is broken (${b.code}) but an operation did not rethrow it`);
}

/** The hostile peer: arbitrary writes into a ring, as u8/u16/u32 at any offset. */
function scribble(rng: Rng, shm: MemoryRegion, pa: number, size: number, trace?: string[]) {
  const n = 1 + randInt(rng, 4);
  for (let i = 0; i < n; i++) {
    const w = pick(rng, [1, 2, 4] as const);
    const off = randInt(rng, Math.max(1, size - w + 1)) & ~(w - 1);
    const v = u32(rng);
    trace?.push(`peer: u${w * 8} ${hex(v)} at ring+${hex(off)}`);
    if (w === 1) shm.setU8(pa + off, v);
    else if (w === 2) shm.setU16(pa + off, v);
    else shm.setU32(pa + off, v);
  }
}

function finishBus(rig: BusRig, codes: string[]): string[] {
  for (const k of rig.bus.stats.drops.keys()) codes.push(`drop:${k}`);
  return finish(rig.a, codes);
}

function finish(a: Arena, codes: string[]): string[] {
  a.close();
  if (a.violation !== null) throw new InvariantFailure(`memory: ${a.violation}`);
  return codes;
}

function caseRng(seed: number, index: number, salt: number): Rng {
  let h = (seed ^ Math.imul(index + 1, 0x9e37_79b9) ^ Math.imul(salt, 0x27d4_eb2f)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35) >>> 0;
  return mulberry32((h ^ (h >>> 16)) >>> 0);
}

// ---------------------------------------------------------------------------
// vring-driver: amp posts buffers, a hostile device returns what it likes

function vringDriver(seed: number, index: number, o: LiveOptions = {}): string[] {
  const rng = caseRng(seed, index, 1);
  const trace = o.trace;
  const a = arena(rng, o.oob);
  const { shm, num, align } = a;
  const codes: string[] = [];
  const l = vringLayout(num, align);
  const usedIdxPa = R0 + l.used + 2;
  const drv = amp(codes, "new", () => new DriverQueue(shm, { pa: R0, num, align }));
  if (!drv) return finish(a, codes);
  // Model: head -> [token, chain length, writable bytes or -1]
  const posted = new Map<number, [number, number, number]>();
  // Staged (stageBuf) and not yet published: not returnable by the device.
  const staged = new Map<number, [number, number, number]>();
  const publishAll = () => {
    for (const [h, m] of staged) posted.set(h, m);
    staged.clear();
  };
  let peerUsed = 0; // the hostile device's own used.idx
  let token = 1;
  const steps = 1 + randInt(rng, 48);
  for (let s = 0; s < steps; s++) {
    const r = rng();
    if (r < 0.3) {
      const n = rng() < 0.7 ? 1 : 1 + randInt(rng, Math.min(num, 4) + 1);
      const bufs = Array.from({ length: n }, () => ({
        addr: rng() < 0.97
          ? POOL.base + randInt(rng, POOL.size)
          : pick(rng, [-1, 0.5, NaN, 2 ** 53]),
        len: rng() < 0.97 ? randInt(rng, 0x200) : pick(rng, [-1, 2 ** 32, 1.5]),
        writable: rng() < 0.5,
      }));
      const t = token++;
      trace?.push(`amp: add chain of ${n} (token ${t})`);
      const how = n === 1 ? rng() : 1;
      const head = amp(
        codes,
        "add",
        () =>
          how < 0.35
            ? drv.addBuf(bufs[0]!.addr, bufs[0]!.len, bufs[0]!.writable, t)
            : how < 0.7
            ? drv.stageBuf(bufs[0]!.addr, bufs[0]!.len, bufs[0]!.writable, t)
            : drv.addChain(bufs, t),
      );
      stillBroken(drv, () => drv.addBuf(POOL.base, 1, false));
      if (head !== undefined && head >= 0) {
        check(
          head < num && !posted.has(head) && !staged.has(head),
          () => `add returned head ${head}`,
        );
        let w = -1;
        for (const b of bufs) if (b.writable) w = (w < 0 ? 0 : w) + b.len;
        if (how < 0.35 || how >= 0.7) {
          publishAll(); // addBuf and addChain publish what was staged before them
          posted.set(head, [t, n, w]);
        } else staged.set(head, [t, n, w]);
        check(drv.staged === staged.size, () => `staged ${drv.staged}, model ${staged.size}`);
      }
    } else if (r < 0.55) {
      // A plausible used element (a posted head, a length near the posted one) or not;
      // now and then a staged head, which amp must refuse until it is published.
      const heads = [...posted.keys(), ...(rng() < 0.3 ? staged.keys() : [])];
      const id = heads.length > 0 && rng() < 0.8 ? pick(rng, heads) : around(rng, 0, 32);
      const len = around(
        rng,
        heads.length > 0 ? ((posted.get(id) ?? staged.get(id))?.[2] ?? 0) : 0,
        32,
      );
      const e = R0 + l.used + 4 + (peerUsed % num) * 8;
      shm.setU32(e, id);
      shm.setU32(e + 4, len);
      peerUsed = (peerUsed + (rng() < 0.9 ? 1 : randInt(rng, 0x10000))) & 0xffff;
      trace?.push(`peer: used {id ${id}, len ${len}}, used.idx = ${peerUsed}`);
      shm.atomicStoreU16(usedIdxPa, peerUsed);
    } else if (r < 0.75) {
      if (rng() < 0.4) {
        const n = amp(codes, "publish", () => drv.publish());
        if (n !== undefined) {
          check(n === staged.size, () => `publish published ${n}, model ${staged.size}`);
          publishAll();
        }
      }
      const got = amp(codes, "getUsed", () => {
        for (let i = 0; i < num + 2; i++) {
          const id = drv.getUsed();
          if (id < 0) break;
          const m = posted.get(id);
          check(m !== undefined, () => `getUsed returned ${id}, not posted`);
          check(drv.lastToken === m![0], () => `token ${drv.lastToken} for ${id}, posted ${m![0]}`);
          check(
            m![2] < 0 ? drv.lastLen === 0 : drv.lastLen <= m![2],
            () => `lastLen ${drv.lastLen} for ${id}, writable ${m![2]}`,
          );
          posted.delete(id);
          trace?.push(`amp: getUsed -> ${id}, len ${drv.lastLen}`);
        }
        return true;
      });
      if (got === undefined) trace?.push(`amp: getUsed threw ${codes.at(-1)}`);
      stillBroken(drv, () => drv.getUsed());
    } else if (r < 0.9) {
      scribble(rng, shm, R0, l.size, trace);
    } else if (r < 0.95) {
      amp(codes, "flags", () => {
        drv.hasUsed();
        drv.kickNeeded();
        if (rng() < 0.5) drv.enableNotifications();
        else drv.disableNotifications();
      });
    } else {
      trace?.push("amp: reset");
      amp(codes, "reset", () => drv.reset());
      posted.clear();
      staged.clear();
      peerUsed = 0;
    }
    if (drv.broken === null) {
      let inChains = 0;
      for (const [, n] of posted.values()) inChains += n;
      for (const [, n] of staged.values()) inChains += n;
      check(
        drv.numFree + inChains === num,
        () => `numFree ${drv.numFree} + ${inChains} posted or staged != num ${num}`,
      );
    }
  }
  return finish(a, codes);
}

// ---------------------------------------------------------------------------
// vring-device: a hostile driver posts what it likes, amp takes and returns

function vringDevice(seed: number, index: number, o: LiveOptions = {}): string[] {
  const rng = caseRng(seed, index, 2);
  const trace = o.trace;
  const a = arena(rng, o.oob);
  const { shm, num, align } = a;
  const codes: string[] = [];
  const l = vringLayout(num, align);
  const dev = amp(
    codes,
    "new",
    () => new DeviceQueue(shm, { pa: R1, num, align, bufferRange: POOL }),
  );
  if (!dev) return finish(a, codes);
  const inFlight = new Map<number, number>(); // head -> chain bytes
  let peerAvail = 0;
  const steps = 1 + randInt(rng, 48);
  for (let s = 0; s < steps; s++) {
    const r = rng();
    if (r < 0.35) {
      // A chain of descriptors, plausible or not, and an avail entry for it.
      const head = rng() < 0.9 ? randInt(rng, num) : around(rng, num, 16);
      let d = head % num;
      const n = 1 + randInt(rng, 3);
      for (let i = 0; i < n; i++) {
        const p = R1 + 16 * d;
        const addr = rng() < 0.85 ? POOL.base + randInt(rng, POOL.size) : u32(rng);
        shm.setU32(p, addr);
        shm.setU32(p + 4, rng() < 0.95 ? 0 : around(rng, 0x20_0000, 32));
        shm.setU32(p + 8, rng() < 0.8 ? randInt(rng, 0x400) : around(rng, POOL.size, 32));
        const last = i === n - 1;
        const flags = rng() < 0.9
          ? (rng() < 0.5 ? VRING_DESC_F_WRITE : 0) | (last ? 0 : VRING_DESC_F_NEXT)
          : randInt(rng, 0x10000);
        const next = rng() < 0.9 ? randInt(rng, num) : around(rng, num, 16);
        shm.setU16(p + 12, flags);
        shm.setU16(p + 14, next);
        d = next % num;
      }
      shm.setU16(R1 + l.avail + 4 + (peerAvail % num) * 2, head);
      peerAvail = (peerAvail + (rng() < 0.92 ? 1 : randInt(rng, 0x10000))) & 0xffff;
      trace?.push(`peer: chain at head ${head} (${n} desc), avail.idx = ${peerAvail}`);
      shm.atomicStoreU16(R1 + l.avail + 2, peerAvail);
    } else if (r < 0.6) {
      amp(codes, "getAvail", () => {
        for (let i = 0; i < num + 2; i++) {
          const head = dev.getAvail();
          if (head < 0) break;
          check(head < num && !inFlight.has(head), () => `getAvail returned head ${head}`);
          check(
            dev.chainLen >= 1 && dev.chainLen <= num,
            () => `chain of ${dev.chainLen} (num ${num})`,
          );
          let total = 0;
          for (let k = 0; k < dev.chainLen; k++) {
            const b = dev.chain[k]!;
            check(
              b.addr >= POOL.base && b.addr + b.len <= POOL.base + POOL.size,
              () => `chain buffer [${hex(b.addr)}, +${hex(b.len)}) outside the pool`,
            );
            total += b.len;
          }
          inFlight.set(head, total);
          trace?.push(`amp: getAvail -> ${head} (${dev.chainLen} desc, ${total} bytes)`);
        }
      });
      stillBroken(dev, () => dev.getAvail());
    } else if (r < 0.78) {
      const heads = [...inFlight.keys()];
      const head = heads.length > 0 && rng() < 0.85 ? pick(rng, heads) : around(rng, 0, 16);
      const total = inFlight.get(head) ?? 0;
      const len = rng() < 0.85 ? randInt(rng, total + 1) : around(rng, total, 32);
      const stage = rng() < 0.5;
      trace?.push(`amp: ${stage ? "stageUsed" : "putUsed"}(${head}, ${len})`);
      const ok = amp(codes, "putUsed", () => {
        if (stage) dev.stageUsed(head, len);
        else dev.putUsed(head, len);
        return true;
      });
      if (ok) {
        check(inFlight.has(head) && len <= total, () => `putUsed(${head}, ${len}) accepted`);
        inFlight.delete(head);
      }
      stillBroken(dev, () => dev.putUsed(0, 0));
    } else if (r < 0.92) {
      scribble(rng, shm, R1, l.size, trace);
    } else if (r < 0.97) {
      amp(codes, "flags", () => {
        dev.hasAvail();
        dev.publish();
        check(dev.staged === 0, () => `${dev.staged} staged after publish`);
        dev.kickNeeded();
        if (rng() < 0.5) dev.enableNotifications();
        else dev.disableNotifications();
      });
    } else {
      trace?.push("amp: reset");
      amp(codes, "reset", () => dev.reset());
      inFlight.clear();
      peerAvail = 0;
    }
    if (dev.broken === null) {
      check(
        dev.numInFlight === inFlight.size,
        () => `${dev.numInFlight} in flight, model ${inFlight.size}`,
      );
    }
  }
  return finish(a, codes);
}

// ---------------------------------------------------------------------------
// rpmsg and ns: amp's bus in one role, raw queues as the hostile other end

interface BusRig {
  a: Arena;
  bus: RpmsgDevice;
  eps: RpmsgEndpoint[];
  /** Payload views delivered, checked to lie inside one receive buffer. */
  delivered: number;
  /** Deliver one message from the hostile peer; false when it has no buffer to use. */
  inject(
    src: number,
    dst: number,
    hdrLen: number,
    flags: number,
    payload: Uint8Array,
    used: number,
  ): boolean;
  /** The hostile peer drains what amp sent (or posted), returning random lengths. */
  drain(): void;
  rxSize: number;
}

function busRig(rng: Rng, codes: string[], o: LiveOptions): BusRig | undefined {
  const trace = o.trace;
  const a = arena(rng, o.oob);
  const { shm, num, align } = a;
  const [n0, n1] = InProcessNotifier.pair();
  const role = rng() < 0.5 ? "driver" : "device";
  const rxSize = pick(rng, [512, 512, 64, 1024]);
  trace?.push(`rig: amp is the ${role}, num ${num}, align ${align}, buffers ${rxSize}`);
  const bus = amp(codes, "new", () =>
    createRpmsgDevice(
      {
        role,
        region: shm,
        notifier: n0,
        log: () => {},
        vring0: { pa: R0, num, align },
        vring1: { pa: R1, num, align },
        pool: POOL,
        ...(role === "driver" ? { rxBufSize: rxSize, txBufSize: rxSize } : {}),
      } as Parameters<typeof createRpmsgDevice>[0],
    ));
  void n1;
  if (!bus) {
    a.close();
    return undefined;
  }
  const rig: BusRig = {
    a,
    bus,
    eps: [],
    delivered: 0,
    rxSize,
    inject: () => false,
    drain: () => {},
  };
  const pool = shm.bytes(POOL.base, POOL.size);
  const onMessage = (data: Uint8Array) => {
    // The payload must be inside the pool and, on the host, inside one of its RX buffers.
    const off = data.byteOffset - pool.byteOffset;
    check(
      data.buffer === pool.buffer && off >= 16 && off + data.length <= POOL.size,
      () => `payload at pool+${off} (+${data.length}) outside the pool`,
    );
    if (role === "driver") {
      const start = off - (off % rxSize);
      check(
        off - start >= 16 && off + data.length <= start + rxSize,
        () => `payload at pool+${off} (+${data.length}) crosses RX buffer at pool+${start}`,
      );
    }
    rig.delivered++;
  };
  for (let i = 0; i < 1 + randInt(rng, 3); i++) {
    const ep = amp(codes, "ep", () => bus.createEndpoint({ addr: 0x400 + i, onMessage }));
    if (ep) rig.eps.push(ep);
  }
  if (role === "driver") {
    // Hostile device: a device end on each ring.
    const vq0 = new DeviceQueue(shm, { pa: R0, num, align });
    const vq1 = new DeviceQueue(shm, { pa: R1, num, align });
    rig.inject = (src, dst, hdrLen, flags, payload, used) => {
      const head = vq0.getAvail();
      if (head < 0) return false;
      const { addr, len } = vq0.chain[0]!;
      // The peer only writes into the pool itself (its ring may have been scribbled on).
      if (len >= 16 && addr >= POOL.base && addr + len <= POOL.base + POOL.size) {
        const hv = shm.dataView(addr, 16);
        writeHeader(hv, 0, src, dst, hdrLen);
        hv.setUint16(14, flags, true);
        shm.write(addr + 16, payload.subarray(0, Math.min(payload.length, len - 16)));
      }
      vq0.putUsed(head, Math.min(used, 0xffff_ffff));
      if (used > len) {
        // A used length beyond the buffer, written behind the queue's back.
        const l = vringLayout(num, align);
        const e = R0 + l.used + 4 + ((shm.u16(R0 + l.used + 2) - 1) & (num - 1)) * 8;
        shm.setU32(e + 4, used);
      }
      return true;
    };
    rig.drain = () => {
      for (let i = 0; i < num; i++) {
        const h = vq1.getAvail();
        if (h < 0) break;
        vq1.putUsed(h, rng() < 0.9 ? vq1.chain[0]!.len : 0);
      }
    };
  } else {
    // Hostile driver: posts RX buffers on vring0 and messages on vring1.
    const vq0 = new DriverQueue(shm, { pa: R0, num, align });
    const vq1 = new DriverQueue(shm, { pa: R1, num, align });
    let slot = 0;
    const bufAt = () => POOL.base + ((slot++ * rxSize) % (POOL.size - rxSize));
    rig.inject = (src, dst, hdrLen, flags, payload, used) => {
      const addr = rng() < 0.95 ? bufAt() : u32(rng);
      if (addr + 16 <= POOL.base + POOL.size && addr >= POOL.base) {
        const hv = shm.dataView(addr, 16);
        writeHeader(hv, 0, src, dst, hdrLen);
        hv.setUint16(14, flags, true);
        const room = Math.min(payload.length, POOL.base + POOL.size - addr - 16);
        shm.write(addr + 16, payload.subarray(0, room));
      }
      const len = rng() < 0.9 ? Math.min(used, rxSize) : u32(rng);
      return vq1.addBuf(addr, len, rng() < 0.05) >= 0;
    };
    rig.drain = () => {
      while (vq1.getUsed() >= 0) { /* the device handed a message back */ }
      while (vq0.getUsed() >= 0) { /* an RX buffer came back filled */ }
      for (let i = 0; i < 1 + randInt(rng, 4); i++) {
        const r = rng();
        const addr = r < 0.9 ? bufAt() : u32(rng);
        const len = r < 0.8 ? rxSize : u32(rng);
        if (rng() < 0.9) vq0.addBuf(addr, len, rng() < 0.95);
        else vq0.addChain([{ addr, len: 16, writable: true }, { addr, len, writable: true }]);
      }
    };
    amp(codes, "poll", () => bus.poll());
    a.peer(() => rig.drain());
  }
  return rig;
}

function busStep(rig: BusRig, rng: Rng, codes: string[], trace?: string[]): void {
  const { bus, eps } = rig;
  const r = rng();
  if (r < 0.3) {
    amp(codes, "poll", () => bus.poll());
  } else if (r < 0.5 && eps.length > 0) {
    const ep = pick(rng, eps);
    const n = rng() < 0.9 ? randInt(rng, rig.rxSize) : around(rng, rig.rxSize - 16, 32) % 0x20000;
    const dst = rng() < 0.7 ? 0x400 : around(rng, 0x400, 32);
    trace?.push(`amp: trySend ${n} bytes from ${ep.addr} to ${hex(dst)}`);
    amp(codes, "trySend", () => bus.trySend(ep, new Uint8Array(n).fill(0x5a), dst));
  } else if (r < 0.65) {
    rig.a.peer(() => rig.drain());
  } else if (r < 0.75) {
    const l = vringLayout(rig.a.num, rig.a.align);
    rig.a.peer(() => scribble(rng, rig.a.shm, rng() < 0.5 ? R0 : R1, l.size, trace));
  } else if (r < 0.8) {
    // The pool is the peer's too: any bytes anywhere in it.
    const off = randInt(rng, POOL.size - 4);
    rig.a.peer(() => rig.a.shm.setU32(POOL.base + off, u32(rng)));
  } else if (r < 0.83) {
    trace?.push("amp: reset");
    amp(codes, "reset", () => bus.reset());
  }
}

function rpmsgTarget(seed: number, index: number, o: LiveOptions = {}): string[] {
  const rng = caseRng(seed, index, 3);
  const trace = o.trace;
  const codes: string[] = [];
  const rig = busRig(rng, codes, o);
  if (!rig) return codes;
  const steps = 1 + randInt(rng, 40);
  for (let s = 0; s < steps; s++) {
    if (rng() < 0.45) {
      const src = around(rng, 0x500, 32);
      const dst = rng() < 0.7 ? 0x400 + randInt(rng, 3) : around(rng, 0x400, 32);
      const plen = randInt(rng, rig.rxSize);
      const hdrLen = rng() < 0.7 ? plen : around(rng, plen, 16);
      const flags = rng() < 0.8 ? 0 : randInt(rng, 0x10000);
      const used = rng() < 0.7 ? 16 + plen : around(rng, rig.rxSize, 32);
      const payload = new Uint8Array(plen);
      for (let i = 0; i < Math.min(plen, 8); i++) payload[i] = u32(rng);
      trace?.push(
        `peer: msg ${hex(src)} -> ${hex(dst)} hdr.len ${hdrLen} flags ${flags} used ${used}`,
      );
      rig.a.peer(() => rig.inject(src, dst, hdrLen, flags, payload, used));
    } else {
      busStep(rig, rng, codes, trace);
    }
  }
  return finishBus(rig, codes);
}

function nsName(rng: Rng): Uint8Array {
  const r = rng();
  const out = new Uint8Array(32);
  if (r < 0.6) {
    const n = 1 + randInt(rng, 8);
    for (let i = 0; i < n; i++) out[i] = 0x61 + randInt(rng, 4); // few letters: repeats
  } else if (r < 0.85) {
    const n = 1 + randInt(rng, 31);
    for (let i = 0; i < n; i++) out[i] = 1 + randInt(rng, 255); // any bytes, NUL-terminated
  } else {
    for (let i = 0; i < 32; i++) out[i] = 1 + randInt(rng, 255); // no NUL
  }
  return out;
}

function nsTarget(seed: number, index: number, o: LiveOptions = {}): string[] {
  const rng = caseRng(seed, index, 4);
  const trace = o.trace;
  const codes: string[] = [];
  const rig = busRig(rng, codes, o);
  if (!rig) return codes;
  const steps = 1 + randInt(rng, 60);
  if (rng() < 0.03) {
    // A flood of distinct services, past the limit.
    const flood = RPMSG_MAX_REMOTE_SERVICES + 8 + randInt(rng, 32);
    trace?.push(`peer: ${flood} distinct services`);
    for (let i = 0; i < flood; i++) {
      const msg = encodeNs(`svc-${i}`, 0x400 + i, 0);
      rig.a.peer(() => rig.inject(0x400, RPMSG_NS_ADDR, 40, 0, msg, 56));
      if (i % 4 === 3) amp(codes, "poll", () => rig.bus.poll());
      if (i % 8 === 7) rig.a.peer(() => rig.drain());
    }
  }
  for (let s = 0; s < steps; s++) {
    if (rng() < 0.7) {
      const msg = new Uint8Array(40 + (rng() < 0.1 ? randInt(rng, 8) : 0));
      msg.set(encodeNs("x", 0, 0));
      msg.set(nsName(rng), 0);
      const r = rng();
      const addr = r < 0.7 ? 0x400 + randInt(rng, 0x800) : r < 0.8 ? RPMSG_ADDR_ANY : u32(rng);
      const flags = rng() < 0.9 ? randInt(rng, 2) : u32(rng);
      const dv = new DataView(msg.buffer);
      dv.setUint32(32, addr, true);
      dv.setUint32(36, flags, true);
      const len = rng() < 0.85 ? 40 : randInt(rng, 64);
      trace?.push(`peer: ns flags ${flags} addr ${hex(addr)} len ${len}`);
      rig.a.peer(
        () =>
          rig.inject(
            around(rng, 0x400, 32),
            rng() < 0.95 ? RPMSG_NS_ADDR : around(rng, RPMSG_NS_ADDR, 32),
            len,
            0,
            msg,
            16 + len,
          ),
      );
      if (rng() < 0.5) amp(codes, "poll", () => rig.bus.poll());
    } else {
      busStep(rig, rng, codes, trace);
    }
    const n = rig.bus.remoteServices.size;
    check(n <= RPMSG_MAX_REMOTE_SERVICES, () => `${n} remote services kept`);
    for (const [name, addr] of rig.bus.remoteServices) {
      check(
        name.length > 0 && name.length < 32 && addr !== RPMSG_ADDR_ANY,
        () => `service "${name}" at ${hex(addr)} kept`,
      );
    }
  }
  return finishBus(rig, codes);
}

/** The live-protocol targets by name. */
export const LIVE_TARGETS: Readonly<Record<string, LiveTarget>> = {
  "vring-driver": vringDriver,
  "vring-device": vringDevice,
  "rpmsg": rpmsgTarget,
  "ns": nsTarget,
};
