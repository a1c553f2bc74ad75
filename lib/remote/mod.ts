/**
 * amp as the remote (virtio device) on machines where the remote is a Linux
 * process that publishes its own resource table (`openamp-linux`), serving
 * the demo services to upstream OpenAMP's driver apps or to amp's host.
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

export { type Remote, type RemoteOptions, startRemote } from "./remote.ts";
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
} from "./table.ts";
