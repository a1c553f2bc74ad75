/**
 * The endpoint table of a bus: local endpoints by address, and the dynamic
 * address bitmap they are allocated from. Internal to the bus (`device.ts`).
 *
 * @module
 */

import { RpmsgError } from "../errors.ts";
import {
  markDestroyed,
  type RpmsgBus,
  RpmsgEndpoint,
  type RpmsgEndpointOptions,
} from "./endpoint.ts";
import { AddressBitmap, encodeNs, RPMSG_ADDR_ANY, RPMSG_NS_ADDR } from "./_wire.ts";

function isU32(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

/** Local endpoints by address, with their address allocation. */
export class EndpointTable {
  /** Endpoints by local address. */
  readonly byAddr: Map<number, RpmsgEndpoint> = new Map();
  readonly #addrs: AddressBitmap;

  /** A table with `dynamicAddresses` addresses to allocate from 1024 up. */
  constructor(dynamicAddresses: number) {
    this.#addrs = new AddressBitmap(dynamicAddresses);
  }

  /**
   * Create an endpoint of `bus` and add it: a given address must be free and
   * not the name-service address; ANY allocates the lowest free one.
   *
   * @throws {RpmsgError} `RPMSG_NAME_TOO_LONG`, `RPMSG_NO_ADDR`, `RPMSG_BAD_ADDR`,
   *   `RPMSG_ADDR_IN_USE`.
   */
  add(bus: RpmsgBus, options: RpmsgEndpointOptions): RpmsgEndpoint {
    const name = options.name ?? "";
    if (name) encodeNs(name, 0, 0); // validates the length
    let addr = options.addr ?? RPMSG_ADDR_ANY;
    if (addr === RPMSG_ADDR_ANY) {
      addr = this.#addrs.alloc();
      if (addr < 0) {
        throw new RpmsgError(
          "RPMSG_NO_ADDR",
          `Cannot create an rpmsg endpoint: all ${this.#addrs.size} dynamic addresses are in use`,
        );
      }
    } else {
      if (!isU32(addr)) {
        throw new RpmsgError(
          "RPMSG_BAD_ADDR",
          `Cannot create an rpmsg endpoint at ${addr}: the address is not a u32`,
        );
      }
      if (addr === RPMSG_NS_ADDR || this.byAddr.has(addr) || !this.#addrs.take(addr)) {
        throw new RpmsgError(
          "RPMSG_ADDR_IN_USE",
          `Cannot create an rpmsg endpoint at ${addr}: the address is already in use`,
        );
      }
    }
    const dst = options.dst ?? RPMSG_ADDR_ANY;
    if (!isU32(dst)) {
      this.#addrs.free(addr);
      throw new RpmsgError(
        "RPMSG_BAD_ADDR",
        `Cannot create an rpmsg endpoint: its destination address ${dst} is not a u32`,
      );
    }
    const ep = new RpmsgEndpoint(bus, addr, { ...options, name, dst });
    this.byAddr.set(addr, ep);
    return ep;
  }

  /** Remove `ep` (marked destroyed, address freed); false when it is not a live endpoint of `bus`. */
  remove(bus: RpmsgBus, ep: RpmsgEndpoint): boolean {
    if (ep.device !== bus || ep.destroyed || this.byAddr.get(ep.addr) !== ep) return false;
    this.byAddr.delete(ep.addr);
    markDestroyed(ep);
    this.#addrs.free(ep.addr);
    return true;
  }

  /**
   * `ep` may send to `dst`: it is live in this table and `dst` is a known u32.
   *
   * @throws {RpmsgError} `RPMSG_EP_DESTROYED`, `RPMSG_NO_DST` (not bound yet), `RPMSG_BAD_ADDR`.
   */
  checkSend(ep: RpmsgEndpoint, dst: number): void {
    if (ep.destroyed || this.byAddr.get(ep.addr) !== ep) {
      throw new RpmsgError(
        "RPMSG_EP_DESTROYED",
        `Cannot send from rpmsg endpoint ${ep.addr} "${ep.name}": it is destroyed`,
      );
    }
    if (dst === RPMSG_ADDR_ANY) {
      throw new RpmsgError(
        "RPMSG_NO_DST",
        `Cannot send from rpmsg endpoint ${ep.addr} "${ep.name}": it has no destination yet (not bound)`,
      );
    }
    if (!isU32(dst)) {
      throw new RpmsgError("RPMSG_BAD_ADDR", `Cannot send to rpmsg address ${dst}: not a u32`);
    }
  }
}
