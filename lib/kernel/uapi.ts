/**
 * Facts from the Linux uapi header `linux/rpmsg.h` that amp needs to drive
 * the kernel's rpmsg character devices, written from the header's
 * definitions: the ioctl encoding of `asm-generic/ioctl.h` (nr in bits 0-7,
 * type in 8-15, size in 16-29, direction in 30-31; write = 1, read = 2) and
 * `struct rpmsg_endpoint_info { char name[32]; __u32 src; __u32 dst; }`
 * (40 bytes, no padding, native byte order).
 *
 * @module
 */

import { RPMSG_NAME_SIZE } from "../rpmsg/mod.ts";
import { ConfigError } from "../errors.ts";

/** ioctl direction: no data. */
export const IOC_NONE = 0;
/** ioctl direction: user space writes (the kernel reads the argument). */
export const IOC_WRITE = 1;
/** ioctl direction: user space reads. */
export const IOC_READ = 2;

/**
 * `_IOC(dir, type, nr, size)`: the 32-bit ioctl request number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ioc, IOC_WRITE } from "./uapi.ts";
 * assert.equal(ioc(IOC_WRITE, 0xb5, 1, 40), 0x4028b501);
 * ```
 */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  for (
    const [what, v, max] of [["dir", dir, 3], ["type", type, 0xff], ["nr", nr, 0xff], [
      "size",
      size,
      0x3fff,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      throw new ConfigError("IOCTL_FIELD", `ioctl ${what} ${v} is not an integer in 0..${max}`);
    }
  }
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/**
 * `_IO(type, nr)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { io } from "./uapi.ts";
 * assert.equal(io(0xb5, 0x2), 0xb502); // RPMSG_DESTROY_EPT_IOCTL
 * ```
 */
export const io = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
/**
 * `_IOW(type, nr, size)` (size = `sizeof` the argument).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iow } from "./uapi.ts";
 * assert.equal(iow(0xb5, 0x1, 40), 0x4028_b501); // RPMSG_CREATE_EPT_IOCTL
 * ```
 */
export const iow = (type: number, nr: number, size: number): number =>
  ioc(IOC_WRITE, type, nr, size);

/** The ioctl type byte of rpmsg. */
export const RPMSG_IOCTL_TYPE = 0xb5;
/** `sizeof(struct rpmsg_endpoint_info)`. */
export const ENDPOINT_INFO_SIZE = 40;

/** `RPMSG_CREATE_EPT_IOCTL` = `_IOW(0xb5, 1, struct rpmsg_endpoint_info)`, on /dev/rpmsg_ctrlN. */
export const RPMSG_CREATE_EPT_IOCTL = 0x4028b501;
/** `RPMSG_DESTROY_EPT_IOCTL` = `_IO(0xb5, 2)`, on /dev/rpmsgN. */
export const RPMSG_DESTROY_EPT_IOCTL = 0xb502;
/** `RPMSG_CREATE_DEV_IOCTL` = `_IOW(0xb5, 3, struct rpmsg_endpoint_info)`. */
export const RPMSG_CREATE_DEV_IOCTL = 0x4028b503;
/** `RPMSG_RELEASE_DEV_IOCTL` = `_IOW(0xb5, 4, struct rpmsg_endpoint_info)`. */
export const RPMSG_RELEASE_DEV_IOCTL = 0x4028b504;

/**
 * Encode `struct rpmsg_endpoint_info`: the name NUL-padded (at most 31 UTF-8
 * bytes, so the kernel always sees a terminated string), then src and dst.
 *
 * @throws {ConfigError} `RPMSG_NAME` for a name too long or containing NUL;
 *   `RPMSG_ADDR` for an address that is not a u32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEndpointInfo } from "./uapi.ts";
 * import { RPMSG_ADDR_ANY } from "../rpmsg/mod.ts";
 * const b = encodeEndpointInfo("rpmsg-client-sample", RPMSG_ADDR_ANY, 1024);
 * assert.equal(b.length, 40);
 * assert.equal(new DataView(b.buffer).getUint32(36, true), 1024);
 * ```
 */
export function encodeEndpointInfo(name: string, src: number, dst: number): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length >= RPMSG_NAME_SIZE || name.includes("\0")) {
    throw new ConfigError(
      "RPMSG_NAME",
      `rpmsg name ${JSON.stringify(name)} must be at most ${
        RPMSG_NAME_SIZE - 1
      } UTF-8 bytes without NUL (it is ${bytes.length})`,
    );
  }
  for (const [what, v] of [["src", src], ["dst", dst]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new ConfigError("RPMSG_ADDR", `rpmsg ${what} address ${v} is not a u32`);
    }
  }
  const out = new Uint8Array(ENDPOINT_INFO_SIZE);
  out.set(bytes, 0);
  const v = new DataView(out.buffer);
  v.setUint32(32, src, true);
  v.setUint32(36, dst, true);
  return out;
}
