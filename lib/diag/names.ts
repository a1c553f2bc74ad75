/**
 * Names of the numbers firmware and virtio carry: ELF machine, type, segment
 * and section types and flags; virtio device ids, feature bits and status
 * bits. What reports (`amp inspect`, `amp vring dump`) put next to the raw
 * numbers.
 *
 * @module
 */

import { hex } from "../mem/region.ts";
import { FW_RSC_U32_ADDR_ANY } from "../rsc/layout.ts";

export { hex };

/**
 * A 32-bit device address as hex, or `"ANY"` for `FW_RSC_U32_ADDR_ANY`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { daHex } from "./names.ts";
 * assert(daHex(0xffff_ffff) === "ANY" && daHex(0x1000) === "0x1000");
 * ```
 */
export function daHex(n: number): string {
  return n === FW_RSC_U32_ADDR_ANY ? "ANY" : hex(n);
}

/** Names of ELF `e_machine` values amp is likely to meet. */
export const ELF_MACHINE_NAMES: Readonly<Record<number, string>> = {
  3: "x86",
  8: "MIPS",
  20: "PowerPC",
  40: "ARM",
  62: "x86-64",
  94: "Xtensa",
  183: "AArch64",
  243: "RISC-V",
};

/** Names of ELF `e_type` values. */
export const ELF_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "NONE",
  1: "REL",
  2: "EXEC",
  3: "DYN",
  4: "CORE",
};

/** Names of program header `p_type` values. */
export const SEGMENT_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "NULL",
  1: "LOAD",
  2: "DYNAMIC",
  3: "INTERP",
  4: "NOTE",
  6: "PHDR",
  7: "TLS",
  0x6474e550: "GNU_EH_FRAME",
  0x6474e551: "GNU_STACK",
  0x6474e552: "GNU_RELRO",
  0x70000003: "RISCV_ATTRIBUTES",
};

/** Names of section header `sh_type` values. */
export const SECTION_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "NULL",
  1: "PROGBITS",
  2: "SYMTAB",
  3: "STRTAB",
  4: "RELA",
  5: "HASH",
  6: "DYNAMIC",
  7: "NOTE",
  8: "NOBITS",
  9: "REL",
  11: "DYNSYM",
  14: "INIT_ARRAY",
  15: "FINI_ARRAY",
};

/** Virtio device ids by number. */
export const VIRTIO_DEVICE_NAMES: Readonly<Record<number, string>> = {
  1: "net",
  2: "block",
  3: "console",
  4: "entropy",
  5: "balloon",
  7: "rpmsg",
  9: "9p",
};

/** Feature bit names per virtio device id (bit number → name). */
export const VIRTIO_FEATURE_NAMES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  7: { 0: "NS" },
};

/** Virtio status bit names (bit value → name). */
export const VIRTIO_STATUS_NAMES: Readonly<Record<number, string>> = {
  1: "ACKNOWLEDGE",
  2: "DRIVER",
  4: "DRIVER_OK",
  8: "FEATURES_OK",
  0x40: "NEEDS_RESET",
  0x80: "FAILED",
};

/**
 * A number's name from `table`, or `fallback(n)` (default `hex`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameOf, ELF_MACHINE_NAMES } from "./names.ts";
 * assert(nameOf(ELF_MACHINE_NAMES, 243) === "RISC-V");
 * assert(nameOf(ELF_MACHINE_NAMES, 9999) === "0x270f");
 * ```
 */
export function nameOf(
  table: Readonly<Record<number, string>>,
  n: number,
  fallback: (n: number) => string = hex,
): string {
  return table[n] ?? fallback(n);
}

/**
 * Names of the set bits of a 32-bit feature word for a virtio device id;
 * bits without a name are shown as `bitN`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureNames } from "./names.ts";
 * assert(featureNames(7, 1).join() === "NS");
 * assert(featureNames(7, 0b101).join() === "NS,bit2");
 * assert(featureNames(7, 0).length === 0);
 * ```
 */
export function featureNames(deviceId: number, features: number): string[] {
  const names = VIRTIO_FEATURE_NAMES[deviceId] ?? {};
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if ((features >>> bit) & 1) out.push(names[bit] ?? `bit${bit}`);
  }
  return out;
}

/**
 * Names of the set bits of a virtio status byte; unknown bits as hex.
 * Zero is the reset state and gives an empty list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusNames } from "./names.ts";
 * assert(statusNames(0).length === 0);
 * assert(statusNames(7).join("|") === "ACKNOWLEDGE|DRIVER|DRIVER_OK");
 * assert(statusNames(0x10).join() === "0x10");
 * ```
 */
export function statusNames(status: number): string[] {
  const out: string[] = [];
  for (let bit = 1; bit <= 0x80; bit <<= 1) {
    if (status & bit) out.push(VIRTIO_STATUS_NAMES[bit] ?? hex(bit));
  }
  return out;
}

/**
 * Segment flags as `RWX` letters (`-` for a clear bit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rwx } from "./names.ts";
 * assert(rwx(5) === "R-X" && rwx(6) === "RW-");
 * ```
 */
export function rwx(flags: number): string {
  return (flags & 4 ? "R" : "-") + (flags & 2 ? "W" : "-") + (flags & 1 ? "X" : "-");
}

/**
 * Section flags as letters: W (write), A (alloc), X (exec).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sectionFlags } from "./names.ts";
 * assert(sectionFlags(6) === "AX" && sectionFlags(3) === "WA");
 * ```
 */
export function sectionFlags(flags: number): string {
  return (flags & 1 ? "W" : "") + (flags & 2 ? "A" : "") + (flags & 4 ? "X" : "");
}
