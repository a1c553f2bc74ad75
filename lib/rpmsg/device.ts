/**
 * An rpmsg bus over two virtio split vrings in shared memory
 * (openamp-wire.md section 4), in either role: the host (virtio driver, owns
 * the buffer pool) or the remote (virtio device).
 *
 * @module
 */

import { ConfigError, RpmsgError, TimeoutError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import type { Notifier } from "../notify/types.ts";
import { VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import { waitUntil, yieldTurn } from "../util/wait.ts";
import type { DeviceQueue } from "../virtio/device_queue.ts";
import type { DriverQueue } from "../virtio/driver_queue.ts";
import type { Virtqueue } from "../virtio/virtqueue.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import {
  AddressBitmap,
  decodeNs,
  encodeNs,
  RPMSG_ADDR_ANY,
  RPMSG_DEFAULT_BUF_SIZE,
  RPMSG_HDR_SIZE,
  RPMSG_NS_ADDR,
  RPMSG_NS_CREATE,
  RPMSG_NS_DESTROY,
} from "./_wire.ts";

/**
 * Transitional (until the bus is split by role): a queue of either end; each
 * instance uses only its own role's operations.
 */
type RoleQueue = Virtqueue & Omit<DriverQueue, "role"> & Omit<DeviceQueue, "role">;

/** Which side of the rpmsg link this is. The host is the virtio driver. */
export type RpmsgRole = "driver" | "device";

/** Message callback: `data` is a zero-copy view valid only during the call (see `holdRx`). */
export type RpmsgCallback = (data: Uint8Array, src: number, ep: RpmsgEndpoint) => void;

/** Traffic counters (per endpoint and per device). */
export interface RpmsgCounters {
  /** Messages received and delivered. */
  rxMessages: number;
  /** Payload bytes received and delivered. */
  rxBytes: number;
  /** Messages sent. */
  txMessages: number;
  /** Payload bytes sent. */
  txBytes: number;
  /** Dropped received messages or buffers, by reason code (e.g. `RPMSG_BAD_HDR_LEN`). */
  drops: Map<string, number>;
}

/** Device-level counters. */
export interface RpmsgDeviceCounters extends RpmsgCounters {
  /** Notifications sent to the peer. */
  kicks: number;
  /** Name-service CREATE messages received and accepted. */
  nsCreate: number;
  /** Name-service DESTROY messages received and accepted. */
  nsDestroy: number;
  /** Re-initialisations (reset) so far. */
  resets: number;
}

/** The buffer pool inside the region. */
export interface RpmsgPool {
  /** Physical address of the first buffer byte. */
  base: number;
  /** Size of the pool in bytes. */
  size: number;
}

/** Options for {@linkcode RpmsgDevice}. */
export interface RpmsgDeviceOptions {
  /** `driver` for the host, `device` for the remote. */
  role: RpmsgRole;
  /** Shared memory holding the buffer pool. */
  region: MemoryRegion;
  /** vring0 (device -> driver) and vring1 (driver -> device), built for this role. */
  vrings: readonly [DriverQueue, DriverQueue] | readonly [DeviceQueue, DeviceQueue];
  /** The buffer pool: the driver splits it; the device accepts only buffers inside it. */
  pool: RpmsgPool;
  /** Kicks the peer and wakes {@linkcode RpmsgDevice.run}. */
  notifier: Notifier;
  /** Negotiated virtio features (default: name service on). */
  features?: number;
  /** Notify ids passed to `notifier.notify` for vring0 and vring1 (default [0, 1]). */
  notifyIds?: readonly [number, number];
  /** Driver: size of the buffers the device writes (vring0), default 512. */
  rxBufSize?: number;
  /** Driver: size of the buffers the driver writes (vring1), default 512. */
  txBufSize?: number;
  /**
   * Device: used length reported for filled vring0 buffers: the full buffer
   * (default, as upstream) or only the message (header + payload).
   */
  usedLength?: "buffer" | "message";
  /** A name-service CREATE for a name no local endpoint waits for. */
  onBind?: (name: string, addr: number) => void;
  /** A name-service DESTROY for a name no local endpoint was bound to. */
  onUnbind?: (name: string, addr: number) => void;
  /** Where warnings go (rate-limited per reason); default `console.warn`. */
  log?: (message: string) => void;
  /** Number of dynamic addresses from 1024 (default 1024). */
  dynamicAddresses?: number;
  /**
   * After traffic, how long waits ({@linkcode RpmsgDevice.waitForWork},
   * {@linkcode RpmsgDevice.run}) keep spinning and yielding before they sleep,
   * in ms (default 5): back-to-back messages are picked up in µs, an idle bus
   * costs next to no CPU.
   */
  activeWindowMs?: number;
}

/** Options for {@linkcode RpmsgDevice.createEndpoint}. */
export interface RpmsgEndpointOptions {
  /** Service name (at most 31 UTF-8 bytes); "" for an unnamed endpoint. */
  name?: string;
  /** Local address; default ANY = allocated from 1024 up. */
  addr?: number;
  /** Remote address; default ANY = learned from name service or the first message. */
  dst?: number;
  /** Called from poll for every message to this endpoint. */
  onMessage: RpmsgCallback;
  /** Called when the peer destroys the service this endpoint was bound to. */
  onUnbind?: (ep: RpmsgEndpoint) => void;
  /** Announce the endpoint through name service (default true when NS is negotiated). */
  announce?: boolean;
}

/** Options for {@linkcode RpmsgDevice.waitForWork}. */
export interface RpmsgWaitOptions {
  /** Longest wait in ms. */
  deadlineMs: number;
  /** Stops the wait (resolves false). */
  signal?: AbortSignal;
  /** Extra wake-up condition (cheap, no throw). */
  until?: () => boolean;
}

/** Options for {@linkcode RpmsgDevice.run}. */
export interface RpmsgRunOptions {
  /** Stops the run loop. */
  signal?: AbortSignal;
  /** Longest single idle wait in ms before looping again (default 100). */
  idleMs?: number;
  /** Checked every round; the loop returns when it is true (e.g. "the host reset the vdev"). */
  stop?: () => boolean;
  /** Extra work done before every poll (e.g. flushing an application queue); returns items handled. */
  onPoll?: () => number;
  /** Extra wake-up condition for idle waits (e.g. "a queued reply can go now"). Cheap, no throw. */
  until?: () => boolean;
}

/** Options for blocking sends. */
export interface RpmsgSendOptions {
  /** How long to retry while no TX buffer is free, in ms (default 15000). */
  deadlineMs?: number;
  /** Abort the retries (the send then fails with RPMSG_NO_BUFFER). */
  signal?: AbortSignal;
}

/** A TX buffer taken with {@linkcode RpmsgDevice.getTxBuffer}. */
export interface RpmsgTxBuffer {
  /** Zero-copy view of the payload area; write the message here. */
  readonly payload: Uint8Array;
}

/** A received buffer kept past its callback with {@linkcode RpmsgDevice.holdRx}. */
export interface RpmsgRxHandle {
  /** The message payload (zero-copy, valid until released). */
  readonly data: Uint8Array;
}

class TxBuf implements RpmsgTxBuffer {
  payload: Uint8Array;
  /** driver: TX buffer index; device: vring0 head. */
  id: number;
  off: number; // pool offset of the buffer
  len: number; // buffer length
  gen: number;
  live = true;
  constructor(payload: Uint8Array, id: number, off: number, len: number, gen: number) {
    this.payload = payload;
    this.id = id;
    this.off = off;
    this.len = len;
    this.gen = gen;
  }
}

class RxHandle implements RpmsgRxHandle {
  data: Uint8Array;
  id: number;
  off: number;
  len: number;
  gen: number;
  live = true;
  constructor(data: Uint8Array, id: number, off: number, len: number, gen: number) {
    this.data = data;
    this.id = id;
    this.off = off;
    this.len = len;
    this.gen = gen;
  }
}

function counters(): RpmsgCounters {
  return { rxMessages: 0, rxBytes: 0, txMessages: 0, txBytes: 0, drops: new Map() };
}

function bump(m: Map<string, number>, reason: string): void {
  m.set(reason, (m.get(reason) ?? 0) + 1);
}

let setDst: (ep: RpmsgEndpoint, dst: number) => void;
let markDestroyed: (ep: RpmsgEndpoint) => void;

/**
 * A local rpmsg endpoint. Created by {@linkcode RpmsgDevice.createEndpoint}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RpmsgDevice } from "./device.ts";
 * import { DeviceQueue, DriverQueue } from "../virtio/mod.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/in_process.ts";
 * const shm = heapRegion(0, 0x10000);
 * const [nh, nr] = InProcessNotifier.pair();
 * const o = (pa: number) => ({ pa, num: 8, align: 0x100 });
 * const pool = { base: 0x4000, size: 0x2000 };
 * const host = new RpmsgDevice({ role: "driver", region: shm, vrings: [new DriverQueue(shm, o(0)), new DriverQueue(shm, o(0x1000))], pool, notifier: nh });
 * const remote = new RpmsgDevice({ role: "device", region: shm, vrings: [new DeviceQueue(shm, o(0)), new DeviceQueue(shm, o(0x1000))], pool, notifier: nr });
 * const got: string[] = [];
 * remote.createEndpoint({ name: "echo", onMessage: (d, src, ep) => ep.trySend(d) });
 * const ep = host.createEndpoint({ name: "echo", onMessage: (d) => got.push(new TextDecoder().decode(d)) });
 * remote.poll(); host.poll(); // name service binds both sides
 * assert(ep.ready);
 * ep.trySend(new TextEncoder().encode("hi"));
 * remote.poll(); host.poll();
 * assert(got[0] === "hi");
 * ```
 */
export class RpmsgEndpoint {
  /** The bus this endpoint lives on. */
  readonly device: RpmsgDevice;
  /** Service name ("" if none). */
  readonly name: string;
  /** Local address. */
  readonly addr: number;
  /** Counters for this endpoint. */
  readonly stats: RpmsgCounters = counters();
  /** @internal message callback */
  readonly onMessage: RpmsgCallback;
  /** @internal unbind callback */
  readonly onUnbind: ((ep: RpmsgEndpoint) => void) | undefined;
  /** @internal whether to announce */
  readonly announce: boolean;
  /** @internal dst given at creation (restored on reset) */
  readonly initialDst: number;
  #dst: number;
  #destroyed = false;

  static {
    setDst = (ep, dst) => {
      ep.#dst = dst;
    };
    markDestroyed = (ep) => {
      ep.#destroyed = true;
    };
  }

  /** @internal use {@linkcode RpmsgDevice.createEndpoint} */
  constructor(device: RpmsgDevice, addr: number, o: RpmsgEndpointOptions) {
    this.device = device;
    this.name = o.name ?? "";
    this.addr = addr;
    this.#dst = o.dst ?? RPMSG_ADDR_ANY;
    this.initialDst = this.#dst;
    this.onMessage = o.onMessage;
    this.onUnbind = o.onUnbind;
    this.announce = o.announce ?? true;
  }

  /** Remote address, or ANY (0xffffffff) while unbound. */
  get dst(): number {
    return this.#dst;
  }
  /** True when the remote address is known. */
  get ready(): boolean {
    return this.#dst !== RPMSG_ADDR_ANY && !this.#destroyed;
  }
  /** True after {@linkcode destroy}. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Wait until the endpoint is bound (polling the bus); TimeoutError at the deadline. */
  waitReady(options: { deadlineMs: number; signal?: AbortSignal }): Promise<void> {
    return this.device.waitReady(this, options);
  }
  /** Send to `dst` (blocking while no buffer is free); see {@linkcode RpmsgDevice.send}. */
  send(data: Uint8Array, options?: RpmsgSendOptions): Promise<void> {
    return this.device.send(this, data, options);
  }
  /** Send to `dst` if a buffer is free; false otherwise. */
  trySend(data: Uint8Array): boolean {
    return this.device.trySend(this, data);
  }
  /** Send to an explicit destination address. */
  sendTo(dst: number, data: Uint8Array, options?: RpmsgSendOptions): Promise<void> {
    return this.device.sendTo(this, dst, data, options);
  }
  /** Remove the endpoint (announces DESTROY when it was announced). */
  destroy(): void {
    this.device.destroyEndpoint(this);
  }
}

const NO_LOG_WINDOW_MS = 1000;
/** Allocation-free ring checks at the start of a busy {@linkcode RpmsgDevice.waitForWork}, ms. */
const FAST_SPIN_MS = 0.05;

/**
 * An rpmsg bus over virtio, as host (driver) or remote (device).
 *
 * All processing is synchronous in {@linkcode poll}; callbacks run from it.
 * {@linkcode run} loops poll with {@linkcode waitForWork} in between.
 *
 * The device role touches nothing in the rings until a session starts: before
 * its first {@linkcode reset} (which the remote calls when it sees the host's
 * DRIVER_OK) the rings may hold anything, e.g. a stale earlier run. Until then
 * name-service announcements of new endpoints are queued (and sent by the
 * reset), {@linkcode hasWork} is false and nothing is read or written. Only an
 * explicit {@linkcode poll}, send or {@linkcode getTxBuffer} by the owner
 * starts using the rings without a reset (in-process setups where the driver
 * was built first).
 *
 * Drop reasons counted in `stats.drops` (and per endpoint where one is known):
 * `RPMSG_BAD_USED_LEN`, `RPMSG_SHORT_BUFFER`, `RPMSG_BAD_HDR_LEN`,
 * `RPMSG_UNKNOWN_DST`, `RPMSG_NS_BAD_LENGTH`, `RPMSG_NS_NAME_UNTERMINATED`,
 * `RPMSG_NS_BAD_FLAGS`, `RPMSG_NS_BAD_ADDR`, `RPMSG_DESC_OUTSIDE_POOL`,
 * `RPMSG_DESC_BAD_FLAGS`, `RPMSG_DESC_CHAIN`, `RPMSG_CALLBACK_ERROR`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RpmsgDevice } from "./device.ts";
 * import { DeviceQueue, DriverQueue } from "../virtio/mod.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/in_process.ts";
 * const shm = heapRegion(0, 0x10000);
 * const [nh, nr] = InProcessNotifier.pair();
 * const o = (pa: number) => ({ pa, num: 8, align: 0x100 });
 * const pool = { base: 0x4000, size: 0x2000 };
 * const host = new RpmsgDevice({ role: "driver", region: shm, vrings: [new DriverQueue(shm, o(0)), new DriverQueue(shm, o(0x1000))], pool, notifier: nh });
 * const remote = new RpmsgDevice({ role: "device", region: shm, vrings: [new DeviceQueue(shm, o(0)), new DeviceQueue(shm, o(0x1000))], pool, notifier: nr });
 * assert(host.rxBuffers === 8 && host.txBuffers === 8 && host.maxPayload === 496);
 * const ep = host.createEndpoint({ addr: 1024, dst: 1024, onMessage: () => {} });
 * let got = 0;
 * remote.createEndpoint({ addr: 1024, onMessage: (d) => (got = d.length) });
 * assert(ep.trySend(new Uint8Array(10)));
 * assert(remote.poll() === 1 && got === 10);
 * ```
 */
export class RpmsgDevice {
  /** This side's role. */
  readonly role: RpmsgRole;
  /** Device-level counters. */
  readonly stats: RpmsgDeviceCounters = {
    ...counters(),
    kicks: 0,
    nsCreate: 0,
    nsDestroy: 0,
    resets: 0,
  };

  readonly #region: MemoryRegion;
  readonly #vq0: RoleQueue;
  readonly #vq1: RoleQueue;
  readonly #pool: RpmsgPool;
  readonly #poolEnd: number;
  readonly #notifier: Notifier;
  readonly #notifyId0: number;
  readonly #notifyId1: number;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #driver: boolean;
  readonly #log: (m: string) => void;
  readonly #onBind: ((name: string, addr: number) => void) | undefined;
  readonly #onUnbind: ((name: string, addr: number) => void) | undefined;
  readonly #fullUsed: boolean;
  #features: number;
  #ns: boolean;

  // driver layout
  readonly #rxSz: number;
  readonly #txSz: number;
  readonly #nRx: number;
  readonly #nTx: number;
  readonly #txOff: number; // pool offset of TX buffer 0
  #txFree: Int32Array;
  #txFreeTop = 0;

  // device: vring0 buffers taken but not used yet (LIFO)
  #stashHead: number[] = [];
  #stashOff: number[] = [];
  #stashLen: number[] = [];
  #learnedTxLen = RPMSG_DEFAULT_BUF_SIZE;

  readonly #eps = new Map<number, RpmsgEndpoint>();
  readonly #services = new Map<string, number>();
  readonly #addrs: AddressBitmap;
  #pendingNs: { src: number; msg: Uint8Array }[] = [];
  #gen = 0;
  #closed = false;
  #polling = false;
  /** Device role: the rings may be used (a session started, or the owner polled or sent). */
  #live: boolean;
  readonly #activeWindowMs: number;
  #lastActive = -Infinity;
  #held = false;
  #curId = -1;
  #curOff = 0;
  #curLen = 0;
  #curData: Uint8Array | null = null;
  readonly #lastWarn = new Map<string, { at: number; suppressed: number }>();

  /** Set up the bus. The driver posts all RX buffers on vring0 at once. */
  constructor(options: RpmsgDeviceOptions) {
    const { role, region, pool } = options;
    if (role !== "driver" && role !== "device") {
      throw new ConfigError("RPMSG_BAD_ROLE", `rpmsg role ${String(role)} is not driver or device`);
    }
    const [vq0, vq1] = options.vrings;
    for (const [i, vq] of [[0, vq0], [1, vq1]] as const) {
      if (vq.role !== role) {
        throw new ConfigError(
          "RPMSG_VQ_ROLE",
          `rpmsg ${role}: vring${i} (${vq.name}) was built for the ${vq.role} role`,
        );
      }
    }
    if (
      !Number.isSafeInteger(pool.base) || !Number.isSafeInteger(pool.size) || pool.size <= 0 ||
      !region.contains(pool.base, pool.size)
    ) {
      throw new ConfigError(
        "RPMSG_BAD_POOL",
        `rpmsg buffer pool [${hex(pool.base)}, +${
          hex(pool.size)
        }) is not inside region ${region.name} [${hex(region.base)}, +${hex(region.size)})`,
      );
    }
    this.role = role;
    this.#driver = role === "driver";
    this.#region = region;
    this.#vq0 = vq0 as unknown as RoleQueue;
    this.#vq1 = vq1 as unknown as RoleQueue;
    this.#pool = { base: pool.base, size: pool.size };
    this.#poolEnd = pool.base + pool.size;
    this.#notifier = options.notifier;
    this.#notifyId0 = options.notifyIds?.[0] ?? 0;
    this.#notifyId1 = options.notifyIds?.[1] ?? 1;
    this.#bytes = region.bytes(pool.base, pool.size);
    this.#view = region.dataView(pool.base, pool.size);
    this.#log = options.log ?? ((m) => console.warn(m));
    this.#onBind = options.onBind;
    this.#onUnbind = options.onUnbind;
    this.#fullUsed = (options.usedLength ?? "buffer") === "buffer";
    this.#features = options.features ?? VIRTIO_RPMSG_F_NS;
    this.#ns = (this.#features & VIRTIO_RPMSG_F_NS) !== 0;
    this.#addrs = new AddressBitmap(options.dynamicAddresses ?? 1024);
    this.#live = this.#driver;
    const win = options.activeWindowMs ?? 5;
    if (!Number.isFinite(win) || win < 0) {
      throw new ConfigError(
        "RPMSG_BAD_WINDOW",
        `rpmsg activeWindowMs ${win} is not a finite ms >= 0`,
      );
    }
    this.#activeWindowMs = win;

    const rxSz = options.rxBufSize ?? RPMSG_DEFAULT_BUF_SIZE;
    const txSz = options.txBufSize ?? RPMSG_DEFAULT_BUF_SIZE;
    for (const [what, v] of [["rxBufSize", rxSz], ["txBufSize", txSz]] as const) {
      if (!Number.isSafeInteger(v) || v <= RPMSG_HDR_SIZE || v > RPMSG_HDR_SIZE + 0xffff) {
        throw new ConfigError(
          "RPMSG_BAD_BUF_SIZE",
          `rpmsg ${what} ${v} must be in ${RPMSG_HDR_SIZE + 1}..${RPMSG_HDR_SIZE + 0xffff}`,
        );
      }
    }
    this.#rxSz = rxSz;
    this.#txSz = txSz;
    if (this.#driver) {
      const pairs = Math.floor(pool.size / (rxSz + txSz));
      this.#nRx = Math.min(vq0.num, pairs);
      this.#nTx = Math.min(vq1.num, pairs);
      if (this.#nRx < 1 || this.#nTx < 1) {
        throw new ConfigError(
          "RPMSG_POOL_TOO_SMALL",
          `rpmsg pool of ${pool.size} bytes cannot hold one ${rxSz}-byte RX and one ${txSz}-byte TX buffer`,
        );
      }
      this.#txOff = this.#nRx * rxSz;
    } else {
      this.#nRx = 0;
      this.#nTx = 0;
      this.#txOff = 0;
    }
    this.#txFree = new Int32Array(this.#nTx);
    this.#init();
  }

  #init(): void {
    this.#gen++;
    this.#held = false;
    this.#curId = -1;
    if (this.#driver) {
      // The host zeroes both whole rings (as Linux remoteproc does before use),
      // so no stale used.idx from an earlier session is taken for new entries.
      for (const vq of [this.#vq0, this.#vq1]) {
        this.#region.fill(vq.pa, vringLayout(vq.num, vq.align, vq.pa).size, 0);
        vq.reset();
      }
      // Returned TX buffers are reclaimed by polling: ask the device not to kick
      // for them (vring1 avail.flags NO_INTERRUPT), as OpenAMP's driver does.
      this.#vq1.disableNotifications();
      this.#txFreeTop = 0;
      for (let j = this.#nTx - 1; j >= 0; j--) this.#txFree[this.#txFreeTop++] = j;
      const vq0 = this.#vq0;
      for (let i = 0; i < this.#nRx; i++) {
        if (vq0.addBuf(this.#pool.base + i * this.#rxSz, this.#rxSz, true, i) < 0) {
          throw new RpmsgError(
            "RPMSG_VQ_FULL",
            `rpmsg: ${vq0.name} has no room for RX buffer ${i}`,
          );
        }
      }
    } else {
      // Re-posted RX buffers need no kick (vring0 used.flags NO_NOTIFY), as OpenAMP's device does.
      // Not before the session: the rings are the driver's to set up first.
      if (this.#live) this.#vq0.disableNotifications();
      this.#stashHead = [];
      this.#stashOff = [];
      this.#stashLen = [];
    }
  }

  /** Negotiated features in effect. */
  get features(): number {
    return this.#features;
  }
  /** True when name service is negotiated. */
  get nameService(): boolean {
    return this.#ns;
  }
  /** Driver: RX buffers (vring0). Device: 0. */
  get rxBuffers(): number {
    return this.#nRx;
  }
  /** Driver: TX buffers (vring1). Device: 0. */
  get txBuffers(): number {
    return this.#nTx;
  }
  /** Driver: TX buffers free right now (without reclaiming). */
  get txFree(): number {
    return this.#txFreeTop;
  }
  /** Largest payload one message can carry (device: learned from the last buffer seen). */
  get maxPayload(): number {
    return (this.#driver ? this.#txSz : this.#learnedTxLen) - RPMSG_HDR_SIZE;
  }
  /**
   * Services the peer announced and has not destroyed (name -> address). A
   * named endpoint created later with dst ANY binds to its entry at once.
   */
  get remoteServices(): ReadonlyMap<string, number> {
    return this.#services;
  }
  /** Endpoints by local address. */
  get endpoints(): ReadonlyMap<number, RpmsgEndpoint> {
    return this.#eps;
  }
  /** The virtqueues [vring0, vring1]. */
  get vrings(): readonly [RoleQueue, RoleQueue] {
    return [this.#vq0, this.#vq1];
  }

  // ---------------------------------------------------------------- endpoints

  /**
   * Create a local endpoint. With name service negotiated, a named endpoint
   * with dst ANY is announced (queued until a buffer is available).
   */
  createEndpoint(options: RpmsgEndpointOptions): RpmsgEndpoint {
    this.#checkOpen();
    const name = options.name ?? "";
    if (name) encodeNs(name, 0, 0); // validates the length
    let addr = options.addr ?? RPMSG_ADDR_ANY;
    if (addr === RPMSG_ADDR_ANY) {
      addr = this.#addrs.alloc();
      if (addr < 0) {
        throw new RpmsgError(
          "RPMSG_NO_ADDR",
          `rpmsg: all ${this.#addrs.size} dynamic endpoint addresses are in use`,
        );
      }
    } else {
      if (!Number.isSafeInteger(addr) || addr < 0 || addr > 0xffff_ffff) {
        throw new RpmsgError("RPMSG_BAD_ADDR", `rpmsg: endpoint address ${addr} is not a u32`);
      }
      if (addr === RPMSG_NS_ADDR || this.#eps.has(addr) || !this.#addrs.take(addr)) {
        throw new RpmsgError(
          "RPMSG_ADDR_IN_USE",
          `rpmsg: endpoint address ${addr} is already in use`,
        );
      }
    }
    const dst = options.dst ?? RPMSG_ADDR_ANY;
    if (!Number.isSafeInteger(dst) || dst < 0 || dst > 0xffff_ffff) {
      this.#addrs.free(addr);
      throw new RpmsgError("RPMSG_BAD_ADDR", `rpmsg: destination address ${dst} is not a u32`);
    }
    const ep = new RpmsgEndpoint(this, addr, { ...options, name, dst });
    this.#eps.set(addr, ep);
    this.#maybeAnnounce(ep);
    // The peer may have announced this service before the endpoint existed.
    const known = name && dst === RPMSG_ADDR_ANY ? this.#services.get(name) : undefined;
    if (known !== undefined) setDst(ep, known);
    return ep;
  }

  #maybeAnnounce(ep: RpmsgEndpoint): void {
    if (this.#ns && ep.name && ep.announce && ep.initialDst === RPMSG_ADDR_ANY) {
      this.#queueNs(ep.addr, encodeNs(ep.name, ep.addr, RPMSG_NS_CREATE));
    }
  }

  #queueNs(src: number, msg: Uint8Array): void {
    this.#pendingNs.push({ src, msg });
    this.#flushNs();
  }

  #flushNs(): void {
    if (!this.#live) return;
    const q = this.#pendingNs;
    while (q.length > 0) {
      const m = q[0]!;
      if (!this.#sendRaw(m.src, RPMSG_NS_ADDR, m.msg, null)) return;
      q.shift();
    }
  }

  /** Remove an endpoint: announce DESTROY (if it was announced) and free its address. */
  destroyEndpoint(ep: RpmsgEndpoint): void {
    if (ep.device !== this || ep.destroyed || this.#eps.get(ep.addr) !== ep) return;
    this.#eps.delete(ep.addr);
    markDestroyed(ep);
    if (this.#ns && ep.name && ep.announce && ep.initialDst === RPMSG_ADDR_ANY && !this.#closed) {
      this.#queueNs(ep.addr, encodeNs(ep.name, ep.addr, RPMSG_NS_DESTROY));
    }
    this.#addrs.free(ep.addr);
  }

  /** Wait until `ep` is bound, polling the bus meanwhile. */
  async waitReady(
    ep: RpmsgEndpoint,
    options: { deadlineMs: number; signal?: AbortSignal },
  ): Promise<void> {
    const ok = await waitUntil(() => {
      if (!ep.ready) this.poll();
      return ep.ready;
    }, { deadlineMs: options.deadlineMs, signal: options.signal });
    if (!ok) {
      throw new TimeoutError(
        `waiting for rpmsg endpoint ${ep.addr} "${ep.name}" to learn its destination`,
        options.deadlineMs,
      );
    }
  }

  // ---------------------------------------------------------------- sending

  /**
   * Send `data` from `ep` to its dst if a buffer is free now; false if none.
   * Throws RpmsgError `RPMSG_TOO_LONG`, `RPMSG_NO_DST` (unbound endpoint).
   */
  trySend(ep: RpmsgEndpoint, data: Uint8Array, dst: number = ep.dst): boolean {
    this.#checkSend(ep, dst);
    this.#activate();
    return this.#sendRaw(ep.addr, dst, data, ep);
  }

  /** Blocking send to `ep.dst`: retries every ~1 ms; RpmsgError `RPMSG_NO_BUFFER` at the deadline. */
  send(ep: RpmsgEndpoint, data: Uint8Array, options: RpmsgSendOptions = {}): Promise<void> {
    return this.sendTo(ep, ep.dst, data, options);
  }

  /** Blocking send from `ep` to an explicit address. */
  async sendTo(
    ep: RpmsgEndpoint,
    dst: number,
    data: Uint8Array,
    options: RpmsgSendOptions = {},
  ): Promise<void> {
    if (this.trySend(ep, data, dst)) return;
    const deadlineMs = options.deadlineMs ?? 15_000;
    const ok = await waitUntil(() => this.trySend(ep, data, dst), {
      deadlineMs,
      signal: options.signal,
      spinUs: 0,
      yieldUs: 200,
      sleepMs: 1,
    });
    if (!ok) {
      throw new RpmsgError(
        "RPMSG_NO_BUFFER",
        `rpmsg: no free TX buffer for endpoint ${ep.addr} -> ${dst} within ${deadlineMs} ms${
          options.signal?.aborted ? " (aborted)" : ""
        }`,
      );
    }
  }

  #checkSend(ep: RpmsgEndpoint, dst: number): void {
    this.#checkOpen();
    if (ep.destroyed || this.#eps.get(ep.addr) !== ep) {
      throw new RpmsgError(
        "RPMSG_EP_DESTROYED",
        `rpmsg: endpoint ${ep.addr} "${ep.name}" is destroyed`,
      );
    }
    if (dst === RPMSG_ADDR_ANY) {
      throw new RpmsgError(
        "RPMSG_NO_DST",
        `rpmsg: endpoint ${ep.addr} "${ep.name}" has no destination yet (not bound)`,
      );
    }
    if (!Number.isSafeInteger(dst) || dst < 0 || dst > 0xffff_ffff) {
      throw new RpmsgError("RPMSG_BAD_ADDR", `rpmsg: destination address ${dst} is not a u32`);
    }
  }

  #tooLong(len: number, max: number): never {
    throw new RpmsgError(
      "RPMSG_TOO_LONG",
      `rpmsg: payload of ${len} bytes exceeds the ${max} bytes a ${
        max + RPMSG_HDR_SIZE
      }-byte buffer holds`,
    );
  }

  /** Take a TX buffer: returns its id (driver index / device head) or -1; sets #tOff/#tLen. */
  #tOff = 0;
  #tLen = 0;
  #takeTx(): number {
    if (this.#driver) {
      if (this.#txFreeTop === 0) this.#reclaimTx();
      if (this.#txFreeTop === 0) return -1;
      const j = this.#txFree[--this.#txFreeTop]!;
      this.#tOff = this.#txOff + j * this.#txSz;
      this.#tLen = this.#txSz;
      return j;
    }
    const sh = this.#stashHead;
    if (sh.length > 0) {
      this.#tOff = this.#stashOff.pop()!;
      this.#tLen = this.#stashLen.pop()!;
      return sh.pop()!;
    }
    const vq0 = this.#vq0;
    for (;;) {
      const head = vq0.getAvail();
      if (head < 0) return -1;
      if (this.#checkDeviceBuf(vq0, head, true)) {
        this.#learnedTxLen = this.#tLen;
        return head;
      }
    }
  }

  #untakeTx(id: number, off: number, len: number): void {
    if (this.#driver) {
      this.#txFree[this.#txFreeTop++] = id;
    } else {
      this.#stashHead.push(id);
      this.#stashOff.push(off);
      this.#stashLen.push(len);
    }
  }

  /** Device: validate the chain just taken; on success sets #tOff/#tLen, else returns it and counts. */
  #checkDeviceBuf(vq: RoleQueue, head: number, wantWritable: boolean): boolean {
    let reason: string | null = null;
    const b = vq.chain[0]!;
    if (vq.chainLen !== 1) reason = "RPMSG_DESC_CHAIN";
    else if (b.writable !== wantWritable) reason = "RPMSG_DESC_BAD_FLAGS";
    else if (
      b.addr < this.#pool.base || b.len > this.#pool.size ||
      b.addr - this.#pool.base > this.#pool.size - b.len
    ) reason = "RPMSG_DESC_OUTSIDE_POOL";
    else if (b.len < RPMSG_HDR_SIZE) reason = "RPMSG_SHORT_BUFFER";
    if (reason === null) {
      this.#tOff = b.addr - this.#pool.base;
      this.#tLen = b.len;
      return true;
    }
    this.#drop(
      null,
      reason,
      `rpmsg device: ${vq.name} head ${head}: ${vq.chainLen} descriptor(s), first [${
        hex(b.addr)
      }, +${hex(b.len)}) ${b.writable ? "writable" : "read-only"}; pool [${
        hex(this.#pool.base)
      }, +${hex(this.#pool.size)})`,
    );
    vq.putUsed(head, 0);
    return false;
  }

  #reclaimTx(): number {
    const vq1 = this.#vq1;
    let n = 0;
    for (;;) {
      const head = vq1.getUsed();
      if (head < 0) return n;
      const j = vq1.lastToken;
      this.#txFree[this.#txFreeTop++] = j;
      n++;
    }
  }

  /** Write header + payload into a taken buffer and hand it to the peer. */
  #post(id: number, off: number, bufLen: number, src: number, dst: number, len: number): void {
    const view = this.#view;
    view.setUint32(off, src, true);
    view.setUint32(off + 4, dst, true);
    view.setUint32(off + 8, 0, true);
    view.setUint16(off + 12, len, true);
    view.setUint16(off + 14, 0, true);
    if (this.#driver) {
      const vq1 = this.#vq1;
      if (vq1.addBuf(this.#pool.base + off, RPMSG_HDR_SIZE + len, false, id) < 0) {
        this.#txFree[this.#txFreeTop++] = id;
        throw new RpmsgError(
          "RPMSG_VQ_FULL",
          `rpmsg: ${vq1.name} has no free descriptor for TX buffer ${id}`,
        );
      }
      if (vq1.kickNeeded()) this.#kick(this.#notifyId1);
    } else {
      const vq0 = this.#vq0;
      vq0.putUsed(id, this.#fullUsed ? bufLen : RPMSG_HDR_SIZE + len);
      if (vq0.kickNeeded()) this.#kick(this.#notifyId0);
    }
  }

  #kick(id: number): void {
    this.stats.kicks++;
    this.#notifier.notify(id);
  }

  #sendRaw(src: number, dst: number, data: Uint8Array, ep: RpmsgEndpoint | null): boolean {
    const len = data.length;
    if (len > 0xffff) this.#tooLong(len, this.maxPayload);
    if (this.#driver && len > this.#txSz - RPMSG_HDR_SIZE) {
      this.#tooLong(len, this.#txSz - RPMSG_HDR_SIZE);
    }
    const id = this.#takeTx();
    if (id < 0) return false;
    const off = this.#tOff, bufLen = this.#tLen;
    if (len > bufLen - RPMSG_HDR_SIZE) {
      this.#untakeTx(id, off, bufLen);
      this.#tooLong(len, bufLen - RPMSG_HDR_SIZE);
    }
    this.#bytes.set(data, off + RPMSG_HDR_SIZE);
    this.#post(id, off, bufLen, src, dst, len);
    this.#countTx(ep, len);
    return true;
  }

  #countTx(ep: RpmsgEndpoint | null, len: number): void {
    this.#lastActive = performance.now();
    const s = this.stats;
    s.txMessages++;
    s.txBytes += len;
    if (ep) {
      ep.stats.txMessages++;
      ep.stats.txBytes += len;
    }
  }

  // ---------------------------------------------------------------- zero-copy TX

  /** Take a TX buffer to fill in place, or null when none is free. */
  getTxBuffer(): RpmsgTxBuffer | null {
    this.#checkOpen();
    this.#activate();
    const id = this.#takeTx();
    if (id < 0) return null;
    const off = this.#tOff, len = this.#tLen;
    return new TxBuf(
      this.#bytes.subarray(off + RPMSG_HDR_SIZE, off + len),
      id,
      off,
      len,
      this.#gen,
    );
  }

  #txBuf(buf: RpmsgTxBuffer, op: string): TxBuf {
    if (!(buf instanceof TxBuf) || !buf.live || buf.gen !== this.#gen) {
      throw new RpmsgError(
        "RPMSG_BAD_BUFFER",
        `rpmsg: ${op}: the buffer is not a live TX buffer of this bus (already sent or released, or from before a reset)`,
      );
    }
    return buf;
  }

  /** Send the first `len` bytes of a buffer from {@linkcode getTxBuffer} without copying. */
  sendNoCopy(ep: RpmsgEndpoint, buf: RpmsgTxBuffer, len: number, dst: number = ep.dst): void {
    this.#checkSend(ep, dst);
    const b = this.#txBuf(buf, "sendNoCopy");
    if (!Number.isSafeInteger(len) || len < 0 || len > b.len - RPMSG_HDR_SIZE) {
      this.#tooLong(len, b.len - RPMSG_HDR_SIZE);
    }
    b.live = false;
    this.#post(b.id, b.off, b.len, ep.addr, dst, len);
    this.#countTx(ep, len);
  }

  /** Give back an unsent buffer from {@linkcode getTxBuffer}. */
  releaseTxBuffer(buf: RpmsgTxBuffer): void {
    const b = this.#txBuf(buf, "releaseTxBuffer");
    b.live = false;
    this.#untakeTx(b.id, b.off, b.len);
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Inside an `onMessage` callback: keep the current RX buffer past the
   * callback. The data stays valid until {@linkcode releaseRx}.
   */
  holdRx(): RpmsgRxHandle {
    const data = this.#curData;
    if (data === null || this.#curId < 0) {
      throw new RpmsgError(
        "RPMSG_NOT_IN_CALLBACK",
        "rpmsg: holdRx() is only valid inside onMessage",
      );
    }
    if (this.#held) {
      throw new RpmsgError("RPMSG_ALREADY_HELD", "rpmsg: this RX buffer is already held");
    }
    this.#held = true;
    return new RxHandle(data, this.#curId, this.#curOff, this.#curLen, this.#gen);
  }

  /** Return a held RX buffer to the peer. */
  releaseRx(handle: RpmsgRxHandle): void {
    if (!(handle instanceof RxHandle) || !handle.live) {
      throw new RpmsgError(
        "RPMSG_BAD_HANDLE",
        "rpmsg: releaseRx: not a held RX buffer, or released twice",
      );
    }
    handle.live = false;
    if (handle.gen !== this.#gen) return; // the ring was reset since; nothing to give back
    this.#recycleRx(handle.id, handle.off, handle.len);
  }

  #recycleRx(id: number, off: number, len: number): void {
    if (this.#driver) {
      if (this.#vq0.addBuf(this.#pool.base + off, this.#rxSz, true, id) < 0) {
        throw new RpmsgError(
          "RPMSG_VQ_FULL",
          `rpmsg: ${this.#vq0.name} has no room to re-post RX buffer ${id}`,
        );
      }
    } else {
      this.#vq1.putUsed(id, len);
    }
  }

  /** True when something is waiting to be processed (cheap). */
  hasWork(): boolean {
    if (this.#closed || !this.#live) return false;
    if (this.#driver) {
      return this.#vq0.hasUsed() || (this.#pendingNs.length > 0 && this.#vq1.hasUsed());
    }
    return this.#vq1.hasAvail() || (this.#pendingNs.length > 0 && this.#vq0.hasAvail());
  }

  /**
   * Process everything pending without blocking: received messages (callbacks
   * run here), returned TX buffers, queued name-service announcements.
   * Returns the number of items handled. Errors of a broken vring propagate.
   */
  poll(): number {
    if (this.#closed || this.#polling) return 0;
    this.#activate();
    this.#polling = true;
    try {
      let n = 0;
      if (this.#driver) {
        const vq0 = this.#vq0;
        const max = vq0.num;
        for (let k = 0; k < max; k++) {
          const head = vq0.getUsed();
          if (head < 0) break;
          this.#driverRx(vq0.lastToken, vq0.lastLen);
          n++;
        }
        n += this.#reclaimTx();
      } else {
        const vq1 = this.#vq1;
        const max = vq1.num;
        for (let k = 0; k < max; k++) {
          const head = vq1.getAvail();
          if (head < 0) break;
          if (this.#checkDeviceBuf(vq1, head, false)) this.#deviceRx(head, this.#tOff, this.#tLen);
          n++;
        }
      }
      if (this.#pendingNs.length > 0) this.#flushNs();
      if (n > 0) this.#lastActive = performance.now();
      return n;
    } finally {
      this.#polling = false;
    }
  }

  #driverRx(i: number, usedLen: number): void {
    const off = i * this.#rxSz;
    if (usedLen > this.#rxSz) {
      this.#drop(
        null,
        "RPMSG_BAD_USED_LEN",
        `rpmsg: used len ${usedLen} > buffer size ${this.#rxSz}`,
      );
      this.#recycleRx(i, off, this.#rxSz);
      return;
    }
    this.#deliver(i, off, usedLen);
  }

  #deviceRx(head: number, off: number, len: number): void {
    this.#deliver(head, off, len);
  }

  /** Parse and dispatch one received buffer, then recycle it unless held. */
  #deliver(id: number, off: number, avail: number): void {
    let held = false;
    try {
      if (avail < RPMSG_HDR_SIZE) {
        this.#drop(
          null,
          "RPMSG_SHORT_BUFFER",
          `rpmsg: received ${avail} bytes, less than the 16-byte header`,
        );
        return;
      }
      const view = this.#view;
      const src = view.getUint32(off, true);
      const dst = view.getUint32(off + 4, true);
      const len = view.getUint16(off + 12, true);
      if (len > avail - RPMSG_HDR_SIZE) {
        this.#drop(
          this.#eps.get(dst) ?? null,
          "RPMSG_BAD_HDR_LEN",
          `rpmsg: header len ${len} from ${src} to ${dst} exceeds the ${
            avail - RPMSG_HDR_SIZE
          } payload bytes received`,
        );
        return;
      }
      const data = this.#bytes.subarray(off + RPMSG_HDR_SIZE, off + RPMSG_HDR_SIZE + len);
      if (dst === RPMSG_NS_ADDR && this.#ns) {
        this.stats.rxMessages++;
        this.stats.rxBytes += len;
        this.#handleNs(data);
        return;
      }
      const ep = this.#eps.get(dst);
      if (ep === undefined) {
        this.#drop(
          null,
          "RPMSG_UNKNOWN_DST",
          `rpmsg: message from ${src} to unknown endpoint ${dst}`,
        );
        return;
      }
      if (ep.dst === RPMSG_ADDR_ANY) setDst(ep, src);
      const s = this.stats, es = ep.stats;
      s.rxMessages++;
      s.rxBytes += len;
      es.rxMessages++;
      es.rxBytes += len;
      this.#curId = id;
      this.#curOff = off;
      this.#curLen = avail;
      this.#curData = data;
      this.#held = false;
      try {
        ep.onMessage(data, src, ep);
      } catch (e) {
        bump(es.drops, "RPMSG_CALLBACK_ERROR");
        bump(s.drops, "RPMSG_CALLBACK_ERROR");
        throw e;
      } finally {
        held = this.#held;
        this.#held = false;
        this.#curId = -1;
        this.#curData = null;
      }
    } finally {
      if (!held) this.#recycleRx(id, off, avail);
    }
  }

  #handleNs(data: Uint8Array): void {
    let m;
    try {
      m = decodeNs(data);
    } catch (e) {
      if (e instanceof RpmsgError) {
        this.#drop(null, e.code, `rpmsg: malformed name-service message dropped: ${e.message}`);
        return;
      }
      throw e;
    }
    if (m.flags === RPMSG_NS_CREATE) {
      this.stats.nsCreate++;
      this.#services.set(m.name, m.addr);
      for (const ep of this.#eps.values()) {
        if (ep.name === m.name && ep.dst === RPMSG_ADDR_ANY) {
          setDst(ep, m.addr);
          return;
        }
      }
      this.#onBind?.(m.name, m.addr);
    } else {
      this.stats.nsDestroy++;
      if (this.#services.get(m.name) === m.addr) this.#services.delete(m.name);
      let found = false;
      for (const ep of this.#eps.values()) {
        if (ep.name === m.name && ep.dst === m.addr) {
          found = true;
          setDst(ep, RPMSG_ADDR_ANY);
          ep.onUnbind?.(ep);
        }
      }
      if (!found) this.#onUnbind?.(m.name, m.addr);
    }
  }

  #drop(ep: RpmsgEndpoint | null, reason: string, message: string): void {
    bump(this.stats.drops, reason);
    if (ep) bump(ep.stats.drops, reason);
    const now = performance.now();
    const w = this.#lastWarn.get(reason);
    if (w && now - w.at < NO_LOG_WINDOW_MS) {
      w.suppressed++;
      return;
    }
    const extra = w && w.suppressed > 0 ? ` (${w.suppressed} similar suppressed)` : "";
    this.#lastWarn.set(reason, { at: now, suppressed: 0 });
    this.#log(`${reason}: ${message}${extra}`);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Wait for kicks and process until `signal` aborts or {@linkcode close}.
   * Idle waits are {@linkcode waitForWork}: spin and yield while traffic is
   * recent, sleep or block when idle. While busy the loop yields to the event
   * loop at least every few ms.
   */
  async run(options: RpmsgRunOptions = {}): Promise<void> {
    const { signal, stop, onPoll, until: extra } = options;
    const idleMs = options.idleMs ?? 100;
    const more = (): boolean => (stop !== undefined && stop()) || (extra !== undefined && extra());
    let lastYield = performance.now();
    let busy = 0;
    while (!this.#closed && !signal?.aborted && !(stop && stop())) {
      const n = (onPoll ? onPoll() : 0) + this.poll();
      if (n > 0) {
        if (++busy >= 64) {
          busy = 0;
          const now = performance.now();
          if (now - lastYield > 4) {
            await yieldTurn();
            lastYield = performance.now();
          }
        }
        continue;
      }
      await this.waitForWork({ deadlineMs: idleMs, ...(signal ? { signal } : {}), until: more });
      lastYield = performance.now();
    }
  }

  /**
   * Wait for a kick or for work on the rings (or `until()`), then resolve
   * true; false at the deadline or on abort. Within `activeWindowMs` of the
   * last message sent or received the wait spins and yields (`sched_yield`)
   * and sees the next message in µs; after that it sleeps (or blocks on an
   * event-driven notifier, e.g. a socket read), so an idle bus is cheap.
   */
  waitForWork(options: RpmsgWaitOptions): Promise<boolean> {
    const extra = options.until;
    const until = extra === undefined ? () => this.hasWork() : () => this.hasWork() || extra();
    let now = performance.now();
    const busyMs = this.#lastActive + this.#activeWindowMs - now;
    if (busyMs > 0) {
      // Busy: look at the rings for a few µs first, allocating nothing (a
      // peer that answers in µs is served without arming a wait). A kick
      // left unconsumed only makes a later wait return at once.
      const spinEnd = now + FAST_SPIN_MS;
      do {
        for (let i = 0; i < 16; i++) if (until()) return Promise.resolve(true);
        now = performance.now();
      } while (now < spinEnd);
    }
    return this.#notifier.wait({
      deadlineMs: options.deadlineMs,
      ...(options.signal ? { signal: options.signal } : {}),
      until,
      busyUs: busyMs > 0 ? Math.ceil(busyMs * 1000) : 0,
    });
  }

  /** Device role: start using the rings (first poll or send by the owner before any reset). */
  #activate(): void {
    if (this.#live) return;
    this.#live = true;
    this.#vq0.disableNotifications();
    if (this.#pendingNs.length > 0) this.#flushNs();
  }

  /**
   * Re-initialise after the peer reset the vdev: both vrings are reset, the
   * driver re-posts its RX buffers, held and taken buffers become invalid,
   * endpoints return to their initial dst and are re-announced.
   * `features` replaces the negotiated features when given.
   */
  reset(options: { features?: number } = {}): void {
    this.#checkOpen();
    if (options.features !== undefined) {
      this.#features = options.features;
      this.#ns = (options.features & VIRTIO_RPMSG_F_NS) !== 0;
    }
    this.stats.resets++;
    this.#live = true;
    this.#vq0.reset();
    this.#vq1.reset();
    this.#pendingNs = [];
    this.#services.clear();
    this.#init();
    for (const ep of this.#eps.values()) {
      setDst(ep, ep.initialDst);
      this.#maybeAnnounce(ep);
    }
  }

  /**
   * Destroy every endpoint (queued DESTROY messages are sent if buffers are
   * free now) and stop {@linkcode run}. The region and notifier stay open:
   * their owner closes them.
   */
  close(): void {
    if (this.#closed) return;
    for (const ep of [...this.#eps.values()]) {
      try {
        this.destroyEndpoint(ep);
      } catch { /* broken ring: nothing more can be sent */ }
    }
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new RpmsgError("RPMSG_CLOSED", "rpmsg: the device is closed");
  }
}
