/**
 * Firmware for the wrong machine: the ELF header's `e_machine` and class
 * checked against the profile's {@linkcode ArchSpec}, before anything is
 * written (an x86-64 ELF linked at the right address must not "run" on a
 * RISC-V core).
 *
 * @module
 */

import { LoadError } from "../errors.ts";
import type { ElfImage } from "../elf/types.ts";
import type { ArchSpec, MachineProfile } from "../machine/types.ts";

/** Names of the `e_machine` values firmware commonly has. */
const MACHINE_NAMES: Readonly<Record<number, string>> = {
  3: "x86",
  8: "MIPS",
  40: "ARM",
  62: "x86-64",
  94: "Xtensa",
  164: "Hexagon",
  183: "AArch64",
  243: "RISC-V",
};

/**
 * A one-line description of what an ELF header says it runs on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeElfArch } from "./arch.ts";
 * assert(describeElfArch({ machine: 62, class: 64 }) === "x86-64 (ELF64, e_machine 62)");
 * ```
 */
export function describeElfArch(img: Pick<ElfImage, "machine" | "class">): string {
  const name = MACHINE_NAMES[img.machine] ?? "an unknown machine";
  return `${name} (ELF${img.class}, e_machine ${img.machine})`;
}

/**
 * The mismatch between `img` and the profile's architecture as a
 * `LoadError` `LOAD_WRONG_ARCH`, or undefined when it matches (or the profile
 * names no architecture).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { archMismatch } from "./arch.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * assert(archMismatch({ machine: 243, class: 64 }, RV64_VIRT, "fw.elf") === undefined);
 * const e = archMismatch({ machine: 62, class: 64 }, RV64_VIRT, "fw.elf");
 * assert(e?.message === 'Cannot load firmware "fw.elf": it is built for x86-64 (ELF64, ' +
 *   'e_machine 62), but machine "rv64-virt" runs RISC-V 64-bit (ELF64, e_machine 243)');
 * ```
 */
export function archMismatch(
  img: Pick<ElfImage, "machine" | "class">,
  profile: Pick<MachineProfile, "name" | "arch">,
  name: string,
): LoadError | undefined {
  const want: ArchSpec | undefined = profile.arch;
  if (!want || (img.machine === want.elfMachine && img.class === want.elfClass)) return undefined;
  return new LoadError(
    "LOAD_WRONG_ARCH",
    `Cannot load firmware "${name}": it is built for ${
      describeElfArch(img)
    }, but machine "${profile.name}" runs ${want.name} (ELF${want.elfClass}, e_machine ${want.elfMachine})`,
  );
}
