/**
 * A vhost-user back-end (device side) over a UNIX socket: it listens, serves
 * one front-end at a time (UML's `virtio_uml`, QEMU's `vhost-user-device`),
 * negotiates features, maps the guest memory it is given, collects each
 * queue's size, ring addresses and kick/call descriptors, and hands ready
 * rings to a {@linkcode VhostDevice} (e.g. the rpmsg glue). A front-end that
 * disconnects or sends anything malformed is reported and dropped; the
 * back-end then accepts the next one.
 *
 * What is offered: the device's features plus `VIRTIO_F_VERSION_1` and
 * `VHOST_USER_F_PROTOCOL_FEATURES`; protocol features `REPLY_ACK`, `CONFIG`
 * and `BACKEND_REQ`. The backend request channel is accepted and held open
 * but never written (amp has nothing to ask): UML's `virtio_uml` needs it,
 * because only setting it up allocates the interrupt its call descriptors
 * use (without it they land on IRQ 0, the timer's, and the probe fails with
 * EBUSY). Not offered (so a front-end uses eventfds/pipes for kicks and
 * calls): `INBAND_NOTIFICATIONS`, `MQ`, logging. Everything runs on the event loop: the socket and the kick
 * descriptors are waited on with `poll` off-thread.
 *
 * @module
 */

import { isAmpError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import {
  closeFd,
  eventFd,
  POLLERR,
  pollFdsAsync,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  readFd,
  recvWithFds,
  sendWithFds,
  setNonBlocking,
  unixAccept,
  unixListen,
  writeFd,
} from "../sys/posix.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import { checkMemTable, type GuestRegion, mapGuestMemory, userToGuest } from "./memory.ts";
import { VringFdNotifier } from "./notifier.ts";
import {
  configPayload,
  decodeHeader,
  decodeRequest,
  encodeReply,
  HEADER_SIZE,
  ProtocolFeature,
  requestName,
  statePayload,
  u64Payload,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostError,
  type VhostHeader,
  type VhostRequest,
  VIRTIO_F_VERSION_1,
} from "./protocol.ts";

/** One ready queue, in guest-physical addresses (the legacy contiguous split layout). */
export interface VhostQueue {
  /** Queue index. */
  index: number;
  /** Entries. */
  num: number;
  /** Descriptor table (guest physical). */
  desc: number;
  /** Avail ring (desc + 16 * num). */
  avail: number;
  /** Used ring. */
  used: number;
  /** The used ring alignment that reproduces this layout from `desc`. */
  align: number;
}

/** What a device gets when every queue is ready. */
export interface VhostSession {
  /** The guest memory (addresses are guest-physical). */
  memory: MemoryRegion;
  /** Features the front-end acknowledged. */
  features: bigint;
  /** The queues, by index. */
  queues: VhostQueue[];
  /** Kicks from the front-end; `notify(i)` interrupts it for queue `i`. */
  notifier: VringFdNotifier;
  /** Give up on this front-end: signal the queue's error descriptor (if any) and disconnect. */
  fail(reason: string, queue?: number): void;
}

/** A virtio device served over vhost-user. */
export interface VhostDevice {
  /** Device-specific feature bits offered (transport bits are added). */
  readonly deviceFeatures: bigint;
  /** Number of queues. */
  readonly numQueues: number;
  /** Config space bytes `[offset, +size)` (default: zeros). */
  readConfig?(offset: number, size: number): Uint8Array;
  /** Every queue is ready: start serving. Throwing refuses the session (the front-end is dropped). */
  start(session: VhostSession): void;
  /** Stop touching the rings and memory; resolves when done. */
  stop(): Promise<void>;
}

/** Options of {@linkcode VhostUserServer.listen}. */
export interface VhostServerOptions {
  /** Progress and error lines. */
  log?: (line: string) => void;
  /** Stop after this many front-end connections have ended (default: serve until closed). */
  maxConnections?: number;
  /**
   * Write each interrupt (call) this many ms after it was asked for, later
   * ones coalescing into it (default 0: at once). For Linux guests whose
   * receive callbacks send from interrupt context, as the kernel's
   * rpmsg_client_sample does: under UML an interrupt that arrives while the
   * guest's own sender still holds virtio_rpmsg's TX mutex (between its kick
   * and the unlock) makes the callback sleep in interrupt context ("BUG:
   * scheduling while atomic") and the guest dies. A reply that fast only
   * comes from a back-end on the same machine; a few ms avoids it.
   */
  callDelayMs?: number;
}

/** Protocol features offered. */
export const OFFERED_PROTOCOL_FEATURES: bigint = (1n << BigInt(ProtocolFeature.REPLY_ACK)) |
  (1n << BigInt(ProtocolFeature.CONFIG)) | (1n << BigInt(ProtocolFeature.BACKEND_REQ));

const PROTOCOL_F = 1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES);
const VERSION_1 = 1n << BigInt(VIRTIO_F_VERSION_1);
/** Longest time a reply may wait for room in the socket. */
const SEND_DEADLINE_MS = 5000;
/** Largest virtio split queue. */
const MAX_QUEUE_NUM = 32768;

