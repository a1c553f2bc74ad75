/**
 * QEMU riscv64 `virt` as a remote core on this machine (machines.md section
 * 4): host-shared guest RAM in `/dev/shm`, a boot stub whose per-hart
 * mailboxes start harts like SBI `hart_start`, and a minimal QMP client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mailboxAddress, qemuAvailable, QEMU_RAM_BASE } from "./mod.ts";
 * assert(mailboxAddress(0) === 0x8000_1000 && QEMU_RAM_BASE === 0x8000_0000);
 * assert(typeof qemuAvailable() === "boolean");
 * ```
 *
 * @module
 */

export {
  type HartStatus,
  type LoadRange,
  loadRangeOf,
  QEMU_BINARY,
  QEMU_DEFAULT_RAM_SIZE,
  QEMU_DTB_RESERVE,
  QEMU_RAM_BASE,
  QEMU_STUB_END,
  qemuAvailable,
  QemuRv64,
  type QemuRv64Options,
} from "./qemu_rv64.ts";
export {
  bootStubImage,
  GO_MAGIC,
  MAILBOX_BASE,
  MAILBOX_HARTS,
  MAILBOX_SIZE,
  mailboxAddress,
  MB_ARG,
  MB_BOOTS,
  MB_ENTRY,
  MB_GO,
  MB_HARTID,
  MB_LOAD_LEN,
  MB_LOAD_START,
  MB_STATE,
  STATE_PARKED,
  STATE_RUNNING,
} from "./boot_stub.ts";
export {
  QMP_MAX_EVENTS,
  QMP_MAX_LINE,
  QmpClient,
  type QmpConnectOptions,
  type QmpEvent,
} from "./qmp.ts";
