/**
 * One vhost-user front-end connection: it waits on the socket and the kick
 * descriptors, applies each request to the connection's state (features,
 * protocol features, guest memory, queues), replies (with `REPLY_ACK` when
 * negotiated), and starts the device once memory, features and every queue
 * are ready; it stops the device whenever the front-end changes what a
 * running session depends on, and releases everything at the end.
 *
 * @module
 */

import { isAmpError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import {
  closeFd,
  POLLERR,
  pollFdsAsync,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  readFd,
  setNonBlocking,
  writeFd,
} from "../sys/posix.ts";
import { MessageReader, sendAll } from "./_framing.ts";
import {
  checkVringRequest,
  closeQueueFds,
  kickFds,
  newQueueState,
  queueAt,
  type QueueState,
  readyQueues,
} from "./_vrings.ts";
import { checkMemTable, type GuestRegion, mapGuestMemory } from "./memory.ts";
import { VringFdNotifier } from "./notifier.ts";
import {
  ProtocolFeature,
  requestName,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostError,
  type VhostRequest,
  VIRTIO_F_VERSION_1,
} from "./protocol.ts";
import { configPayload, encodeReply, statePayload, u64Payload } from "./encode.ts";
import type { VhostConnectionEnd, VhostDevice, VhostSession } from "./types.ts";

/** Protocol features offered. */
export const OFFERED_PROTOCOL_FEATURES: bigint = (1n << BigInt(ProtocolFeature.REPLY_ACK)) |
  (1n << BigInt(ProtocolFeature.CONFIG)) | (1n << BigInt(ProtocolFeature.BACKEND_REQ));

const PROTOCOL_F = 1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES);
const VERSION_1 = 1n << BigInt(VIRTIO_F_VERSION_1);

/** One front-end connection: reads messages, keeps the protocol state, starts and stops the device. */
export class Connection {
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
  readonly #reader: MessageReader;

  /**
   * Serve front-end connection number `n` on socket `fd` (owned: closed at the
   * end); `wakeFd` is the server's eventfd that interrupts the wait.
   */
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
    this.#queues = Array.from({ length: device.numQueues }, newQueueState);
    this.#reader = new MessageReader(fd);
  }

  /** Serve until the front-end leaves, fails or the server closes; then stop the device and release everything. */
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
        const kicks = kickFds(this.#queues);
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
      error = isAmpError(e) ? e.message : `Internal error: ${e instanceof Error ? e.stack : e}`;
      code = isAmpError(e) ? e.code : "INTERNAL";
    }
    try {
      await this.#stopSession();
    } catch (e) {
      error ??= `Cannot stop the device: ${e instanceof Error ? e.message : e}`;
      code ??= "VHOST_DEVICE_FAILED";
    }
    this.#release();
    return { connection: this.#n, error, code, messages: this.#messages, sessions: this.#sessions };
  }

  /** Read and handle every complete message; false at end of stream. */
  async #readMessages(): Promise<boolean> {
    for (;;) {
      const req = this.#reader.read();
      if (req === "wait") return true;
      if (req === "end") return false;
      this.#messages++;
      await this.#handle(req);
      if (this.#failure !== null) return true;
    }
  }

  #offeredFeatures(): bigint {
    return BigInt.asUintN(64, this.#device.deviceFeatures) | VERSION_1 | PROTOCOL_F;
  }

  #protocolNegotiated(): boolean {
    return this.#features !== null && (this.#features & PROTOCOL_F) !== 0n;
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
          await sendAll(this.#fd, encodeReply(req.request, u64Payload(1n)));
        } catch { /* it is going away anyway */ }
      }
      throw e;
    }
    if (reply !== null) {
      await sendAll(this.#fd, encodeReply(req.request, reply));
    } else if (req.needReply && this.#replyAck()) {
      await sendAll(this.#fd, encodeReply(req.request, u64Payload(0n)));
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
        for (const q of this.#queues) closeQueueFds(q);
        for (let i = 0; i < this.#queues.length; i++) this.#queues[i] = newQueueState();
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
        const q = queueAt(this.#queues, req);
        checkVringRequest(req);
        if (this.#running) await this.#stopSession();
        q.num = req.num;
        break;
      }
      case "SET_VRING_BASE": {
        const q = queueAt(this.#queues, req);
        checkVringRequest(req);
        if (this.#running) await this.#stopSession();
        q.base = 0;
        break;
      }
      case "SET_VRING_ADDR": {
        const q = queueAt(this.#queues, req);
        checkVringRequest(req);
        if (this.#running) await this.#stopSession();
        q.addr = { desc: req.desc, used: req.used, avail: req.avail };
        break;
      }
      case "SET_VRING_KICK":
      case "SET_VRING_CALL":
      case "SET_VRING_ERR": {
        let q: QueueState;
        try {
          q = queueAt(this.#queues, req);
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
        const q = queueAt(this.#queues, req);
        await this.#stopSession();
        q.enabled = false;
        reply = statePayload(req.index, q.base);
        break;
      }
      case "SET_VRING_ENABLE": {
        const q = queueAt(this.#queues, req);
        checkVringRequest(req);
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
    const queues = readyQueues(this.#queues, table);
    if (queues === null) return;
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

  #release(): void {
    for (const q of this.#queues) closeQueueFds(q);
    this.#reader.release();
    if (this.#backendReq !== null) closeFd(this.#backendReq);
    this.#backendReq = null;
    this.#memory?.close();
    this.#memory = null;
    closeFd(this.#fd);
  }
}
