/**
 * A small vhost-user front-end for tests: guest RAM in a temporary file,
 * the vhost-user handshake as UML's `virtio_uml` performs it, and amp's own
 * driver-role rpmsg bus on the rings it hands over. Its raw methods let
 * hostile-peer tests send anything at all.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import type { Channel } from "../apps/channel.ts";
import { mapFile } from "../mem/mmap.ts";
import type { MemoryRegion } from "../mem/region.ts";
import { waitUntil as backoffWait } from "../util/wait.ts";
import type { Notifier, NotifyWaitOptions } from "../notify/types.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import type { RpmsgDevice, RpmsgDriverBus, RpmsgEndpoint } from "../rpmsg/mod.ts";
import {
  closeFd,
  eventFd,
  openFd,
  pipeFds,
  pollFdsAsync,
  POLLIN,
  readFd,
  recvWithFds,
  sendWithFds,
  unixConnect,
  writeFd,
} from "../sys/posix.ts";
import {
  decodeHeader,
  FLAG_NEED_REPLY,
  HEADER_SIZE,
  Request,
  VHOST_USER_VERSION,
  type VhostHeader,
} from "./protocol.ts";
import { addrPayload, encodeMessage, memTablePayload, statePayload, u64Payload } from "./encode.ts";

/** Guest physical base of the test RAM. */
export const GUEST_BASE = 0x10_0000;
/** Where the front-end "sees" its RAM (user addresses, distinct from guest ones on purpose). */
export const USER_BASE = 0x7f00_0000_0000;
/** Test RAM size. */
export const GUEST_SIZE = 0x10_0000;
/** Ring and pool placement (guest physical). */
export const LAYOUT = {
  vring0: { pa: GUEST_BASE, num: 256, align: 0x1000 },
  vring1: { pa: GUEST_BASE + 0x4000, num: 256, align: 0x1000 },
  pool: { base: GUEST_BASE + 0x10000, size: 0x40000 },
};

const ONE = u64Payload(1n);

/** The driver's notifier: kicks write the queue's kick eventfd; waits look at the call eventfds. */
class DriverNotifier implements Notifier {
  #closed = false;
  constructor(readonly kick: number[], readonly call: number[]) {}
  notify(id: number): void {
    const fd = this.kick[id];
    if (!this.#closed && fd !== undefined) writeFd(fd, ONE, `kick ${id}`);
  }
  #drain(): boolean {
    let any = false;
    const buf = new Uint8Array(8);
    for (const fd of this.call) if ((readFd(fd, buf, "call") ?? 0) > 0) any = true;
    return any;
  }
  pending(): boolean {
    return false;
  }
  wait(o: NotifyWaitOptions): Promise<boolean> {
    return backoffWait(() => !this.#closed && (this.#drain() || (o.until?.() ?? false)), {
      deadlineMs: o.deadlineMs,
      signal: o.signal,
      spinUs: 50,
      yieldUs: o.busyUs ?? 1000,
      sleepMs: 1,
      maxSleepMs: 5,
    });
  }
  close(): void {
    this.#closed = true;
  }
}

