/**
 * The `rv64-virt` machine (machines.md section 1): QEMU riscv64 `virt`, Linux
 * on hart 0, the remote on hart 1 from 0x90200000, memory through UIO, start
 * and stop through `/sys/firmware/openamp/`, notification by a polled word.
 *
 * @module
 */

import type { ArchSpec, DemoSpec, MachineProfile } from "../types.ts";

/** RISC-V, 64-bit ELF: what every rv64 machine's firmware must be built for. */
export const RV64_ARCH: ArchSpec = { name: "RISC-V 64-bit", elfMachine: 243, elfClass: 64 };

/**
 * The demo facts of the seed's RT-Thread firmware (machines.md section 6) and
 * of amp's seed-compatible demo firmware: the shell commands that start each
 * demo, the shared-memory demo block at 0x90000000 and amp's optional
 * readiness word at 0x90002008 (amp's firmware only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seedDemos } from "./rv64_virt.ts";
 * assert(seedDemos().commands?.echo === "rpmsg_update");
 * ```
 */
export function seedDemos(): DemoSpec {
  return {
    commands: {
      sample: "rpmsg_echo",
      echo: "rpmsg_update",
      matrix: "matrix_multiplyd",
      shmem: "shmem_demod",
    },
    shmemPa: 0x9000_0000,
    readyWord: 0x9000_2008,
    resetHoldMs: 5,
  };
}

/** Options for {@linkcode rv64VirtProfile}. */
export interface Rv64VirtOptions {
  /** Root of sysfs (default `/sys`). */
  sysfsRoot?: string;
}

/**
 * Build the `rv64-virt` profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rv64VirtProfile } from "./rv64_virt.ts";
 * const p = rv64VirtProfile({ sysfsRoot: "/tmp/fake-sys" });
 * assert(p.control.kind === "rv64-sysfs" && p.control.sysfsRoot === "/tmp/fake-sys");
 * ```
 */
export function rv64VirtProfile(options: Rv64VirtOptions = {}): MachineProfile {
  return {
    name: "rv64-virt",
    description:
      "QEMU riscv64 virt: Linux on hart 0, remote on hart 1 at 0x90200000; UIO memory, " +
      "/sys/firmware/openamp control, polled notify word",
    wordSize: 8,
    regions: [
      {
        name: "90000000.shm",
        pa: 0x9000_0000,
        size: 0x8_0000,
        backing: { kind: "uio", device: "90000000.shm", map: 0 },
        roles: ["notify"],
      },
      {
        name: "90100000.shm",
        pa: 0x9010_0000,
        size: 0x8_0000,
        backing: { kind: "uio", device: "90100000.shm", map: 0 },
        roles: ["shm"],
      },
      {
        name: "90200000.rproc",
        pa: 0x9020_0000,
        size: 0x7f_f000,
        backing: { kind: "uio", device: "90200000.rproc", map: 0 },
        roles: ["image"],
      },
    ],
    layout: {
      rscTable: { pa: 0x9010_0000, size: 0x2_0000 },
      pool: { pa: 0x9012_0000, size: 0x4_0000 },
      vrings: [
        { pa: 0x9016_0000, num: 256, align: 0x1000 },
        { pa: 0x9016_4000, num: 256, align: 0x1000 },
      ],
      bufSize: { rx: 512, tx: 512 },
    },
    notify: { kind: "poll-word", pa: 0x9000_0000, mode: "seed" },
    control: options.sysfsRoot === undefined
      ? { kind: "rv64-sysfs" }
      : { kind: "rv64-sysfs", sysfsRoot: options.sysfsRoot },
    cpus: [1],
    arch: RV64_ARCH,
    demos: seedDemos(),
  };
}

/** The default `rv64-virt` profile. */
export const RV64_VIRT: MachineProfile = rv64VirtProfile();