interface QueueState {
  num?: number;
  addr?: { desc: bigint; used: bigint; avail: bigint };
  /** undefined: not set; null: poll mode (no descriptor). */
  kick?: number | null;
  call?: number | null;
  err?: number | null;
  enabled: boolean;
  /** Last avail index reported by GET_VRING_BASE. */
  base: number;
}

/** A stopped front-end with the reason, for callers and tests. */
export interface VhostConnectionEnd {
  /** Connection number (1 = first). */
  connection: number;
  /** Null for a clean disconnect, else what went wrong. */
  error: string | null;
  /** The error's code (e.g. `VHOST_BAD_SIZE`; `VHOST_DEVICE_FAILED` when the device gave up), or null. */
  code: string | null;
  /** Messages handled. */
  messages: number;
  /** Sessions started on it. */
  sessions: number;
}

/**
 * The listening back-end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VhostUserServer } from "./backend.ts";
 * import { closeFd, unixConnect } from "../sys/posix.ts";
 * const path = `${Deno.makeTempDirSync()}/vhost.sock`;
 * const server = VhostUserServer.listen(path, {
 *   deviceFeatures: 1n,
 *   numQueues: 2,
 *   start() {},
 *   stop: () => Promise.resolve(),
 * });
 * const fd = unixConnect(path);
 * closeFd(fd);
 * const end = await server.nextEnd(5000);
 * assert(end !== undefined && end.error === null);
 * await server.close();
 * ```
 */
export class VhostUserServer {
  /** Socket path. */
  readonly path: string;
  /** Front-end connections accepted. */
  connections = 0;
  /** Ended connections, oldest first (their reasons). */
  readonly ended: VhostConnectionEnd[] = [];
  /** Settles when the server has stopped (after {@linkcode close} or maxConnections). */
  readonly done: Promise<void>;
  readonly #device: VhostDevice;
  readonly #log: (line: string) => void;
  readonly #max: number;
  readonly #callDelayMs: number;
  readonly #listenFd: number;
  readonly #wakeFd: number;
  #closing = false;
  #endWaiters: (() => void)[] = [];

  private constructor(path: string, device: VhostDevice, options: VhostServerOptions) {
    this.path = path;
    this.#device = device;
    this.#log = options.log ?? (() => {});
    this.#max = options.maxConnections ?? Infinity;
    this.#callDelayMs = options.callDelayMs ?? 0;
    this.#listenFd = unixListen(path);
    try {
      this.#wakeFd = eventFd();
    } catch (e) {
      closeFd(this.#listenFd);
      throw e;
    }
    this.done = this.#serve();
  }

  /** Listen on `path` (a stale socket file is replaced) and serve `device` to each front-end in turn. */
  static listen(
    path: string,
    device: VhostDevice,
    options: VhostServerOptions = {},
  ): VhostUserServer {
    return new VhostUserServer(path, device, options);
  }

  /** Wait until the next connection ends (or the server stops); undefined at the deadline. */
  async nextEnd(
    timeoutMs: number,
    after = this.ended.length,
  ): Promise<VhostConnectionEnd | undefined> {
    const end = performance.now() + timeoutMs;
    while (this.ended.length <= after && !this.#closing) {
      const left = end - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.#endWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.ended[after];
  }

  /** Stop: drop the front-end, stop the device, close the socket and remove its file. */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        writeFd(this.#wakeFd, u64Payload(1n), "vhost wake eventfd");
      } catch { /* the loop is gone */ }
    }
    await this.done.catch(() => {});
  }

