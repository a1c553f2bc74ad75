/**
 * The vocabulary of the QEMU `virt` remote core: guest RAM layout constants,
 * boot modes, launch options, load ranges and what a hart's status reads.
 *
 * @module
 */

import { AGENT_MAILBOX, AGENT_MAILBOX_SIZE } from "./agent.ts";
import { MAILBOX_BASE, MAILBOX_HARTS, MAILBOX_SIZE } from "./boot_stub.ts";

/** Guest physical address of RAM on the `virt` board. */
export const QEMU_RAM_BASE = 0x8000_0000;
/** Default guest RAM size (512 MiB: covers 0x80000000..0xA0000000). */
export const QEMU_DEFAULT_RAM_SIZE = 0x2000_0000;
/** Top of RAM QEMU uses for its device tree; never host data. */
export const QEMU_DTB_RESERVE = 0x20_0000;
/** RAM below this address belongs to the boot stub and its mailboxes (boot `"direct"`). */
export const QEMU_STUB_END: number = MAILBOX_BASE + MAILBOX_HARTS * MAILBOX_SIZE;
/** RAM below this address belongs to OpenSBI, the SBI agent and its mailbox (boot `"sbi"`). */
export const QEMU_SBI_RESERVED_END: number = AGENT_MAILBOX + AGENT_MAILBOX_SIZE;
/** Default binary. */
export const QEMU_BINARY = "qemu-system-riscv64";
/** Default `-bios` of the `"sbi"` boot: QEMU's bundled OpenSBI `fw_dynamic`. */
export const QEMU_DEFAULT_BIOS = "default";

/**
 * How QEMU boots and how harts are started: `"sbi"` = OpenSBI + the SBI agent,
 * harts started in S-mode through SBI HSM; `"direct"` = `-bios none` + the
 * M-mode boot stub.
 */
export type QemuBootMode = "sbi" | "direct";
/** Every boot mode. */
export const QEMU_BOOT_MODES: readonly QemuBootMode[] = ["sbi", "direct"];

/**
 * The first guest address the host may use for its own data in boot mode
 * `boot` (everything below belongs to the boot stub, or to OpenSBI and the
 * agent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuReservedEnd } from "./types.ts";
 * assert(qemuReservedEnd("sbi") === 0x8040_1000);
 * assert(qemuReservedEnd("direct") === 0x8000_1200);
 * ```
 */
export function qemuReservedEnd(boot: QemuBootMode): number {
  return boot === "sbi" ? QEMU_SBI_RESERVED_END : QEMU_STUB_END;
}

/** Longest UNIX socket path (sun_path holds 108 bytes with the NUL). */

/** Options of {@linkcode QemuRv64.launch}. */
export interface QemuRv64Options {
  /** QEMU binary (default `qemu-system-riscv64`, looked up in PATH). */
  binary?: string;
  /** Number of harts, 1..8 (default 2). */
  smp?: number;
  /** Guest RAM bytes: a multiple of 2 MiB, 16 MiB..2 GiB (default 512 MiB). */
  ramSize?: number;
  /**
   * RAM file path (default `/dev/shm/amp-qemu-<pid>-<n>-<random>`). It must not exist: it is
   * created here and removed by close().
   */
  ramFile?: string;
  /**
   * Directory for the QMP and console sockets, the agent image and the console
   * log (default: a fresh temp dir, removed by close()).
   */
  workDir?: string;
  /** QMP socket path (default `<workDir>/qmp.sock`); removed by close(). */
  qmpPath?: string;
  /** How QEMU boots and starts harts (default `"sbi"`). */
  boot?: QemuBootMode;
  /** `-bios` of the `"sbi"` boot: `"default"` (QEMU's OpenSBI) or a firmware file. */
  bios?: string;
  /**
   * File that receives every byte the guest UART prints (default
   * `<workDir>/console.log`; appended to, kept by close() unless it is in the
   * temporary work dir).
   */
  consoleLog?: string;
  /** Deadline for QEMU to come up with every hart waiting (default 15000 ms). */
  timeoutMs?: number;
  /** Extra QEMU arguments, appended. */
  extraArgs?: string[];
}

/** A range of guest memory the stub or agent re-writes before a start (see {@linkcode loadRangeOf}). */
export interface LoadRange {
  /** First guest address. */
  start: number;
  /** Length in bytes (0: nothing). */
  len: number;
}

/**
 * A hart's state. Boot `"sbi"`: what SBI HSM `hart_get_status` says
 * (`running` STARTED, `stopped` STOPPED, `starting` START/RESUME_PENDING,
 * `stopping` STOP_PENDING, `suspended` SUSPENDED/SUSPEND_PENDING). Boot
 * `"direct"`: `parked` in the stub or `running` after a start. `unknown`:
 * neither (before boot, during a reset, or the SBI call failed).
 */
export type HartState =
  | "running"
  | "stopped"
  | "starting"
  | "stopping"
  | "suspended"
  | "parked"
  | "unknown";

/** The SBI view of a hart, from the agent's status table (boot `"sbi"`). */
export interface HsmStatus {
  /** HSM state value (0xFFFFFFFF when `hart_get_status` failed). */
  state: number;
  /** Its SBI name, e.g. `"STOPPED"`. */
  name: string;
  /** SBI error of the last `hart_get_status` (0 ok). */
  error: number;
  /** Times the agent refreshed the entry. */
  refreshes: number;
}

/** What the machine says about one hart. */
export interface HartStatus {
  /** The hart's index, 0..smp-1. */
  hart: number;
  /** Its state (see {@linkcode HartState}). */
  state: HartState;
  /**
   * Boot `"sbi"`: times the agent started (boot and every reset). Boot
   * `"direct"`: times the stub was entered on this hart (resets + 1).
   */
  boots: number;
  /** Boot `"sbi"` only: the agent's status table entry. */
  hsm?: HsmStatus;
}