/** A Channel over one driver-side endpoint. */
class TestChannel implements Channel {
  readonly endpoint: RpmsgEndpoint;
  readonly #q: Uint8Array[] = [];
  constructor(readonly bus: RpmsgDevice, name: string) {
    this.endpoint = bus.createEndpoint({ name, onMessage: (d) => void this.#q.push(d.slice()) });
  }
  get maxPayload(): number {
    return this.bus.maxPayload;
  }
  async send(data: Uint8Array): Promise<void> {
    await this.endpoint.send(data);
  }
  async recv(timeoutMs: number): Promise<Uint8Array> {
    const end = performance.now() + timeoutMs;
    this.bus.poll();
    while (this.#q.length === 0) {
      const left = end - performance.now();
      if (left <= 0) {
        throw new TimeoutError(`waiting for a message on "${this.endpoint.name}"`, timeoutMs);
      }
      await this.bus.waitForWork({ deadlineMs: Math.min(left, 50) });
      this.bus.poll();
    }
    return this.#q.shift()!;
  }
}

/** A test front-end connected to a back-end socket. */
export class TestFrontEnd {
  /** The socket. */
  readonly fd: number;
  /** The guest RAM, at guest physical addresses. */
  readonly ram: MemoryRegion;
  /** The RAM file (passed with SET_MEM_TABLE). */
  readonly ramPath: string;
  readonly #ramFd: number;
  /** Kick eventfds, blocking as virtio_uml makes them (the back-end must cope). */
  readonly kick = [eventFd(0, true), eventFd(0, true)];
  readonly call = [eventFd(), eventFd()];
  #bus: RpmsgDriverBus | null = null;
  #backendReq = -1;
  #closed = false;

  private constructor(fd: number, ramPath: string) {
    this.fd = fd;
    this.ramPath = ramPath;
    this.ram = mapFile(ramPath, { base: GUEST_BASE, size: GUEST_SIZE, create: true });
    this.#ramFd = openFd(ramPath, 0o2 | 0o2000000);
  }

  /** Connect to `path`. */
  static connect(path: string): TestFrontEnd {
    const ramPath = Deno.makeTempFileSync({ prefix: "amp-vhost-ram-" });
    return new TestFrontEnd(unixConnect(path), ramPath);
  }

  /** The RAM file descriptor. */
  get ramFd(): number {
    return this.#ramFd;
  }

  /** Send raw bytes with descriptors. */
  sendRaw(bytes: Uint8Array, fds: readonly number[] = []): void {
    let off = 0;
    while (off < bytes.length) {
      const n = sendWithFds(this.fd, bytes.subarray(off), off === 0 ? fds : [], "front-end");
      if (n === null) throw new Error("front-end socket full");
      off += n;
    }
  }

  /** Send one request (flags: version, plus NEED_REPLY when asked). */
  send(
    request: number,
    payload: Uint8Array = new Uint8Array(0),
    fds: readonly number[] = [],
    needReply = false,
  ): void {
    this.sendRaw(
      encodeMessage(request, VHOST_USER_VERSION | (needReply ? FLAG_NEED_REPLY : 0), payload),
      fds,
    );
  }

  async #readExact(buf: Uint8Array, end: number): Promise<boolean> {
    let have = 0;
    while (have < buf.length) {
      const got = recvWithFds(this.fd, buf.subarray(have), 0, "front-end");
      if (got === null) {
        const left = end - performance.now();
        if (left <= 0) throw new TimeoutError("waiting for a vhost-user reply", 0);
        await pollFdsAsync([{ fd: this.fd, events: POLLIN }], Math.min(left, 50));
        continue;
      }
      if (got.n === 0) return false;
      have += got.n;
    }
    return true;
  }

  /** Read one reply; null when the back-end closed the connection. */
  async reply(timeoutMs = 5000): Promise<{ header: VhostHeader; payload: Uint8Array } | null> {
    const end = performance.now() + timeoutMs;
    const hdr = new Uint8Array(HEADER_SIZE);
    if (!(await this.#readExact(hdr, end))) return null;
    const header = decodeHeader(hdr, true);
    const payload = new Uint8Array(header.size);
    if (!(await this.#readExact(payload, end))) return null;
    return { header, payload };
  }

  /** A request answered with a u64. */
  async getU64(request: number): Promise<bigint> {
    this.send(request);
    const r = await this.reply();
    if (!r || r.payload.length !== 8) throw new Error(`no u64 reply to request ${request}`);
    return new DataView(r.payload.buffer).getBigUint64(0, true);
  }

  /** Wait until the back-end closes the connection (true) or the deadline passes (false). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    const buf = new Uint8Array(256);
    for (;;) {
      let got;
      try {
        got = recvWithFds(this.fd, buf, 0, "front-end");
      } catch {
        return true; // ECONNRESET
      }
      if (got !== null && got.n === 0) return true;
      if (got !== null) continue;
      const left = end - performance.now();
      if (left <= 0) return false;
      await pollFdsAsync([{ fd: this.fd, events: POLLIN }], Math.min(left, 50));
    }
  }

  /**
   * The handshake as virtio_uml does it (REPLY_ACK negotiated, so every
   * request without its own reply gets a status), up to enabled queues.
   * `tweak` may replace any step's payload to make it hostile.
   */
  async handshake(
    tweak: { vring1Addr?: { desc: bigint; used: bigint; avail: bigint } } = {},
  ): Promise<void> {
    this.send(Request.SET_OWNER);
    const features = await this.getU64(Request.GET_FEATURES);
    const proto = await this.getU64(Request.GET_PROTOCOL_FEATURES);
    const ack = async (request: number, payload?: Uint8Array, fds: readonly number[] = []) => {
      this.send(request, payload, fds, true);
      const r = await this.reply();
      if (!r) throw new Error(`the back-end closed the connection after request ${request}`);
      const status = new DataView(r.payload.buffer).getBigUint64(0, true);
      if (status !== 0n) throw new Error(`request ${request} failed with status ${status}`);
    };
    // REPLY_ACK and BACKEND_REQ, as virtio_uml takes them; its request channel is a pipe.
    this.send(Request.SET_PROTOCOL_FEATURES, u64Payload(proto & 0b10_1000n));
    const [reqRead, reqWrite] = pipeFds();
    try {
      await ack(Request.SET_BACKEND_REQ_FD, new Uint8Array(0), [reqWrite]);
    } finally {
      closeFd(reqWrite);
    }
    this.#backendReq = reqRead;
    await ack(Request.SET_FEATURES, u64Payload(features));
    await ack(
      Request.SET_MEM_TABLE,
      memTablePayload([{
        guestAddr: BigInt(GUEST_BASE),
        size: BigInt(GUEST_SIZE),
        userAddr: BigInt(USER_BASE),
        mmapOffset: 0n,
      }], 2),
      [this.#ramFd],
    );
    for (const [i, v] of [LAYOUT.vring0, LAYOUT.vring1].entries()) {
      const u = BigInt(USER_BASE - GUEST_BASE);
      const addr = i === 1 && tweak.vring1Addr ? tweak.vring1Addr : {
        desc: BigInt(v.pa) + u,
        avail: BigInt(v.pa + 16 * v.num) + u,
        used: BigInt(v.pa + 0x2000) + u,
      };
      await ack(Request.SET_VRING_CALL, u64Payload(BigInt(i)), [this.call[i]!]);
      await ack(Request.SET_VRING_NUM, statePayload(i, v.num));
      await ack(Request.SET_VRING_BASE, statePayload(i, 0));
      await ack(Request.SET_VRING_ADDR, addrPayload(i, addr));
    }
    for (const i of [0, 1]) {
      await ack(Request.SET_VRING_KICK, u64Payload(BigInt(i)), [this.kick[i]!]);
      await ack(Request.SET_VRING_ENABLE, statePayload(i, 1));
    }
  }

  /** Start amp's driver-role rpmsg bus on the rings (posts the RX buffers, kicks). */
  startBus(): RpmsgDriverBus {
    const bus = createRpmsgDevice({
      role: "driver",
      region: this.ram,
      notifier: new DriverNotifier(this.kick, this.call),
      ...LAYOUT,
    });
    bus.vrings[0].kickNeeded() && new DriverNotifier(this.kick, this.call).notify(0);
    this.#bus = bus;
    return bus;
  }

  /** A channel to the service `name` once the back-end announced it. */
  async channel(name: string, timeoutMs = 5000): Promise<TestChannel> {
    const bus = this.#bus ?? this.startBus();
    const ch = new TestChannel(bus, name);
    const end = performance.now() + timeoutMs;
    while (!ch.endpoint.ready) {
      const left = end - performance.now();
      if (left <= 0) throw new TimeoutError(`waiting for "${name}" to be announced`, timeoutMs);
      await bus.waitForWork({ deadlineMs: Math.min(left, 50) });
      bus.poll();
    }
    return ch;
  }

  /** Close everything (the back-end sees the connection end). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.fd);
    for (const fd of [...this.kick, ...this.call, this.#ramFd, this.#backendReq]) closeFd(fd);
    this.ram.close();
    try {
      Deno.removeSync(this.ramPath);
    } catch { /* gone */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
