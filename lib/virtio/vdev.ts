/**
 * Virtio status and feature negotiation through the vdev entry of a resource
 * table living in shared memory (openamp-wire.md section 1).
 *
 * The host (driver) writes `gfeatures` and the status byte; the remote
 * (device) polls the status byte until DRIVER_OK and then uses
 * `dfeatures & gfeatures`. Everything in the entry is shared with the peer and
 * therefore re-read and re-checked on every call, never cached.
 *
 * @module
 */

import { MemoryBoundsError, VirtioError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import {
  RSC_VDEV,
  VDEV_CONFIG_LEN,
  VDEV_DFEATURES,
  VDEV_GFEATURES,
  VDEV_ID,
  VDEV_NOTIFYID,
  VDEV_NUM_VRINGS,
  VDEV_RESERVED,
  VDEV_SIZE,
  VDEV_STATUS,
  VDEV_VRINGS,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FAILED,
  VRING_ALIGN,
  VRING_DA,
  VRING_NOTIFYID,
  VRING_NUM,
  VRING_RESERVED,
  VRING_SIZE,
} from "../rsc/layout.ts";
import { waitFor } from "../util/wait.ts";
import { VRING_MAX_ALIGN, VRING_MAX_NUM } from "./virtqueue.ts";

/** Most vrings a vdev may declare (Linux refuses more than 2). */
export const VDEV_MAX_VRINGS = 2;

/** One validated vring descriptor of a vdev entry. */
export interface VdevVring {
  /** Position in the entry (0 = vring0). */
  index: number;
  /** Device address of the ring (may be `FW_RSC_U32_ADDR_ANY` until the host assigns it). */
  da: number;
  /** Used ring alignment (power of two). */
  align: number;
  /** Entries (power of two, 1..32768). */
  num: number;
  /** Notify id of the ring. */
  notifyid: number;
}

/** Options for {@linkcode SharedVdev}. */
export interface SharedVdevOptions {
  /** Name for error messages, e.g. `"vdev0"`. */
  name?: string;
}

/** Options for {@linkcode SharedVdev.waitDriverOk}. */
export interface WaitDriverOkOptions {
  /** Give up after this many milliseconds (TimeoutError). */
  deadlineMs: number;
  /** Stop waiting when aborted (AmpError `ABORTED`). */
  signal?: AbortSignal;
}

function isPow2(n: number, max: number): boolean {
  return n >= 1 && n <= max && (n & (n - 1)) === 0;
}

/**
 * A vdev resource entry in shared memory, used by either end.
 *
 * Driver (host) side: {@linkcode reset}, {@linkcode writeGuestFeatures},
 * {@linkcode setDriverOk}, {@linkcode deviceFeatures}, {@linkcode writeVringDa}.
 * Device (remote) side: {@linkcode waitDriverOk}, {@linkcode negotiatedFeatures},
 * {@linkcode statusReset}. Both: {@linkcode status}, {@linkcode vrings}.
 *
 * Peer-written content that fails a check throws a {@linkcode VirtioError}:
 * `VDEV_BAD_TYPE`, `VDEV_TOO_MANY_VRINGS`, `VDEV_TRUNCATED` (vrings plus
 * config space run past the region), `VDEV_RESERVED`, `VDEV_VRING_NUM`,
 * `VDEV_VRING_ALIGN`, `VDEV_VRING_RESERVED`, `VDEV_FAILED` (the driver set
 * FAILED while the device waited).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedVdev } from "./vdev.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const shm = heapRegion(0x1000, 0x100);
 * shm.setU32(0x1000, 3); // type = vdev
 * shm.setU32(0x1000 + 12, 1); // dfeatures: NS
 * const host = new SharedVdev(shm, 0x1000), remote = new SharedVdev(shm, 0x1000);
 * host.writeGuestFeatures(host.deviceFeatures());
 * host.setDriverOk();
 * await remote.waitDriverOk({ deadlineMs: 1000 });
 * assert(remote.negotiatedFeatures() === 1 && shm.u8(0x1000 + 24) === 4);
 * ```
 */
export class SharedVdev {
  /** Name used in errors. */
  readonly name: string;
  /** Physical address of the entry's `type` word. */
  readonly pa: number;
  #region: MemoryRegion;
  #status: Uint8Array; // zero-copy view of the status byte
  #sawDriverOk = false;

  /**
   * Wrap the vdev entry at `pa` in `region`.
   *
   * @throws {MemoryBoundsError} `VDEV_OUTSIDE` when the fixed 28-byte part is not in `region`.
   * @throws {VirtioError} `VDEV_BAD_TYPE` when the entry's type is not 3.
   */
  constructor(region: MemoryRegion, pa: number, options: SharedVdevOptions = {}) {
    const name = options.name ?? `vdev@${hex(pa)}`;
    if (!region.contains(pa, VDEV_SIZE)) {
      throw new MemoryBoundsError(
        "VDEV_OUTSIDE",
        `${name}: entry [${hex(pa)}, +${hex(VDEV_SIZE)}) is outside region ${region.name} [${
          hex(region.base)
        }, +${hex(region.size)})`,
      );
    }
    this.name = name;
    this.pa = pa;
    this.#region = region;
    this.#status = region.bytes(pa + VDEV_STATUS, 1);
    const type = region.u32(pa);
    if (type !== RSC_VDEV) {
      throw new VirtioError(
        "VDEV_BAD_TYPE",
        `${name}: entry type ${type} is not vdev (${RSC_VDEV})`,
      );
    }
  }

  #live(): MemoryRegion {
    if (this.#region.closed) {
      throw new VirtioError("VDEV_CLOSED", `${this.name}: region ${this.#region.name} is closed`);
    }
    return this.#region;
  }

  /** Virtio device id (rpmsg = 7). */
  get id(): number {
    return this.#live().u32(this.pa + VDEV_ID);
  }
  /** Notify id of the device. */
  get notifyid(): number {
    return this.#live().u32(this.pa + VDEV_NOTIFYID);
  }
  /** Device features (`dfeatures`). */
  deviceFeatures(): number {
    return this.#live().u32(this.pa + VDEV_DFEATURES);
  }
  /** Features the driver accepted (`gfeatures`). */
  guestFeatures(): number {
    return this.#live().u32(this.pa + VDEV_GFEATURES);
  }
  /** Device side: the features both ends agree on, `dfeatures & gfeatures`. */
  negotiatedFeatures(): number {
    return (this.deviceFeatures() & this.guestFeatures()) >>> 0;
  }

  /** Driver side: write `gfeatures` (a u32 bit set). */
  writeGuestFeatures(bits: number): void {
    if ((bits >>> 0) !== bits) {
      throw new VirtioError("VDEV_BAD_ARG", `${this.name}: features ${bits} are not a u32`);
    }
    this.#live().setU32(this.pa + VDEV_GFEATURES, bits);
  }

  /** The status byte as it is now (atomic load). */
  status(): number {
    this.#live();
    return Atomics.load(this.#status, 0);
  }
  /** Write the status byte (atomic store of a u8). */
  writeStatus(value: number): void {
    if ((value & 0xff) !== value) {
      throw new VirtioError("VDEV_BAD_ARG", `${this.name}: status ${value} is not a u8`);
    }
    this.#live();
    Atomics.store(this.#status, 0, value);
  }
  /** Driver side: reset the device (status = 0). */
  reset(): void {
    this.writeStatus(0);
  }
  /** Driver side: announce the driver is ready. Writes exactly DRIVER_OK (4), as OpenAMP does. */
  setDriverOk(): void {
    this.writeStatus(VIRTIO_STATUS_DRIVER_OK);
  }
  /** True when the status byte has DRIVER_OK. */
  driverOk(): boolean {
    return (this.status() & VIRTIO_STATUS_DRIVER_OK) !== 0;
  }

  /**
   * Device side: wait until the driver sets DRIVER_OK (spin, then yield, then
   * poll about every millisecond). Resolves with the status byte.
   *
   * @throws {TimeoutError} after `deadlineMs`.
   * @throws {VirtioError} `VDEV_FAILED` when the driver sets FAILED instead.
   */
  async waitDriverOk(options: WaitDriverOkOptions): Promise<number> {
    const status = await waitFor(() => {
      const s = this.status();
      if ((s & VIRTIO_STATUS_FAILED) !== 0) {
        throw new VirtioError(
          "VDEV_FAILED",
          `${this.name}: the driver set status ${hex(s)} (FAILED) instead of DRIVER_OK`,
        );
      }
      return (s & VIRTIO_STATUS_DRIVER_OK) !== 0 ? s : 0;
    }, {
      deadlineMs: options.deadlineMs,
      ...(options.signal ? { signal: options.signal } : {}),
      what: `waiting for DRIVER_OK on ${this.name}`,
    });
    this.#sawDriverOk = true;
    return status;
  }

  /**
   * Device side: true when this object saw DRIVER_OK (through
   * {@linkcode waitDriverOk}) and the status byte no longer has it, i.e. the
   * host reset the device (a new host session). The device should then drop
   * its queues and wait for DRIVER_OK again. A reset followed by a new
   * DRIVER_OK entirely between two checks cannot be seen from the byte alone.
   */
  statusReset(): boolean {
    return this.#sawDriverOk && (this.status() & VIRTIO_STATUS_DRIVER_OK) === 0;
  }

  /**
   * Read and validate `num_of_vrings` and every vring descriptor (untrusted
   * shared memory; checked on every call).
   */
  vrings(): VdevVring[] {
    return this.#entry().vrings;
  }

  /**
   * Read `num_of_vrings`, `config_len` and the vring descriptors once each and
   * check them; every later use of these values comes from this read.
   */
  #entry(): { vrings: VdevVring[]; configLen: number } {
    const r = this.#live();
    const pa = this.pa;
    const n = r.u8(pa + VDEV_NUM_VRINGS);
    const configLen = r.u32(pa + VDEV_CONFIG_LEN);
    if (n > VDEV_MAX_VRINGS) {
      throw new VirtioError(
        "VDEV_TOO_MANY_VRINGS",
        `${this.name}: num_of_vrings ${n} > ${VDEV_MAX_VRINGS}`,
      );
    }
    const need = VDEV_VRINGS + VRING_SIZE * n + configLen; // < 2^33, exact
    if (!r.contains(pa, need)) {
      throw new VirtioError(
        "VDEV_TRUNCATED",
        `${this.name}: entry with ${n} vrings and ${configLen} config bytes [${hex(pa)}, +${
          hex(need)
        }) runs past region ${r.name} [${hex(r.base)}, +${hex(r.size)})`,
      );
    }
    const res = r.u16(pa + VDEV_RESERVED);
    if (res !== 0) {
      throw new VirtioError("VDEV_RESERVED", `${this.name}: reserved bytes are ${hex(res)}, not 0`);
    }
    const out: VdevVring[] = [];
    for (let i = 0; i < n; i++) {
      const v = pa + VDEV_VRINGS + VRING_SIZE * i;
      const ring: VdevVring = {
        index: i,
        da: r.u32(v + VRING_DA),
        align: r.u32(v + VRING_ALIGN),
        num: r.u32(v + VRING_NUM),
        notifyid: r.u32(v + VRING_NOTIFYID),
      };
      if (!isPow2(ring.num, VRING_MAX_NUM)) {
        throw new VirtioError(
          "VDEV_VRING_NUM",
          `${this.name}: vring${i} num ${ring.num} is not a power of two in 1..${VRING_MAX_NUM}`,
        );
      }
      if (!isPow2(ring.align, VRING_MAX_ALIGN)) {
        throw new VirtioError(
          "VDEV_VRING_ALIGN",
          `${this.name}: vring${i} align ${ring.align} is not a non-zero power of two`,
        );
      }
      const vres = r.u32(v + VRING_RESERVED);
      if (vres !== 0) {
        throw new VirtioError(
          "VDEV_VRING_RESERVED",
          `${this.name}: vring${i} reserved is ${hex(vres)}, not 0`,
        );
      }
      out.push(ring);
    }
    return { vrings: out, configLen };
  }

  /**
   * Copy of the config space (after the vrings), validated like
   * {@linkcode vrings}. `config_len` is read once: the length checked against
   * the region is the length copied.
   */
  config(): Uint8Array {
    const { vrings, configLen } = this.#entry();
    return this.#live().read(this.pa + VDEV_VRINGS + VRING_SIZE * vrings.length, configLen);
  }

  /** Driver side: write the device address chosen for vring `index`. */
  writeVringDa(index: number, da: number): void {
    const n = this.vrings().length;
    if (!Number.isInteger(index) || index < 0 || index >= n) {
      throw new VirtioError("VDEV_BAD_ARG", `${this.name}: vring index ${index} (entry has ${n})`);
    }
    if ((da >>> 0) !== da) {
      throw new VirtioError("VDEV_BAD_ARG", `${this.name}: vring da ${da} is not a u32`);
    }
    this.#live().setU32(this.pa + VDEV_VRINGS + VRING_SIZE * index + VRING_DA, da);
  }
}
