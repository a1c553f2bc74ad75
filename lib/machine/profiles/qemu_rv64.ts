/**
 * The `qemu-rv64` machine (machines.md section 4): QEMU riscv64 `virt` run by
 * amp on this machine, whose guest RAM is one file in `/dev/shm` that the host
 * maps too. By default QEMU boots OpenSBI and amp's SBI agent, and the remote
 * hart is started in S-mode through SBI HSM, as the seed's Linux does. The guest view is the `rv64-virt` one (image at 0x90200000, shared
 * memory at 0x90100000, notify block at 0x90000000); every region is a window
 * of the RAM file at file offset `pa - 0x80000000`.
 *
 * The process that runs `amp load` launches QEMU (the `qemu-rv64` control
 * backend) and owns it; any other process maps the same regions from this
 * data alone (file backings), without launching anything.
 *
 * @module
 */

import type { MachineProfile } from "../types.ts";
import { rv64VirtProfile } from "./rv64_virt.ts";

/** Guest physical address of the first byte of the RAM file (QEMU `virt`). */
export const QEMU_RV64_RAM_BASE = 0x8000_0000;
/** Guest RAM size of the built-in profile (512 MiB). */
export const QEMU_RV64_RAM_SIZE = 0x2000_0000;
/** Default RAM file name in `/dev/shm`. */
export const QEMU_RV64_DEFAULT_NAME = "amp-qemu-rv64";

/** Options for {@linkcode qemuRv64Profile}. */
export interface QemuRv64ProfileOptions {
  /**
   * Name of the guest RAM file in `/dev/shm` (default `"amp-qemu-rv64"`): the
   * regions map `/dev/shm/<name>`. Use a unique name per concurrent machine.
   */
  name?: string;
  /** QEMU binary (default: `qemu-system-riscv64` from PATH). */
  binary?: string;
  /** Number of harts (default 2: hart 0 runs the SBI agent or stays parked, the remote is hart 1). */
  smp?: number;
  /**
   * How QEMU boots and starts the remote (default `"sbi"`: OpenSBI + amp's SBI
   * agent, the firmware entered in S-mode through SBI HSM as on the seed;
   * `"direct"`: amp's M-mode boot stub, for bare M-mode firmware).
   */
  boot?: "sbi" | "direct";
  /** `-bios` of the `"sbi"` boot (default QEMU's bundled OpenSBI). */
  bios?: string;
}

/**
 * Build the `qemu-rv64` profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuRv64Profile } from "./qemu_rv64.ts";
 * const p = qemuRv64Profile({ name: "t1" });
 * const shm = p.regions.find((r) => r.roles.includes("shm"))!;
 * assert(shm.backing.kind === "file" && shm.backing.path === "/dev/shm/t1");
 * assert(shm.backing.kind === "file" && shm.backing.offset === 0x1010_0000);
 * assert(p.control.kind === "qemu-rv64" && p.control.boot === "sbi");
 * ```
 */
export function qemuRv64Profile(options: QemuRv64ProfileOptions = {}): MachineProfile {
  const name = options.name ?? QEMU_RV64_DEFAULT_NAME;
  const path = `/dev/shm/${name}`;
  const base = rv64VirtProfile();
  const control: MachineProfile["control"] = {
    kind: "qemu-rv64",
    ramBase: QEMU_RV64_RAM_BASE,
    ramSize: QEMU_RV64_RAM_SIZE,
    smp: options.smp ?? 2,
    boot: options.boot ?? "sbi",
  };
  if (options.binary !== undefined) control.binary = options.binary;
  if (options.bios !== undefined) control.bios = options.bios;
  return {
    ...base,
    name: "qemu-rv64",
    description: "QEMU riscv64 virt run by amp: the rv64-virt guest view, every region a " +
      "window of the guest RAM file /dev/shm/<name>, the remote hart started through SBI HSM " +
      "(OpenSBI + amp's agent) and stopped by a machine reset",
    regions: base.regions.map((r) => ({
      ...r,
      backing: { kind: "file", path, offset: r.pa - QEMU_RV64_RAM_BASE },
    })),
    control,
  };
}

/** The default `qemu-rv64` profile (RAM file `/dev/shm/amp-qemu-rv64`). */
export const QEMU_RV64: MachineProfile = qemuRv64Profile();
