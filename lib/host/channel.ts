/**
 * A message channel over one rpmsg endpoint of a host session: what the demo
 * applications (`lib/apps`) talk through.
 *
 * @module
 */

import { AmpError, TimeoutError } from "../errors.ts";
import type { Channel } from "../apps/channel.ts";
import type { RpmsgDevice, RpmsgEndpoint, RpmsgWaitOptions } from "../rpmsg/mod.ts";

/**
 * Messages a channel keeps received and not read yet. Past it, further
 * messages are dropped and counted, and the next {@linkcode RpmsgChannel.recv}
 * fails with `CHANNEL_OVERFLOW` saying how many were lost: a peer cannot make
 * the host allocate without bound.
 */
export const CHANNEL_QUEUE_LIMIT = 4096;

/** Options of {@linkcode RpmsgChannel}. */
export interface RpmsgChannelOptions {
  /** Aborts sends and receives. */
  signal?: AbortSignal;
  /** Receive queue limit (default {@linkcode CHANNEL_QUEUE_LIMIT}). */
  queueLimit?: number;
  /**
   * Called while `recv` waits (about every 100 ms): throw to end the wait with
   * a reason (e.g. "the remote core stopped"). Also called with `force` true
   * when a send fails, so a remote that went away is named as the cause
   * rather than its symptom (a withdrawn service, a broken ring).
   */
  check?: (force?: boolean) => void;
}

/**
 * A message channel over one rpmsg endpoint: each received payload is copied
 * out of shared memory into a bounded queue (the remote may reuse its buffer
 * at once); `recv` drives the bus while it waits (spin, yield, then sleep).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostSession } from "./session.ts";
 * import { echoService } from "../apps/services.ts";
 * import { simTestSetup } from "../sim/_testing.ts";
 * await using t = await simTestSetup({ services: [echoService()] });
 * const s = await HostSession.open(t.profile, { memory: t.memory });
 * const ch = await s.channel("rpmsg-openamp-demo-channel");
 * await ch.send(new Uint8Array([1, 2, 3]));
 * assert((await ch.recv(5000)).length === 3);
 * await s.close();
 * ```
 */
export class RpmsgChannel implements Channel {
  /** The endpoint this channel sends from. */
  readonly endpoint: RpmsgEndpoint;
  readonly #device: RpmsgDevice;
  readonly #queue: Uint8Array[] = [];
  #head = 0;
  readonly #limit: number;
  #dropped = 0;
  readonly #signal: AbortSignal | undefined;
  readonly #check: ((force?: boolean) => void) | undefined;
  readonly #sendOptions: { signal?: AbortSignal };
  // One options object for every wait of recv (its deadline is rewritten).
  readonly #waitOptions: RpmsgWaitOptions;
  // recvInto's buffer while it waits: a message for an empty queue is copied
  // straight into it (no copy kept, nothing allocated).
  #into: Uint8Array | null = null;
  #intoLen = -1;

  /** @internal use {@linkcode HostSession.channel} */
  constructor(device: RpmsgDevice, name: string, options: RpmsgChannelOptions = {}) {
    this.#device = device;
    this.#signal = options.signal;
    this.#check = options.check;
    this.#limit = options.queueLimit ?? CHANNEL_QUEUE_LIMIT;
    this.#sendOptions = this.#signal ? { signal: this.#signal } : {};
    this.#waitOptions = this.#signal ? { deadlineMs: 0, signal: this.#signal } : { deadlineMs: 0 };
    this.endpoint = device.createEndpoint({
      name,
      onMessage: (d) => {
        const into = this.#into;
        if (into !== null && this.#head === this.#queue.length && d.length <= into.length) {
          into.set(d);
          this.#intoLen = d.length;
          this.#into = null;
          return;
        }
        if (this.queued >= this.#limit) {
          this.#dropped++;
          return;
        }
        this.#queue.push(d.slice());
      },
    });
  }

  /** Largest payload of one message. */
  get maxPayload(): number {
    return this.#device.maxPayload;
  }

