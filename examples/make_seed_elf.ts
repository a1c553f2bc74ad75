#!/usr/bin/env -S deno run --allow-read --allow-write
/**
 * Builds `examples/seed-layout.elf`: a minimal RV64 firmware image with the
 * memory layout and resource table of the rv64-virt machine (machines.md
 * section 1). It has no useful code (the text segment is `wfi` in a loop); it
 * exists so `amp inspect` and the tests have a realistic image to read.
 *
 * - ELF64, RISC-V, EXEC, entry 0x90200000;
 * - a text segment (R-X) at 0x90200000;
 * - `.resource_table` at 0x90200100: a 0x100-byte, 0x100-aligned section whose
 *   first 116 bytes are the table: ver 1, num 1, an offset array of 8 slots so
 *   offset[0] = 0x30; at +0x30 an rpmsg vdev (id 7, notifyid 0, dfeatures 1)
 *   with 2 vrings (da ANY, align 0x1000, num 256, notifyids 1 and 2).
 *
 * Run: `deno run --allow-read --allow-write examples/make_seed_elf.ts [--check] [OUT]`.
 * With `--check` it writes nothing and exits 1 if OUT (default
 * `examples/seed-layout.elf`) differs from what it would write.
 *
 * @module
 */

import { buildElf, EM_RISCV, PF_R, PF_X } from "../lib/elf/mod.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../lib/rsc/table.ts";
import { FW_RSC_U32_ADDR_ANY } from "../lib/rsc/layout.ts";

/** Boot address and text segment address of the seed image. */
export const SEED_ENTRY = 0x9020_0000;
/** Link address of the seed image's `.resource_table` section. */
export const SEED_RSC_ADDR = 0x9020_0100;
/** Size of the `.resource_table` section (the table itself is 116 bytes). */
export const SEED_RSC_SECTION_SIZE = 0x100;

/**
 * The 116-byte resource table of machines.md section 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seedResourceTable } from "./make_seed_elf.ts";
 * const t = seedResourceTable();
 * assert(t.length === 116 && t[16] === 0x30);
 * ```
 */
export function seedResourceTable(): Uint8Array {
  const vring = { da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 256 };
  const table = buildResourceTable(
    [
      rpmsgVdev({
        notifyid: 0,
        dfeatures: 1,
        vrings: [{ ...vring, notifyid: 1 }, { ...vring, notifyid: 2 }],
      }),
    ],
    { offsetSlots: 8 },
  );
  return serializeResourceTable(table);
}

/**
 * The bytes of `examples/seed-layout.elf`. Deterministic: the same bytes on every call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildSeedElf } from "./make_seed_elf.ts";
 * const a = buildSeedElf(), b = buildSeedElf();
 * assert(a.length === b.length && a.every((x, i) => x === b[i]));
 * assert(a[4] === 2); // ELFCLASS64
 * ```
 */
export function buildSeedElf(): Uint8Array {
  // _start: wfi; j _start
  const text = new Uint8Array(new Uint32Array([0x1050_0073, 0xffdf_f06f]).buffer);
  const section = new Uint8Array(SEED_RSC_SECTION_SIZE);
  section.set(seedResourceTable());
  return buildElf({
    class: 64,
    machine: EM_RISCV,
    entry: SEED_ENTRY,
    segments: [{ paddr: SEED_ENTRY, data: text, flags: PF_R | PF_X, align: 0x1000 }],
    resourceTable: { addr: SEED_RSC_ADDR, data: section },
  });
}

/** Default output path, next to this script. */
export const SEED_ELF_PATH: string = new URL("./seed-layout.elf", import.meta.url).pathname;

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const out = Deno.args.find((a) => a !== "--check") ?? SEED_ELF_PATH;
  const bytes = buildSeedElf();
  if (check) {
    let old: Uint8Array | undefined;
    try {
      old = await Deno.readFile(out);
    } catch {
      old = undefined;
    }
    const same = old !== undefined && old.length === bytes.length &&
      old.every((b, i) => b === bytes[i]);
    console.log(same ? `${out} is up to date` : `${out} differs from what this script builds`);
    Deno.exit(same ? 0 : 1);
  }
  await Deno.writeFile(out, bytes);
  console.log(`wrote ${out} (${bytes.length} bytes)`);
}
