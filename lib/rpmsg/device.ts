/**
 * The rpmsg bus shared by both roles (openamp-wire.md section 4): endpoints
 * and their addresses, sending and zero-copy buffers, dispatch of received
 * messages, counters and the drop log. What differs by role lives in the two
 * subclasses: `driver_bus.ts` (the host: TX free list, RX buffers posted on
 * vring0) and `device_bus.ts` (the remote: vring0 buffers taken from the
 * driver and stashed until used). The name service is in `_name_service.ts`,
 * the run loop in `_loop.ts`.
 *
 * @module
 */

import { ConfigError, RpmsgError, TimeoutError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import type { Notifier } from "../notify/types.ts";
import { VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import { waitUntil } from "../util/wait.ts";
import type { Virtqueue } from "../virtio/virtqueue.ts";
import {
  type RpmsgBus,
  type RpmsgEndpoint,
  type RpmsgEndpointOptions,
  setDst,
} from "./endpoint.ts";
import { Dispatcher } from "./_dispatch.ts";
import { deviceCounters, DropLog } from "./_drop_log.ts";
import { EndpointTable } from "./_endpoints.ts";
import { BusWaits, runLoop } from "./_loop.ts";
import { NameService } from "./_name_service.ts";
import type {
  RpmsgDeviceCounters,
  RpmsgDeviceOptions,
  RpmsgPool,
  RpmsgRole,
  RpmsgRunOptions,
  RpmsgRxHandle,
  RpmsgSendOptions,
  RpmsgTxBuffer,
  RpmsgWaitOptions,
} from "./types.ts";
import { RPMSG_HDR_SIZE, RPMSG_NS_ADDR, writeHeader } from "./_wire.ts";
import { batchSize, liveTxBuf, TxBuf, TxViews } from "./_tx.ts";

/**
 * An rpmsg bus over virtio: `RpmsgDriverBus` (the host) or `RpmsgDeviceBus`
 * (the remote); `createRpmsgDevice` builds either with its vrings.
 *
 * All processing is synchronous in {@linkcode poll}; callbacks run from it.
 * {@linkcode run} loops poll with {@linkcode waitForWork} in between.
 *
 * Received payloads are **live views of shared memory**, not copies: the
 * `data` an `onMessage` callback gets is valid during the call only (or
 * until {@linkcode releaseRx} after {@linkcode holdRx}), and a hostile peer
 * may rewrite its bytes at any time. The bus reads each header field once
 * into locals and takes every bound (payload length, destination) from those
 * reads, so nothing the peer changes later can make the bus read or write
 * outside the buffer. An application must likewise copy (`data.slice()`)
 * anything it checks and then uses, and anything it keeps past the callback.
 *
 * Drop reasons counted in `stats.drops` (and per endpoint where one is known)
 * and logged at most once a second per reason: `RPMSG_BAD_USED_LEN`,
 * `RPMSG_SHORT_BUFFER`, `RPMSG_BAD_HDR_LEN`, `RPMSG_UNKNOWN_DST`,
 * `RPMSG_NS_BAD_LENGTH`, `RPMSG_NS_NAME_UNTERMINATED`, `RPMSG_NS_EMPTY_NAME`,
 * `RPMSG_NS_BAD_FLAGS`,
 * `RPMSG_NS_BAD_ADDR`, `RPMSG_NS_TOO_MANY_SERVICES`, `RPMSG_DESC_OUTSIDE_POOL`,
 * `RPMSG_DESC_BAD_FLAGS`, `RPMSG_DESC_CHAIN`, `RPMSG_CALLBACK_ERROR`.
 *
 * The role contract: a subclass owns its two vrings and implements the
 * protected hooks (take, return and post a TX buffer, recycle an RX buffer,
 * receive, report pending work, initialise its rings); the bus calls them and
 * never branches on the role.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RpmsgDevice } from "./device.ts";
 * import { createRpmsgDevice } from "./create.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { InProcessNotifier } from "../notify/in_process.ts";
 * const shm = heapRegion(0, 0x10000);
 * const [nh, nr] = InProcessNotifier.pair();
 * const layout = {
 *   vring0: { pa: 0, num: 8, align: 0x100 },
 *   vring1: { pa: 0x1000, num: 8, align: 0x100 },
 *   pool: { base: 0x4000, size: 0x2000 },
 * };
 * const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
 * const remote: RpmsgDevice = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
 * assert(host.rxBuffers === 8 && host.txBuffers === 8 && host.maxPayload === 496);
 * const ep = host.createEndpoint({ addr: 1024, dst: 1024, onMessage: () => {} });
 * let got = 0;
 * remote.createEndpoint({ addr: 1024, onMessage: (d) => (got = d.length) });
 * assert(ep.trySend(new Uint8Array(10)));
 * assert(remote.poll() === 1 && got === 10);
 * ```
 */
export abstract class RpmsgDevice implements RpmsgBus {
  /** This side's role. */
  abstract readonly role: RpmsgRole;
  /** Device-level counters. */
  readonly stats: RpmsgDeviceCounters = deviceCounters();

  /** Shared memory holding the pool. */
  protected readonly region: MemoryRegion;
  /** The buffer pool (a private copy of the option). */
  protected readonly pool: RpmsgPool;
  /** Zero-copy bytes of the pool; offsets below are pool offsets. */
  protected readonly bytes: Uint8Array;
  /** Zero-copy view of the pool. */
  protected readonly view: DataView;
  /** Pool offset of the buffer the last {@linkcode takeTx} returned. */
  protected txOff = 0;
  /** Length of the buffer the last {@linkcode takeTx} returned. */
  protected txLen = 0;

  readonly #notifier: Notifier;
  readonly #notifyIds: readonly [number, number];
  readonly #eps: EndpointTable;
  readonly #drops: DropLog;
  readonly #ns: NameService;
  readonly #rx: Dispatcher;
  readonly #txViews: TxViews;
  #queued = 0; // zero-copy sends staged since the last flush
  readonly #batch: number; // queued sends published on their own
  readonly #waits: BusWaits;
  #features: number;
  #gen = 0;
  #closed = false;
  #polling = false;
  /** The rings may be used: the driver always; the device once a session started or its owner polled or sent. */
  #live: boolean;

  /**
   * Check the options shared by both roles. The subclass checks its own,
   * then calls {@linkcode init}.
   *
   * @throws {ConfigError} `RPMSG_VQ_ROLE` (a vring that is not an end of
   *   `role`: only a cast or an untyped caller can pass one), `RPMSG_BAD_POOL`
   *   (pool not inside the region), `RPMSG_BAD_WINDOW` (activeWindowMs not a
   *   finite ms >= 0).
   */
  protected constructor(options: RpmsgDeviceOptions, role: RpmsgRole) {
    const { region, pool } = options;
    options.vrings.forEach((vq, i) => {
      if (vq.role !== role) {
        throw new ConfigError(
          "RPMSG_VQ_ROLE",
          `rpmsg ${role}: vring${i} (${vq.name}) was built for the ${vq.role} role`,
        );
      }
    });
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
    const win = options.activeWindowMs ?? 5;
    if (!Number.isFinite(win) || win < 0) {
      throw new ConfigError(
        "RPMSG_BAD_WINDOW",
        `rpmsg activeWindowMs ${win} is not a finite ms >= 0`,
      );
    }
    this.region = region;
    this.pool = { base: pool.base, size: pool.size };
    this.bytes = region.bytes(pool.base, pool.size);
    this.view = region.dataView(pool.base, pool.size);
    this.#notifier = options.notifier;
    this.#notifyIds = [options.notifyIds?.[0] ?? 0, options.notifyIds?.[1] ?? 1];
    this.#drops = new DropLog(this.stats, options.log ?? ((m) => console.warn(m)));
    this.#features = options.features ?? VIRTIO_RPMSG_F_NS;
    this.#eps = new EndpointTable(options.dynamicAddresses ?? 1024);
    this.#live = role === "driver";
    this.#waits = new BusWaits(this.#notifier, win, () => this.hasWork(), {
      // kick suppression for the waits; a bus whose rings are closed touches nothing
      mute: (on) => void (this.#live && !this.#closed && this.muteRx(on)),
      peerPolls: () => this.#live && !this.#closed && this.peerPolls(),
    });
    this.#ns = new NameService(
      {
        endpoints: this.#eps.byAddr,
        stats: this.stats,
        sendNs: (src, msg) => this.#live && this.#sendRaw(src, RPMSG_NS_ADDR, msg, null),
        drop: (reason, message) => this.drop(null, reason, message),
      },
      (this.#features & VIRTIO_RPMSG_F_NS) !== 0,
      options.onBind,
      options.onUnbind,
    );
    this.#txViews = new TxViews(this.bytes);
    this.#batch = batchSize(Math.min(options.vrings[0].num, options.vrings[1].num));
    this.#rx = new Dispatcher({
      view: this.view,
      bytes: this.bytes,
      endpoints: this.#eps.byAddr,
      ns: this.#ns,
      stats: this.stats,
      drops: this.#drops,
      recycle: (id, off, len) => this.recycleRx(id, off, len),
    });
  }

  // ------------------------------------------------ the role contract

  /** The two virtqueues [vring0, vring1]. */
  abstract get vrings(): readonly [Virtqueue, Virtqueue];
  /** Largest payload one message can carry. */
  abstract get maxPayload(): number;
  /** Largest payload accepted before a buffer is taken (the driver knows its buffer size). */
  protected abstract get txLimit(): number;
  /** Reset this role's rings and buffers (from {@linkcode init}); `live`: the rings may be touched. */
  protected abstract initRings(live: boolean): void;
  /** First use of the rings without a reset (device role: set the ring flags). */
  protected abstract activateRings(): void;
  /** Take a TX buffer: its id, with {@linkcode txOff} and {@linkcode txLen} set; -1 when none is free. */
  protected abstract takeTx(): number;
  /** Give back a buffer {@linkcode takeTx} returned, unused. */
  protected abstract untakeTx(id: number, off: number, len: number): void;
  /** Stage a filled buffer (header written, `msgLen` payload bytes) for the peer; {@linkcode flushTx} publishes. */
  protected abstract postTx(id: number, off: number, bufLen: number, msgLen: number): void;
  /** Publish every staged TX buffer with one index store; kick unless the peer suppressed it. */
  protected abstract flushTx(): void;
  /** Give a received buffer back to the peer. */
  protected abstract recycleRx(id: number, off: number, len: number): void;
  /** Take every received buffer (bounded by the ring size) through {@linkcode deliver}; items handled. */
  protected abstract receive(): number;
  /** Ask the peer not to kick for the receive ring (`on`), or to kick again. */
  protected abstract muteRx(on: boolean): void;
  /** True while the peer asks for no kicks on its receive ring: it polls for our messages. */
  protected abstract peerPolls(): boolean;
  /** True when received buffers wait (cheap). */
  protected abstract rxPending(): boolean;
  /** True when the peer gave TX buffers back (cheap). */
  protected abstract txReturned(): boolean;

  // ------------------------------------------------ state

  /** Negotiated features in effect. */
  get features(): number {
    return this.#features;
  }
  /** True when name service is negotiated. */
  get nameService(): boolean {
    return this.#ns.enabled;
  }
  /** True after {@linkcode close}. */
  get closed(): boolean {
    return this.#closed;
  }
  /**
   * Services the peer announced and has not destroyed (name -> address), at
   * most `RPMSG_MAX_REMOTE_SERVICES`. A named endpoint created later with
   * dst ANY binds to its entry at once.
   */
  get remoteServices(): ReadonlyMap<string, number> {
    return this.#ns.services;
  }
  /** Endpoints by local address. */
  get endpoints(): ReadonlyMap<number, RpmsgEndpoint> {
    return this.#eps.byAddr;
  }
  /** Start a session: invalidate held and taken buffers, then initialise this role's rings. */
  protected init(): void {
    this.#rx.newSession(++this.#gen);
    this.initRings(this.#live);
  }

  // ------------------------------------------------ endpoints

  /**
   * Create a local endpoint. With name service negotiated, a named endpoint
   * with dst ANY is announced (queued until a buffer is available).
   *
   * @throws {RpmsgError} `RPMSG_NAME_TOO_LONG`, `RPMSG_NO_ADDR`,
   *   `RPMSG_BAD_ADDR`, `RPMSG_ADDR_IN_USE`, `RPMSG_CLOSED`.
   */
  createEndpoint(options: RpmsgEndpointOptions): RpmsgEndpoint {
    this.#checkOpen();
    const ep = this.#eps.add(this, options);
    this.#ns.announce(ep);
    // The peer may have announced this service before the endpoint existed.
    this.#ns.bindNew(ep);
    return ep;
  }

  /** Remove an endpoint: announce DESTROY (if it was announced) and free its address. */
  destroyEndpoint(ep: RpmsgEndpoint): void {
    if (this.#eps.remove(this, ep) && !this.#closed) this.#ns.withdraw(ep);
  }

  /** Wait until `ep` is bound, polling the bus meanwhile; TimeoutError at the deadline. */
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

  // ------------------------------------------------ sending

  /**
   * Send `data` from `ep` to `dst` (default its dst) if a buffer is free
   * now; false if none. Throws RpmsgError `RPMSG_TOO_LONG`, `RPMSG_NO_DST`
   * (unbound endpoint), `RPMSG_EP_DESTROYED`, `RPMSG_BAD_ADDR`.
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
        `Cannot send from rpmsg endpoint ${ep.addr} to ${dst}: no free TX buffer within ${deadlineMs} ms${
          options.signal?.aborted ? " (aborted)" : ""
        }`,
      );
    }
  }

  #checkSend(ep: RpmsgEndpoint, dst: number): void {
    this.#checkOpen();
    this.#eps.checkSend(ep, dst);
  }

  #tooLong(len: number, max: number): never {
    throw new RpmsgError(
      "RPMSG_TOO_LONG",
      `Cannot send ${len} bytes: more than the ${max} bytes a ${
        max + RPMSG_HDR_SIZE
      }-byte buffer holds`,
    );
  }

  /** Copy `data` into a free TX buffer behind its header and post it; false when none is free. */
  #sendRaw(src: number, dst: number, data: Uint8Array, ep: RpmsgEndpoint | null): boolean {
    const len = data.length;
    if (len > 0xffff || len > this.txLimit) this.#tooLong(len, this.maxPayload);
    const id = this.takeTx();
    if (id < 0) return false;
    const off = this.txOff, bufLen = this.txLen;
    if (len > bufLen - RPMSG_HDR_SIZE) {
      this.untakeTx(id, off, bufLen);
      this.#tooLong(len, bufLen - RPMSG_HDR_SIZE);
    }
    this.bytes.set(data, off + RPMSG_HDR_SIZE);
    this.#post(id, off, bufLen, src, dst, len);
    this.flushTx();
    this.#countTx(ep, len);
    return true;
  }

  /** Write the header of a filled buffer and stage it for the peer ({@linkcode flushTx} publishes). */
  #post(id: number, off: number, bufLen: number, src: number, dst: number, len: number): void {
    writeHeader(this.view, off, src, dst, len);
    this.postTx(id, off, bufLen, len);
  }

  /** Kick the peer for vring `ring` (0 or 1). */
  protected kick(ring: 0 | 1): void {
    this.stats.kicks++;
    this.#notifier.notify(this.#notifyIds[ring]);
  }

  #countTx(ep: RpmsgEndpoint | null, len: number, stamp = true): void {
    if (stamp) this.#waits.touch();
    const s = this.stats;
    s.txMessages++;
    s.txBytes += len;
    if (ep) {
      ep.stats.txMessages++;
      ep.stats.txBytes += len;
    }
  }

  // ------------------------------------------------ zero-copy TX

  /** Take a TX buffer to fill in place, or null when none is free. */
  getTxBuffer(): RpmsgTxBuffer | null {
    this.#checkOpen();
    this.#activate();
    const id = this.takeTx();
    if (id < 0) return null;
    const off = this.txOff, len = this.txLen;
    return new TxBuf(this.#txViews.payload(off, len), id, off, len, this.#gen);
  }

  /** Send the first `len` bytes of a buffer from {@linkcode getTxBuffer} without copying. */
  sendNoCopy(ep: RpmsgEndpoint, buf: RpmsgTxBuffer, len: number, dst: number = ep.dst): void {
    this.#sendBuf(ep, buf, len, dst, false);
  }

  /**
   * As {@linkcode sendNoCopy}, but only staged: published (one index store,
   * at most one kick) by {@linkcode flush}, an eager send, the end of a poll,
   * running out of TX buffers, or once a quarter ring (at most 64) is queued.
   */
  queueNoCopy(ep: RpmsgEndpoint, buf: RpmsgTxBuffer, len: number, dst: number = ep.dst): void {
    this.#sendBuf(ep, buf, len, dst, true);
    if (++this.#queued >= this.#batch) this.flush();
  }

  /** Publish the buffers {@linkcode queueNoCopy} staged (one index store; a kick unless suppressed). */
  flush(): void {
    if (this.#queued === 0 || this.#closed) return;
    this.#queued = 0;
    this.#waits.touch();
    this.flushTx();
  }

  #sendBuf(ep: RpmsgEndpoint, buf: RpmsgTxBuffer, len: number, dst: number, defer: boolean): void {
    this.#checkSend(ep, dst);
    const b = liveTxBuf(buf, this.#gen, defer ? "queueNoCopy" : "sendNoCopy");
    if (!Number.isSafeInteger(len) || len < 0 || len > b.len - RPMSG_HDR_SIZE) {
      this.#tooLong(len, b.len - RPMSG_HDR_SIZE);
    }
    b.live = false;
    this.#post(b.id, b.off, b.len, ep.addr, dst, len);
    if (!defer) this.flushTx();
    this.#countTx(ep, len, !defer);
  }

  /** Give back an unsent buffer from {@linkcode getTxBuffer}. */
  releaseTxBuffer(buf: RpmsgTxBuffer): void {
    const b = liveTxBuf(buf, this.#gen, "releaseTxBuffer");
    b.live = false;
    this.untakeTx(b.id, b.off, b.len);
  }

  // ------------------------------------------------ receiving

  /**
   * Inside an `onMessage` callback: keep the current RX buffer past the
   * callback. The data stays valid (a live view) until {@linkcode releaseRx}.
   */
  holdRx(): RpmsgRxHandle {
    return this.#rx.hold();
  }

  /** Return a held RX buffer to the peer. */
  releaseRx(handle: RpmsgRxHandle): void {
    this.#rx.release(handle);
  }

  /** True when something is waiting to be processed (cheap). */
  hasWork(): boolean {
    if (this.#closed || !this.#live) return false;
    return this.rxPending() || (this.#ns.pending && this.txReturned());
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
      const n = this.receive();
      if (this.#queued > 0) this.flush(); // what the caller and the callbacks queued
      if (this.#ns.pending) this.#ns.flush();
      if (n > 0) this.#waits.touch();
      return n;
    } finally {
      this.#polling = false;
    }
  }

  /**
   * Parse and dispatch one received buffer (`avail` bytes at pool offset
   * `off`), then recycle it unless the callback held it (see `_dispatch.ts`).
   */
  protected deliver(id: number, off: number, avail: number): void {
    this.#rx.deliver(id, off, avail);
  }

  /** Count a dropped message under `reason` (and on `ep`), and log it at most once a second. */
  protected drop(ep: RpmsgEndpoint | null, reason: string, message: string): void {
    this.#drops.drop(ep, reason, message);
  }

  // ------------------------------------------------ lifecycle

  /**
   * Wait for kicks and process until `signal` aborts, `stop()` or
   * {@linkcode close}. Idle waits are {@linkcode waitForWork}: spin and yield
   * while traffic is recent, sleep or block when idle. While busy the loop
   * yields to the event loop at least every few ms.
   */
  run(options: RpmsgRunOptions = {}): Promise<void> {
    return runLoop(this, options);
  }

  /**
   * Wait for a kick or for work on the rings (or `until()`), then resolve true; false at the
   * deadline or on abort. Within `activeWindowMs` of the last message the wait spins and yields
   * (`sched_yield`) and sees the next message in µs, asking the peer not to kick meanwhile; once
   * idle it blocks or sleeps (`_loop.ts`).
   */
  waitForWork(options: RpmsgWaitOptions): Promise<boolean> {
    return this.#waits.wait(options);
  }

  /**
   * The synchronous start of {@linkcode waitForWork}: true when there is
   * work (or `until()` holds) now or, within the active window, within 50 µs
   * of looking without giving up the thread (asking the peer not to kick, as
   * the wait does). An idle bus is looked at once. A caller that finds work
   * this way skips an async step per message.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { heapRegion } from "../mem/mod.ts";
   * import { InProcessNotifier } from "../notify/mod.ts";
   * import { createRpmsgDevice } from "./mod.ts";
   * const shm = heapRegion(0, 0x10000);
   * const [nh, nr] = InProcessNotifier.pair();
   * const layout = {
   *   vring0: { pa: 0, num: 8, align: 0x100 },
   *   vring1: { pa: 0x1000, num: 8, align: 0x100 },
   *   pool: { base: 0x4000, size: 0x2000 },
   * };
   * const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
   * const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
   * const ep = host.createEndpoint({ addr: 1024, dst: 1024, onMessage: () => {} });
   * const echo = remote.createEndpoint({ addr: 1024, onMessage: (d) => void echo.trySend(d) });
   * assert(!host.spinForWork()); // idle: false at once
   * assert(ep.trySend(new Uint8Array(4)) && remote.poll() === 1); // the echo is on its way
   * assert(host.spinForWork()); // traffic is recent: the host spins and finds it
   * ```
   */
  spinForWork(until?: () => boolean): boolean {
    return this.#waits.spin(until);
  }

  /** Start using the rings without a reset (the owner polled or sent first). */
  #activate(): void {
    if (this.#live) return;
    this.#live = true;
    this.activateRings();
    if (this.#ns.pending) this.#ns.flush();
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
      this.#ns.enabled = (options.features & VIRTIO_RPMSG_F_NS) !== 0;
    }
    this.stats.resets++;
    this.#live = true;
    for (const vq of this.vrings) vq.reset();
    this.#ns.reset();
    this.init();
    for (const ep of this.#eps.byAddr.values()) {
      setDst(ep, ep.initialDst);
      this.#ns.announce(ep);
    }
  }

  /**
   * Destroy every endpoint (queued DESTROY messages are sent if buffers are
   * free now) and stop {@linkcode run}. The region and notifier stay open:
   * their owner closes them.
   */
  close(): void {
    if (this.#closed) return;
    for (const ep of [...this.#eps.byAddr.values()]) {
      try {
        this.destroyEndpoint(ep);
      } catch { /* broken ring: nothing more can be sent */ }
    }
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new RpmsgError("RPMSG_CLOSED", "Cannot use a closed rpmsg bus");
  }
}
