/**
 * The Linux kernel's own rpmsg stack from user space: channel discovery in
 * sysfs and rpmsg_char endpoints usable as the demo apps' `Channel`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iow, RPMSG_CREATE_EPT_IOCTL } from "./mod.ts";
 * assert.equal(iow(0xb5, 1, 40), RPMSG_CREATE_EPT_IOCTL);
 * ```
 *
 * @module
 */

export {
  type FindChannelOptions,
  findRpmsgChannel,
  KERNEL_RPMSG_MAX_PAYLOAD,
  type KernelChannel,
  type KernelEndpointDevice,
  type KernelPaths,
  listRpmsgChannels,
  listRpmsgControls,
  listRpmsgEndpoints,
  parseRpmsgAddr,
  RpmsgCharEndpoint,
  type RpmsgCharOptions,
} from "./rpmsg_char.ts";
export {
  encodeEndpointInfo,
  ENDPOINT_INFO_SIZE,
  io,
  ioc,
  IOC_NONE,
  IOC_READ,
  IOC_WRITE,
  iow,
  RPMSG_CREATE_DEV_IOCTL,
  RPMSG_CREATE_EPT_IOCTL,
  RPMSG_DESTROY_EPT_IOCTL,
  RPMSG_IOCTL_TYPE,
  RPMSG_RELEASE_DEV_IOCTL,
} from "./uapi.ts";
