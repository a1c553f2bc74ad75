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

import {
  closeFd,
  eventFd,
  pollFdsAsync,
  POLLIN,
  unixAccept,
  unixListen,
  writeFd,
} from "../sys/posix.ts";
import { Connection } from "./_connection.ts";
import { u64Payload } from "./encode.ts";
import type { VhostConnectionEnd, VhostDevice, VhostServerOptions } from "./types.ts";

export { OFFERED_PROTOCOL_FEATURES } from "./_connection.ts";

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
