/**
 * Local rpmsg endpoints, and the interface of the bus they live on.
 *
 * @module
 */

import type { RpmsgCounters, RpmsgSendOptions } from "./types.ts";
import { RPMSG_ADDR_ANY } from "./_wire.ts";

/**
 * Message callback. `data` is a zero-copy view of the received buffer in
 * shared memory, valid only during the call (or until `releaseRx` after
 * `holdRx`); see `RpmsgDevice` for what an application must copy.
 */
export type RpmsgCallback = (data: Uint8Array, src: number, ep: RpmsgEndpoint) => void;

/** Options for `RpmsgDevice.createEndpoint`. */
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

/**
 * What an endpoint forwards to the bus it lives on. `RpmsgDevice`
 * implements it in both roles.
 */
export interface RpmsgBus {
  /** Send from `ep` to `dst` if a buffer is free now; false if none. */
  trySend(ep: RpmsgEndpoint, data: Uint8Array, dst?: number): boolean;
  /** Blocking send from `ep` to its dst. */
  send(ep: RpmsgEndpoint, data: Uint8Array, options?: RpmsgSendOptions): Promise<void>;
  /** Blocking send from `ep` to an explicit address. */
  sendTo(
    ep: RpmsgEndpoint,
    dst: number,
    data: Uint8Array,
    options?: RpmsgSendOptions,
  ): Promise<void>;
  /** Wait until `ep` is bound, polling the bus meanwhile. */
  waitReady(
    ep: RpmsgEndpoint,
    options: { deadlineMs: number; signal?: AbortSignal },
  ): Promise<void>;
  /** Remove `ep`: announce DESTROY (if it was announced) and free its address. */
  destroyEndpoint(ep: RpmsgEndpoint): void;
}

function counters(): RpmsgCounters {
  return { rxMessages: 0, rxBytes: 0, txMessages: 0, txBytes: 0, drops: new Map() };
}

let setDstOf: (ep: RpmsgEndpoint, dst: number) => void;
let markDestroyedOf: (ep: RpmsgEndpoint) => void;

/**
 * Set the destination of `ep` (binding by name service or first message,
 * unbinding, reset). For the bus inside lib/rpmsg; not re-exported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RpmsgEndpoint, setDst } from "./endpoint.ts";
 * const ep = new RpmsgEndpoint({} as never, 1024, { onMessage: () => {} });
 * setDst(ep, 1025);
 * assert(ep.ready && ep.dst === 1025);
 * ```
 */
export function setDst(ep: RpmsgEndpoint, dst: number): void {
  setDstOf(ep, dst);
}

/**
 * Mark `ep` destroyed. For the bus inside lib/rpmsg; not re-exported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markDestroyed, RpmsgEndpoint } from "./endpoint.ts";
 * const ep = new RpmsgEndpoint({} as never, 1024, { dst: 7, onMessage: () => {} });
 * markDestroyed(ep);
 * assert(ep.destroyed && !ep.ready);
 * ```
 */
export function markDestroyed(ep: RpmsgEndpoint): void {
  markDestroyedOf(ep);
}

/**
 * A local rpmsg endpoint. Created by `RpmsgDevice.createEndpoint`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
 * const got: string[] = [];
 * remote.createEndpoint({ name: "echo", onMessage: (d, _src, ep) => ep.trySend(d) });
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
  readonly device: RpmsgBus;
  /** Service name ("" if none). */
  readonly name: string;
  /** Local address. */
  readonly addr: number;
  /** Counters for this endpoint. */
  readonly stats: RpmsgCounters = counters();
  /** Message callback (called by the bus). */
  readonly onMessage: RpmsgCallback;
  /** Unbind callback (called by the bus). */
  readonly onUnbind: ((ep: RpmsgEndpoint) => void) | undefined;
  /** Whether the bus announces this endpoint through name service. */
  readonly announce: boolean;
  /** Destination given at creation (restored on reset). */
  readonly initialDst: number;
  #dst: number;
  #destroyed = false;

  static {
    setDstOf = (ep, dst) => {
      ep.#dst = dst;
    };
    markDestroyedOf = (ep) => {
      ep.#destroyed = true;
    };
  }

  /** Made by the bus: use `RpmsgDevice.createEndpoint`. */
  constructor(device: RpmsgBus, addr: number, o: RpmsgEndpointOptions) {
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
  /** Send to `dst` (blocking while no buffer is free); see `RpmsgDevice.send`. */
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
