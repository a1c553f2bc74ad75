/**
 * amp as the remote (the virtio device role): the device-role runtime on any
 * machine profile (`startDevice`, what the simulated core runs), and amp as
 * the remote process of the `openamp-linux` machine (`startLinuxRemote`),
 * serving the demo services to upstream OpenAMP's driver apps or to amp's host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteServices, remoteTable } from "./mod.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * assert(remoteTable(OPENAMP_LINUX).length === 88);
 * assert(remoteServices(["sample"])[0]?.name === "rpmsg-client-sample");
 * ```
 *
 * @module
 */

export { type LinuxRemote, type LinuxRemoteOptions, startLinuxRemote } from "./openamp_linux.ts";
export { type DeviceOptions, type DeviceRuntime, startDevice } from "./runtime.ts";
export {
  finiteSampleService,
  REMOTE_SERVICE_NAMES,
  type RemoteServiceName,
  remoteServices,
} from "./services.ts";
export {
  hasDriverOk,
  REMOTE_NOTIFY_IDS,
  REMOTE_STATUS_OFFSET,
  REMOTE_VDEV_OFFSET,
  remoteTable,
} from "./upstream_table.ts";
