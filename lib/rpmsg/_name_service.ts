/**
 * The rpmsg name service (openamp-wire.md section 4, "Announce and bind"):
 * announcing local endpoints, and binding or unbinding them when the peer
 * announces or destroys a service. Internal to the bus (`device.ts`).
 *
 * @module
 */

import { RpmsgError } from "../errors.ts";
import { type RpmsgEndpoint, setDst } from "./endpoint.ts";
import type { RpmsgDeviceCounters } from "./types.ts";
import { decodeNs, encodeNs, RPMSG_ADDR_ANY, RPMSG_NS_CREATE, RPMSG_NS_DESTROY } from "./_wire.ts";

/**
 * Most services of the peer remembered at once (name -> address). An
 * announcement of one more new name is dropped and counted as
 * `RPMSG_NS_TOO_MANY_SERVICES` (logged at most once a second), so a peer
 * cannot grow this side's memory without bound.
 */
export const RPMSG_MAX_REMOTE_SERVICES = 256;

/** What the name service needs from its bus. */
export interface NsBus {
  /** The local endpoints by address. */
  readonly endpoints: ReadonlyMap<number, RpmsgEndpoint>;
  /** Counters (nsCreate, nsDestroy). */
  readonly stats: RpmsgDeviceCounters;
  /** Send a name-service message from `src` now; false when it cannot go yet. */
  sendNs(src: number, msg: Uint8Array): boolean;
  /** Count and log (rate-limited) a dropped message. */
  drop(reason: string, message: string): void;
}

/** Name-service state of one bus: queued announcements and the peer's services. */
export class NameService {
  /** True when name service is negotiated (VIRTIO_RPMSG_F_NS). */
  enabled: boolean;
  /** Services the peer announced and has not destroyed (name -> address). */
  readonly services: Map<string, number> = new Map();
  readonly #bus: NsBus;
  readonly #onBind: ((name: string, addr: number) => void) | undefined;
  readonly #onUnbind: ((name: string, addr: number) => void) | undefined;
  #pending: { src: number; msg: Uint8Array }[] = [];

  /** Name service over `bus`; the callbacks get names no local endpoint takes. */
  constructor(
    bus: NsBus,
    enabled: boolean,
    onBind: ((name: string, addr: number) => void) | undefined,
    onUnbind: ((name: string, addr: number) => void) | undefined,
  ) {
    this.#bus = bus;
    this.enabled = enabled;
    this.#onBind = onBind;
    this.#onUnbind = onUnbind;
  }

  /** True when announcements wait for a TX buffer. */
  get pending(): boolean {
    return this.#pending.length > 0;
  }

  /** True when `ep` is announced: named, announcing, created with dst ANY, NS on. */
  #announces(ep: RpmsgEndpoint): boolean {
    return this.enabled && ep.name !== "" && ep.announce && ep.initialDst === RPMSG_ADDR_ANY;
  }

  /** Announce `ep` (CREATE) if it is announced at all; queued until a buffer is free. */
  announce(ep: RpmsgEndpoint): void {
    if (this.#announces(ep)) this.#queue(ep.addr, encodeNs(ep.name, ep.addr, RPMSG_NS_CREATE));
  }

  /** Withdraw `ep` (DESTROY) if it was announced. */
  withdraw(ep: RpmsgEndpoint): void {
    if (this.#announces(ep)) this.#queue(ep.addr, encodeNs(ep.name, ep.addr, RPMSG_NS_DESTROY));
  }

  /** Bind a new endpoint created with dst ANY to a service the peer announced before. */
  bindNew(ep: RpmsgEndpoint): void {
    if (ep.name === "" || ep.dst !== RPMSG_ADDR_ANY) return;
    const known = this.services.get(ep.name);
    if (known !== undefined) setDst(ep, known);
  }

  #queue(src: number, msg: Uint8Array): void {
    this.#pending.push({ src, msg });
    this.flush();
  }

  /** Send queued announcements in order while the bus takes them. */
  flush(): void {
    const q = this.#pending;
    while (q.length > 0) {
      const m = q[0]!;
      if (!this.#bus.sendNs(m.src, m.msg)) return;
      q.shift();
    }
  }

  /** Forget queued announcements and the peer's services (a new session). */
  reset(): void {
    this.#pending = [];
    this.services.clear();
  }

  /**
   * Handle a message to the name-service address: `data` is the payload as
   * received (40 bytes expected; decoded from one copy). Malformed messages
   * are dropped with the decoder's code.
   */
  handle(data: Uint8Array): void {
    let m;
    try {
      m = decodeNs(data);
    } catch (e) {
      if (e instanceof RpmsgError) {
        this.#bus.drop(e.code, `Dropped a malformed name-service message: ${e.message}`);
        return;
      }
      throw e;
    }
    if (m.flags === RPMSG_NS_CREATE) this.#created(m.name, m.addr);
    else this.#destroyed(m.name, m.addr);
  }

  #created(name: string, addr: number): void {
    const services = this.services;
    if (!services.has(name) && services.size >= RPMSG_MAX_REMOTE_SERVICES) {
      this.#bus.drop(
        "RPMSG_NS_TOO_MANY_SERVICES",
        `Dropped the name-service CREATE of "${name}" at ${addr}: the peer already announced ${RPMSG_MAX_REMOTE_SERVICES} services`,
      );
      return;
    }
    this.#bus.stats.nsCreate++;
    services.set(name, addr);
    for (const ep of this.#bus.endpoints.values()) {
      if (ep.name === name && ep.dst === RPMSG_ADDR_ANY) {
        setDst(ep, addr);
        return;
      }
    }
    this.#onBind?.(name, addr);
  }

  #destroyed(name: string, addr: number): void {
    this.#bus.stats.nsDestroy++;
    if (this.services.get(name) === addr) this.services.delete(name);
    let found = false;
    for (const ep of this.#bus.endpoints.values()) {
      if (ep.name === name && ep.dst === addr) {
        found = true;
        setDst(ep, RPMSG_ADDR_ANY);
        ep.onUnbind?.(ep);
      }
    }
    if (!found) this.#onUnbind?.(name, addr);
  }
}
