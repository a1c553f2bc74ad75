/**
 * QEMU riscv64 `virt` as a remote core on this machine (machines.md section
 * 4): host-shared guest RAM in `/dev/shm`; harts started in S-mode through
 * SBI HSM by an agent on OpenSBI (boot `"sbi"`, as on the seed) or released
 * in M-mode by a boot stub's per-hart mailboxes (boot `"direct"`); the guest
 * UART as a UNIX socket plus a log file; a minimal QMP client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AGENT_MAILBOX, mailboxAddress, qemuAvailable, QEMU_RAM_BASE } from "./mod.ts";
 * assert(mailboxAddress(0) === 0x8000_1000 && QEMU_RAM_BASE === 0x8000_0000);
 * assert(AGENT_MAILBOX === 0x8040_0000);
 * assert(typeof qemuAvailable() === "boolean");
 * ```
 *
 * @module
 */

export { loadRangeOf, qemuAvailable, QemuRv64 } from "./qemu.ts";
export {
  firmwareDiag,
  type FirmwarePingOptions,
  firmwarePingPong,
  FW_DIAG_MAGIC,
  FW_DIAG_MAGIC_VALUE,
  FW_DIAG_PING,
  FW_DIAG_PONG,
} from "./diag_ping.ts";
export {
  type HartState,
  type HartStatus,
  type HsmStatus,
  type LoadRange,
  QEMU_BINARY,
  QEMU_BOOT_MODES,
  QEMU_DEFAULT_BIOS,
  QEMU_DEFAULT_RAM_SIZE,
  QEMU_DTB_RESERVE,
  QEMU_RAM_BASE,
  QEMU_SBI_RESERVED_END,
  QEMU_STUB_END,
  type QemuBootMode,
  qemuReservedEnd,
  type QemuRv64Options,
} from "./types.ts";
export {
  AG_ACK_SEQ,
  AG_AGENT_HART,
  AG_BOOTS,
  AG_ENTRY,
  AG_ERROR,
  AG_FIRST_HART,
  AG_HART,
  AG_HAS_HSM,
  AG_IMPL_ID,
  AG_IMPL_VERSION,
  AG_LOAD_LEN,
  AG_LOAD_START,
  AG_MAGIC,
  AG_OP,
  AG_OPAQUE,
  AG_REQ_SEQ,
  AG_SPEC_VERSION,
  AG_STATUS,
  AG_STATUS_SIZE,
  AGENT_HANDOVER_TAG,
  AGENT_LOAD_ADDR,
  AGENT_MAGIC,
  AGENT_MAILBOX,
  AGENT_MAILBOX_SIZE,
  AGENT_OP_HART_START,
  AGENT_STATUS_HARTS,
  agentImage,
  type AgentInfo,
  agentStatusAddress,
  AGS_ERROR,
  AGS_REFRESH,
  AGS_STATE,
  HSM_RESUME_PENDING,
  HSM_START_PENDING,
  HSM_STARTED,
  HSM_STATE_FAILED,
  HSM_STOP_PENDING,
  HSM_STOPPED,
  HSM_SUSPEND_PENDING,
  HSM_SUSPENDED,
  hsmStateName,
  readAgentInfo,
  sbiErrorName,
} from "./agent.ts";
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
  CONSOLE_KEEP,
  type ConsoleConnectOptions,
  type ConsoleMatch,
  type ExpectOptions as QemuExpectOptions,
  QemuConsole,
} from "./console.ts";
export {
  QMP_MAX_EVENTS,
  QMP_MAX_LINE,
  QmpClient,
  type QmpConnectOptions,
  type QmpEvent,
} from "./qmp.ts";
export {
  processesMapping,
  qemuMachineOf,
  QemuRv64Backend,
  type QemuRv64BackendOptions,
  type QemuRv64Machine,
} from "./backend.ts";