  async #serve(): Promise<void> {
    try {
      while (!this.#closing && this.ended.length < this.#max) {
        const [ev = 0] = await pollFdsAsync(
          [{ fd: this.#listenFd, events: POLLIN }, { fd: this.#wakeFd, events: POLLIN }],
          1000,
        );
        if (this.#closing) break;
        if ((ev & POLLIN) === 0) continue;
        const fd = unixAccept(this.#listenFd, this.path);
        if (fd === null) continue;
        const n = ++this.connections;
        this.#log(`vhost-user: front-end ${n} connected on ${this.path}`);
        const conn = new Connection(
          n,
          fd,
          this.#wakeFd,
          this.#device,
          this.#log,
          () => this.#closing,
          this.#callDelayMs,
        );
        const end = await conn.serve();
        this.ended.push(end);
        this.#log(
          end.error === null
            ? `vhost-user: front-end ${n} disconnected (${end.messages} messages, ${end.sessions} session(s))`
            : `vhost-user: front-end ${n} dropped: ${end.error}`,
        );
        for (const w of this.#endWaiters.splice(0)) w();
      }
    } finally {
      this.#closing = true;
      closeFd(this.#listenFd);
      closeFd(this.#wakeFd);
      try {
        Deno.removeSync(this.path);
      } catch { /* already gone */ }
      for (const w of this.#endWaiters.splice(0)) w();
    }
  }
}

/** One front-end connection: reads messages, keeps the protocol state, starts and stops the device. */
class Connection {
  readonly #n: number;
  readonly #fd: number;
  readonly #wakeFd: number;
  readonly #device: VhostDevice;
  readonly #log: (line: string) => void;
  readonly #closing: () => boolean;
  readonly #callDelayMs: number;
  readonly #queues: QueueState[];
  #features: bigint | null = null;
  #protocolFeatures = 0n;
  #table: GuestRegion[] | null = null;
  #memory: MemoryRegion | null = null;
  #notifier: VringFdNotifier | null = null;
  /** The backend request channel (held, never written). */
  #backendReq: number | null = null;
  #running = false;
  #failure: string | null = null;
  #messages = 0;
  #sessions = 0;
  // reader state
  #hdrBuf = new Uint8Array(HEADER_SIZE);
  #hdrHave = 0;
  #header: VhostHeader | null = null;
  #payload = new Uint8Array(0);
  #payloadHave = 0;
  #fds: number[] = [];

  constructor(
    n: number,
    fd: number,
    wakeFd: number,
    device: VhostDevice,
    log: (line: string) => void,
    closing: () => boolean,
    callDelayMs: number,
  ) {
    this.#callDelayMs = callDelayMs;
    this.#n = n;
    this.#fd = fd;
    this.#wakeFd = wakeFd;
    this.#device = device;
    this.#log = log;
    this.#closing = closing;
    this.#queues = Array.from({ length: device.numQueues }, () => ({ enabled: false, base: 0 }));
  }

  async serve(): Promise<VhostConnectionEnd> {
    let error: string | null = null;
    let code: string | null = null;
    try {
      for (;;) {
        if (this.#failure !== null) {
          error = this.#failure;
          code = "VHOST_DEVICE_FAILED";
          break;
        }
        if (this.#closing()) break;
        const kicks = this.#queues.flatMap((q, i) =>
          typeof q.kick === "number" ? [{ i, fd: q.kick }] : []
        );
        const ev = await pollFdsAsync([
          { fd: this.#fd, events: POLLIN },
          { fd: this.#wakeFd, events: POLLIN },
          ...kicks.map((k) => ({ fd: k.fd, events: POLLIN })),
        ], 1000);
        const kicked: number[] = [];
        kicks.forEach((k, j) => {
          if ((ev[2 + j]! & POLLIN) !== 0) {
            // Exactly one read per readable report: front-ends make blocking
            // eventfds (virtio_uml does), where a second read would block the
            // whole back-end. One read empties an eventfd; a pipe with more
            // bytes left is simply reported readable again.
            try {
              if ((readFd(k.fd, new Uint8Array(8), `kick descriptor of queue ${k.i}`) ?? 0) > 0) {
                kicked.push(k.i);
              }
            } catch { /* a bad descriptor: nothing to read */ }
          }
        });
        for (const q of kicked) this.#notifier?.raise(q);
        if ((ev[0]! & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) !== 0) {
          if (!(await this.#readMessages())) break;
        }
      }
    } catch (e) {
      error = isAmpError(e) ? e.message : `internal error: ${e instanceof Error ? e.stack : e}`;
      code = isAmpError(e) ? e.code : "INTERNAL";
    }
    try {
      await this.#stopSession();
    } catch (e) {
      error ??= `stopping the device failed: ${e instanceof Error ? e.message : e}`;
      code ??= "VHOST_DEVICE_FAILED";
    }
    this.#release();
    return { connection: this.#n, error, code, messages: this.#messages, sessions: this.#sessions };
  }

  /** Read and handle every complete message; false at end of stream. */
  async #readMessages(): Promise<boolean> {
    for (;;) {
      if (this.#header === null) {
        const got = recvWithFds(
          this.#fd,
          this.#hdrBuf.subarray(this.#hdrHave),
          8,
          "vhost-user socket",
        );
        if (got === null) return true;
        this.#takeFds(got.fds, got.fdsTruncated);
        if (got.n === 0) {
          if (this.#hdrHave > 0) {
            throw new VhostError(
              "VHOST_TRUNCATED",
              `the front-end closed the connection inside a message header (${this.#hdrHave} of ${HEADER_SIZE} bytes)`,
            );
          }
          return false;
        }
        this.#hdrHave += got.n;
        if (this.#hdrHave < HEADER_SIZE) continue;
        this.#header = decodeHeader(this.#hdrBuf);
        this.#payload = new Uint8Array(this.#header.size);
        this.#payloadHave = 0;
      }
      const h = this.#header;
      if (this.#payloadHave < h.size) {
        const got = recvWithFds(
          this.#fd,
          this.#payload.subarray(this.#payloadHave),
          8,
          "vhost-user socket",
        );
        if (got === null) return true;
        this.#takeFds(got.fds, got.fdsTruncated);
        if (got.n === 0) {
          throw new VhostError(
            "VHOST_TRUNCATED",
            `the front-end closed the connection inside ${
              requestName(h.request)
            } (${this.#payloadHave} of ${h.size} payload bytes)`,
          );
        }
        this.#payloadHave += got.n;
        if (this.#payloadHave < h.size) continue;
      }
      const fds = this.#fds;
      this.#fds = [];
      this.#header = null;
      this.#hdrHave = 0;
      let req: VhostRequest;
      try {
        req = decodeRequest(h, this.#payload, fds);
      } catch (e) {
        for (const fd of fds) closeFd(fd);
        throw e;
      }
      this.#messages++;
      await this.#handle(req);
      if (this.#failure !== null) return true;
    }
  }

  #takeFds(fds: number[], truncated: boolean): void {
    this.#fds.push(...fds);
    if (truncated) {
      throw new VhostError(
        "VHOST_BAD_FDS",
        "the front-end passed more descriptors with one message than any request takes",
      );
    }
  }

  async #send(bytes: Uint8Array): Promise<void> {
    let off = 0;
    const end = performance.now() + SEND_DEADLINE_MS;
    while (off < bytes.length) {
      const n = sendWithFds(this.#fd, bytes.subarray(off), [], "vhost-user socket");
      if (n !== null) {
        off += n;
        continue;
      }
      if (performance.now() >= end) {
        throw new VhostError(
          "VHOST_REPLY_STUCK",
          `the front-end read no reply for ${SEND_DEADLINE_MS} ms`,
        );
      }
      await pollFdsAsync([{ fd: this.#fd, events: POLLOUT }], 50);
    }
  }

  #offeredFeatures(): bigint {
    return BigInt.asUintN(64, this.#device.deviceFeatures) | VERSION_1 | PROTOCOL_F;
  }

  #protocolNegotiated(): boolean {
    return this.#features !== null && (this.#features & PROTOCOL_F) !== 0n;
  }

  #queue(req: { index: number; request: number }): QueueState {
    const q = this.#queues[req.index];
    if (!q) {
      throw new VhostError(
        "VHOST_BAD_INDEX",
        `${
          requestName(req.request)
        }: queue ${req.index} does not exist (the device has ${this.#queues.length})`,
      );
    }
    return q;
  }

  async #handle(req: VhostRequest): Promise<void> {
    let reply: Uint8Array | null;
    try {
      reply = await this.#apply(req);
      this.#maybeStart();
    } catch (e) {
      // Tell a front-end that waits for a status that this request failed, then drop it.
      if (req.needReply && this.#replyAck()) {
        try {
          await this.#send(encodeReply(req.request, u64Payload(1n)));
        } catch { /* it is going away anyway */ }
      }
      throw e;
    }
    if (reply !== null) {
      await this.#send(encodeReply(req.request, reply));
    } else if (req.needReply && this.#replyAck()) {
      await this.#send(encodeReply(req.request, u64Payload(0n)));
    }
  }

  #replyAck(): boolean {
    return (this.#protocolFeatures & (1n << BigInt(ProtocolFeature.REPLY_ACK))) !== 0n;
  }

  /** Apply one request to the state; returns the reply payload of requests that have one. */
  async #apply(req: VhostRequest): Promise<Uint8Array | null> {
    let reply: Uint8Array | null = null;
    switch (req.type) {
      case "SET_OWNER":
        break;
      case "RESET_OWNER":
        await this.#stopSession();
        this.#features = null;
        this.#protocolFeatures = 0n;
        for (const q of this.#queues) this.#closeQueueFds(q);
        for (let i = 0; i < this.#queues.length; i++) this.#queues[i] = { enabled: false, base: 0 };
        break;
      case "GET_FEATURES":
        reply = u64Payload(this.#offeredFeatures());
        break;
      case "SET_FEATURES": {
        const extra = req.value & ~this.#offeredFeatures();
        if (extra !== 0n) {
          throw new VhostError(
            "VHOST_FEATURES",
            `SET_FEATURES 0x${req.value.toString(16)} acknowledges bits 0x${
              extra.toString(16)
            } that were not offered (0x${this.#offeredFeatures().toString(16)})`,
          );
        }
        if (this.#running && req.value !== this.#features) await this.#stopSession();
        this.#features = req.value;
        break;
      }
      case "GET_PROTOCOL_FEATURES":
        reply = u64Payload(OFFERED_PROTOCOL_FEATURES);
        break;
      case "SET_PROTOCOL_FEATURES": {
        const extra = req.value & ~OFFERED_PROTOCOL_FEATURES;
        if (extra !== 0n) {
          throw new VhostError(
            "VHOST_FEATURES",
            `SET_PROTOCOL_FEATURES 0x${req.value.toString(16)} acknowledges bits 0x${
              extra.toString(16)
            } that were not offered (0x${OFFERED_PROTOCOL_FEATURES.toString(16)})`,
          );
        }
        this.#protocolFeatures = req.value;
        break;
      }
      case "GET_QUEUE_NUM":
        reply = u64Payload(BigInt(this.#queues.length));
        break;
      case "SET_MEM_TABLE": {
        try {
          await this.#stopSession();
          const table = checkMemTable(req.regions);
          const memory = mapGuestMemory(table, req.fds);
          this.#memory?.close();
          this.#memory = memory;
          this.#table = table;
          this.#log(
            `vhost-user: front-end ${this.#n}: guest memory ${
              table.map((r) =>
                `[${hex(r.guestAddr)}, +${hex(r.size)}) at user ${hex(r.userAddr)}, file offset ${
                  hex(r.mmapOffset)
                }`
              ).join("; ")
            }`,
          );
        } finally {
          for (const fd of req.fds) closeFd(fd);
        }
        break;
      }
      case "SET_VRING_NUM": {
        const q = this.#queue(req);
        if (req.num < 1 || req.num > MAX_QUEUE_NUM || (req.num & (req.num - 1)) !== 0) {
          throw new VhostError(
            "VHOST_BAD_FIELD",
            `SET_VRING_NUM: queue ${req.index} size ${req.num} is not a power of two in 1..${MAX_QUEUE_NUM}`,
          );
        }
        if (this.#running) await this.#stopSession();
        q.num = req.num;
        break;
      }
      case "SET_VRING_BASE": {
        const q = this.#queue(req);
        if (req.num !== 0) {
          throw new VhostError(
            "VHOST_BAD_FIELD",
            `SET_VRING_BASE: queue ${req.index} base ${req.num}: amp's queues start at avail index 0 only`,
          );
        }
        if (this.#running) await this.#stopSession();
        q.base = 0;
        break;
      }
      case "SET_VRING_ADDR": {
        const q = this.#queue(req);
        if ((req.addrFlags & 1) !== 0) {
          throw new VhostError(
            "VHOST_BAD_FIELD",
            `SET_VRING_ADDR: queue ${req.index} asks for used-ring logging, which was not offered`,
          );
        }
        if (this.#running) await this.#stopSession();
        q.addr = { desc: req.desc, used: req.used, avail: req.avail };
        break;
      }
      case "SET_VRING_KICK":
      case "SET_VRING_CALL":
      case "SET_VRING_ERR": {
        let q: QueueState;
        try {
          q = this.#queue(req);
        } catch (e) {
          if (req.fd !== null) closeFd(req.fd);
          throw e;
        }
        const key = req.type === "SET_VRING_KICK"
          ? "kick"
          : req.type === "SET_VRING_CALL"
          ? "call"
          : "err";
        if (this.#running && key !== "err") await this.#stopSession();
        const old = q[key];
        if (typeof old === "number") closeFd(old);
        // Calls and errors are written from the event loop: never let a full
        // pipe block it (the front-end reads its own end non-blocking anyway).
        if (key !== "kick" && req.fd !== null) {
          try {
            setNonBlocking(req.fd, `${key} descriptor of queue ${req.index}`);
          } catch (e) {
            closeFd(req.fd);
            throw e;
          }
        }
        q[key] = req.fd;
        // Without protocol features a ring starts when its kick descriptor comes.
        if (key === "kick" && !this.#protocolNegotiated()) q.enabled = true;
        break;
      }
      case "GET_VRING_BASE": {
        const q = this.#queue(req);
        await this.#stopSession();
        q.enabled = false;
        reply = statePayload(req.index, q.base);
        break;
      }
      case "SET_VRING_ENABLE": {
        const q = this.#queue(req);
        if (req.num > 1) {
          throw new VhostError(
            "VHOST_BAD_FIELD",
            `SET_VRING_ENABLE: queue ${req.index} state ${req.num} is neither 0 nor 1`,
          );
        }
        if (req.num === 0 && this.#running) await this.#stopSession();
        q.enabled = req.num === 1;
        break;
      }
      case "GET_CONFIG": {
        this.#needProtocol(ProtocolFeature.CONFIG, req);
        const data = this.#device.readConfig?.(req.offset, req.size) ?? new Uint8Array(req.size);
        const out = new Uint8Array(req.size);
        out.set(data.subarray(0, req.size));
        reply = configPayload(req.offset, out, req.configFlags);
        break;
      }
      case "SET_CONFIG":
        this.#needProtocol(ProtocolFeature.CONFIG, req);
        break; // rpmsg has no writable config space
      case "SET_BACKEND_REQ_FD":
        try {
          this.#needProtocol(ProtocolFeature.BACKEND_REQ, req);
        } catch (e) {
          closeFd(req.fd);
          throw e;
        }
        if (this.#backendReq !== null) closeFd(this.#backendReq);
        this.#backendReq = req.fd;
        break;
      case "VRING_KICK":
        this.#needProtocol(ProtocolFeature.INBAND_NOTIFICATIONS, req);
        break;
      case "UNSUPPORTED":
        throw new VhostError(
          "VHOST_UNSUPPORTED",
          `${req.name} is not implemented by amp's vhost-user back-end`,
        );
    }
    return reply;
  }

  #needProtocol(bit: number, req: VhostRequest): void {
    if ((this.#protocolFeatures & (1n << BigInt(bit))) === 0n) {
      throw new VhostError(
        "VHOST_NOT_NEGOTIATED",
        `${requestName(req.request)} needs protocol feature ${bit}, which was not negotiated`,
      );
    }
  }

  /** Start the device once memory, features and every queue are ready. */
  #maybeStart(): void {
    if (this.#running || this.#failure !== null) return;
    const memory = this.#memory, table = this.#table;
    if (!memory || !table || this.#features === null) return;
    for (const q of this.#queues) {
      if (q.num === undefined || !q.addr || q.kick === undefined || !q.enabled) return;
    }
    const queues = this.#queues.map((q, index) => placeQueue(table, index, q.num!, q.addr!));
    const notifier = new VringFdNotifier(this.#queues.map((q) => q.call ?? null), {
      callDelayMs: this.#callDelayMs,
    });
    const session: VhostSession = {
      memory,
      features: this.#features,
      queues,
      notifier,
      fail: (reason, queue) => this.#fail(reason, queue),
    };
    this.#notifier = notifier;
    this.#running = true;
    this.#sessions++;
    this.#log(
      `vhost-user: front-end ${this.#n}: session ${this.#sessions} starts (features 0x${
        this.#features.toString(16)
      }; ${queues.map((q) => `queue ${q.index}: ${q.num} at ${hex(q.desc)}`).join(", ")})`,
    );
    try {
      this.#device.start(session);
    } catch (e) {
      this.#running = false;
      notifier.close();
      this.#notifier = null;
      throw e;
    }
  }

  #fail(reason: string, queue?: number): void {
    if (this.#failure !== null) return;
    this.#failure = reason;
    const err = queue === undefined ? undefined : this.#queues[queue]?.err;
    if (typeof err === "number") {
      try {
        writeFd(err, u64Payload(1n), `error descriptor of queue ${queue}`);
      } catch { /* the front-end is gone */ }
    }
    try {
      writeFd(this.#wakeFd, u64Payload(1n), "vhost wake eventfd");
    } catch { /* closing */ }
  }

  async #stopSession(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#notifier?.close();
    this.#notifier = null;
    try {
      await this.#device.stop();
    } finally {
      this.#log(`vhost-user: front-end ${this.#n}: session ${this.#sessions} stopped`);
    }
  }

  #closeQueueFds(q: QueueState): void {
    for (const k of ["kick", "call", "err"] as const) {
      const fd = q[k];
      if (typeof fd === "number") closeFd(fd);
      q[k] = undefined;
    }
  }

  #release(): void {
    for (const q of this.#queues) this.#closeQueueFds(q);
    for (const fd of this.#fds) closeFd(fd);
    this.#fds = [];
    if (this.#backendReq !== null) closeFd(this.#backendReq);
    this.#backendReq = null;
    this.#memory?.close();
    this.#memory = null;
    closeFd(this.#fd);
  }
}

/**
 * Where queue `index` is, in guest-physical addresses: the three ring parts
 * translated through the table, and checked to form the contiguous split
 * layout amp's virtqueues use (avail right after the descriptors, used at
 * the next multiple of some power-of-two alignment).
 *
 * @throws {VhostError} `VHOST_ADDR_OUTSIDE`, `VHOST_RING_LAYOUT`.
 */
export function placeQueue(
  table: readonly GuestRegion[],
  index: number,
  num: number,
  addr: { desc: bigint; used: bigint; avail: bigint },
): VhostQueue {
  const desc = userToGuest(table, addr.desc, 16 * num, `queue ${index} descriptor table`);
  const avail = userToGuest(table, addr.avail, 6 + 2 * num, `queue ${index} avail ring`);
  const used = userToGuest(table, addr.used, 6 + 8 * num, `queue ${index} used ring`);
  if (avail === desc + 16 * num && used > avail) {
    for (let align = 4; align <= 0x10000; align *= 2) {
      if (vringLayout(num, align, desc).used === used - desc) {
        return { index, num, desc, avail, used, align };
      }
    }
  }
  throw new VhostError(
    "VHOST_RING_LAYOUT",
    `queue ${index}: rings at desc ${hex(desc)}, avail ${hex(avail)}, used ${
      hex(used)
    } (num ${num}) are not one contiguous split ring (avail must follow the descriptors, used the avail ring at a power-of-two alignment)`,
  );
}