  /** Messages received and not read yet. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Messages dropped because the receive queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Send one message (waits for a free TX buffer up to 15 s). When a buffer
   * is free the message is posted before this returns and nothing is
   * allocated (the promise is a shared, already resolved one).
   */
  send(data: Uint8Array): Promise<void> {
    try {
      if (this.trySend(data)) return RESOLVED;
    } catch (e) {
      return Promise.reject(e);
    }
    return this.endpoint.send(data, this.#sendOptions).catch((e) => {
      throw this.#sendFailed(e);
    });
  }

  /**
   * Send one message now if a TX buffer is free: true when it was posted,
   * false when none is free. Throws what {@linkcode send} rejects with.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { HostSession } from "./session.ts";
   * import { echoService } from "../apps/services.ts";
   * import { simTestSetup } from "../sim/_testing.ts";
   * await using t = await simTestSetup({ services: [echoService()] });
   * const s = await HostSession.open(t.profile, { memory: t.memory });
   * const ch = await s.channel("rpmsg-openamp-demo-channel");
   * assert(ch.trySend(new Uint8Array([1, 2, 3])));
   * assert.equal((await ch.recv(5000)).length, 3);
   * await s.close();
   * ```
   */
  trySend(data: Uint8Array): boolean {
    try {
      return this.endpoint.trySend(data);
    } catch (e) {
      throw this.#sendFailed(e);
    }
  }

  #sendFailed(e: unknown): unknown {
    this.#check?.(true); // a remote that went away is the better reason
    return e;
  }

  /**
   * The next message; `TimeoutError` after `timeoutMs`, `CHANNEL_OVERFLOW`
   * when messages were dropped since the last call, or what the session's
   * check throws (the remote went away).
   */
  recv(timeoutMs: number): Promise<Uint8Array> {
    try {
      this.#throwDropped();
      if (this.queued > 0 || this.#arriveNow()) return Promise.resolve(this.#shift());
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#recvWait(timeoutMs);
  }

  async #recvWait(timeoutMs: number): Promise<Uint8Array> {
    await this.#waitQueued(timeoutMs);
    return this.#shift();
  }

  /**
   * Receive the next message into `into` and resolve its length: the form of
   * {@linkcode recv} that allocates nothing per message (the message is
   * copied from the receive buffer straight into `into` when nothing is
   * queued before it). `into` must hold {@linkcode maxPayload} bytes; errors
   * are those of `recv`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { HostSession } from "./session.ts";
   * import { echoService } from "../apps/services.ts";
   * import { simTestSetup } from "../sim/_testing.ts";
   * await using t = await simTestSetup({ services: [echoService()] });
   * const s = await HostSession.open(t.profile, { memory: t.memory });
   * const ch = await s.channel("rpmsg-openamp-demo-channel");
   * const into = new Uint8Array(ch.maxPayload);
   * await ch.send(new Uint8Array([5, 6]));
   * assert.equal(await ch.recvInto(into, 5000), 2);
   * assert.deepEqual([...into.subarray(0, 2)], [5, 6]);
   * await s.close();
   * ```
   */
  recvInto(into: Uint8Array, timeoutMs: number): Promise<number> {
    try {
      const n = this.tryRecvInto(into);
      if (n >= 0) return Promise.resolve(n);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#recvIntoWait(into, timeoutMs);
  }

  /**
   * {@linkcode recvInto} without waiting: the length of the next message,
   * copied into `into`, if one is queued or comes within the bus's brief
   * spin (while traffic is recent); else -1. Throws what `recvInto` rejects
   * with, except the timeout.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { HostSession } from "./session.ts";
   * import { echoService } from "../apps/services.ts";
   * import { simTestSetup } from "../sim/_testing.ts";
   * await using t = await simTestSetup({ services: [echoService()] });
   * const s = await HostSession.open(t.profile, { memory: t.memory });
   * const ch = await s.channel("rpmsg-openamp-demo-channel");
   * const into = new Uint8Array(ch.maxPayload);
   * assert(ch.trySend(new Uint8Array([7])));
   * let n = ch.tryRecvInto(into); // -1 when the echo is not there yet
   * if (n < 0) n = await ch.recvInto(into, 5000);
   * assert(n === 1 && into[0] === 7);
   * await s.close();
   * ```
   */
  tryRecvInto(into: Uint8Array): number {
    if (into.length < this.maxPayload) {
      throw new RangeError(
        `Cannot receive into ${into.length} B: a message on this channel can be ${this.maxPayload} B`,
      );
    }
    this.#throwDropped();
    if (this.queued === 0) {
      this.#into = into;
      this.#intoLen = -1;
      try {
        this.#arriveNow();
      } finally {
        this.#into = null;
      }
      const n = this.#takeIntoLen();
      if (n >= 0) return n;
    }
    return this.queued > 0 ? this.#shiftInto(into) : -1;
  }

  async #recvIntoWait(into: Uint8Array, timeoutMs: number): Promise<number> {
    this.#into = into;
    this.#intoLen = -1;
    try {
      await this.#waitQueued(timeoutMs);
    } finally {
      this.#into = null;
    }
    const n = this.#takeIntoLen();
    return n >= 0 ? n : this.#shiftInto(into);
  }

  /** The length of a message delivered straight into recvInto's buffer, or -1 (and reset). */
  #takeIntoLen(): number {
    const n = this.#intoLen;
    this.#intoLen = -1;
    return n;
  }

  #shiftInto(into: Uint8Array): number {
    const m = this.#shift();
    into.set(m);
    return m.length;
  }

  /**
   * The next message if one is queued (after one poll of the bus), else
   * null: never waits. Throws `CHANNEL_OVERFLOW` as {@linkcode recv} does.
   */
  tryRecv(): Uint8Array | null {
    this.#throwDropped();
    if (this.queued === 0) this.#device.poll();
    return this.queued === 0 ? null : this.#shift();
  }

  #throwDropped(): void {
    if (this.#dropped === 0) return;
    const n = this.#dropped;
    this.#dropped = 0;
    throw new AmpError(
      "CHANNEL_OVERFLOW",
      `Lost ${n} message(s) on rpmsg endpoint ${this.endpoint.addr} "${this.endpoint.name}": ` +
        `its receive queue holds at most ${this.#limit}`,
    );
  }

  /**
   * Without awaiting: look at the rings (for a moment, while traffic is
   * recent: the bus's synchronous spin) and poll when there is work. True
   * when a message is queued or was delivered to recvInto's buffer.
   */
  #arriveNow(): boolean {
    const device = this.#device;
    if (device.spinForWork()) device.poll();
    return this.#arrived();
  }

  /** Until a message is queued or delivered to recvInto's buffer. */
  async #waitQueued(timeoutMs: number): Promise<void> {
    const device = this.#device;
    device.poll();
    if (this.#arrived()) return;
    const end = performance.now() + timeoutMs;
    const opts = this.#waitOptions;
    while (!this.#arrived()) {
      const left = end - performance.now();
      if (left <= 0 || this.#signal?.aborted) {
        throw new TimeoutError(
          `waiting for a message on rpmsg endpoint ${this.endpoint.addr} "${this.endpoint.name}"`,
          timeoutMs,
        );
      }
      this.#check?.();
      opts.deadlineMs = Math.min(left, 100);
      await device.waitForWork(opts);
      device.poll();
    }
  }

  #arrived(): boolean {
    return this.#intoLen >= 0 || this.#head < this.#queue.length;
  }

  #shift(): Uint8Array {
    const m = this.#queue[this.#head]!;
    this.#queue[this.#head++] = EMPTY;
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return m;
  }

  /** Destroy the endpoint (announces DESTROY). */
  close(): void {
    this.endpoint.destroy();
  }
}

const EMPTY = new Uint8Array(0);
const RESOLVED: Promise<void> = Promise.resolve();
