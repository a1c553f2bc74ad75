/**
 * A message channel over one rpmsg endpoint of a host session: what the demo
 * applications (`lib/apps`) talk through.
 *
 * @module
 */

import { AmpError, TimeoutError } from "../errors.ts";
import type { Channel } from "../apps/channel.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../rpmsg/mod.ts";

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

  /** @internal use {@linkcode HostSession.channel} */
  constructor(device: RpmsgDevice, name: string, options: RpmsgChannelOptions = {}) {
    this.#device = device;
    this.#signal = options.signal;
    this.#check = options.check;
    this.#limit = options.queueLimit ?? CHANNEL_QUEUE_LIMIT;
    this.endpoint = device.createEndpoint({
      name,
      onMessage: (d) => {
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

  /** Send one message (waits for a free TX buffer up to 15 s). */
  async send(data: Uint8Array): Promise<void> {
    try {
      await this.endpoint.send(data, this.#signal ? { signal: this.#signal } : {});
    } catch (e) {
      this.#check?.(true);
      throw e;
    }
  }

  /**
   * The next message; `TimeoutError` after `timeoutMs`, `CHANNEL_OVERFLOW`
   * when messages were dropped since the last call, or what the session's
   * check throws (the remote went away).
   */
  async recv(timeoutMs: number): Promise<Uint8Array> {
    this.#checkOverflow();
    if (this.queued === 0) this.#device.poll();
    if (this.queued === 0) {
      const device = this.#device;
      const end = performance.now() + timeoutMs;
      while (this.queued === 0) {
        const left = end - performance.now();
        if (left <= 0 || this.#signal?.aborted) {
          throw new TimeoutError(
            `waiting for a message on rpmsg endpoint ${this.endpoint.addr} "${this.endpoint.name}"`,
            timeoutMs,
          );
        }
        this.#check?.();
        await device.waitForWork({
          deadlineMs: Math.min(left, 100),
          ...(this.#signal ? { signal: this.#signal } : {}),
        });
        device.poll();
      }
    }
    return this.#take();
  }

  /**
   * The next message if one is queued (after one poll of the bus), else
   * null: never waits. Throws `CHANNEL_OVERFLOW` as {@linkcode recv} does.
   */
  tryRecv(): Uint8Array | null {
    this.#checkOverflow();
    if (this.queued === 0) this.#device.poll();
    return this.queued === 0 ? null : this.#take();
  }

  #checkOverflow(): void {
    if (this.#dropped === 0) return;
    const n = this.#dropped;
    this.#dropped = 0;
    throw new AmpError(
      "CHANNEL_OVERFLOW",
      `Lost ${n} message(s) on rpmsg endpoint ${this.endpoint.addr} "${this.endpoint.name}": ` +
        `its receive queue holds at most ${this.#limit}`,
    );
  }

  #take(): Uint8Array {
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
