/**
 * Firmware images for the inspect tests (model in lib/diag, text in
 * lib/cli): one per situation the report must describe.
 *
 * @module
 */

import { buildElf, EM_ARM, PF_R, PF_W, PF_X } from "../../elf/mod.ts";
import {
  buildResourceTable,
  FW_RSC_U32_ADDR_ANY,
  rpmsgVdev,
  serializeResourceTable,
} from "../../rsc/mod.ts";

/** The seed's two-vring rpmsg table (8 offset slots), changed by `mutate`. */
export function vringTable(mutate?: (dv: DataView) => void): Uint8Array {
  const vr = { da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 256 };
  const bytes = serializeResourceTable(buildResourceTable(
    [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
    { offsetSlots: 8 },
  ));
  mutate?.(new DataView(bytes.buffer));
  return bytes;
}

/**
 * An image with a problem for every checker: an empty segment (ELF
 * warning), a table with a bad version, vring num and vring align, and two
 * segments outside rv64-virt's memory.
 */
export function everyProblemElf(): Uint8Array {
  const table = vringTable((dv) => {
    dv.setUint32(0, 2, true); // ver 2
    dv.setUint32(0x30 + 28 + 8, 3, true); // vring 0 num 3
    dv.setUint32(0x30 + 48 + 4, 0, true); // vring 1 align 0
  });
  return buildElf({
    class: 64,
    entry: 0x1000,
    segments: [
      { paddr: 0x1000, data: new Uint8Array(0x10), flags: PF_R | PF_X },
      { paddr: 0x5000, data: new Uint8Array(0x10), memsz: 0x100, flags: PF_R | PF_W },
      { paddr: 0x9020_0000, data: new Uint8Array(0) },
    ],
    resourceTable: { addr: 0x9020_0100, data: table },
  });
}

/** A 32-bit image with one segment and no `.resource_table`. */
export function noTableElf(): Uint8Array {
  return buildElf({
    class: 64,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(0x40), flags: PF_R | PF_X }],
  });
}

/** An image whose table claims 1000 entries (its structure is broken). */
export function brokenTableElf(): Uint8Array {
  return buildElf({
    class: 64,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(8), flags: PF_R | PF_X }],
    resourceTable: { addr: 0x9020_0100, data: vringTable((dv) => dv.setUint32(4, 1000, true)) },
  });
}

/** An ARM image whose table holds a carveout, a devmem, a trace and a vendor entry. */
export function mixedEntriesElf(): Uint8Array {
  const table = serializeResourceTable(buildResourceTable([
    {
      kind: "carveout",
      da: 0x6000_0000,
      pa: FW_RSC_U32_ADDR_ANY,
      len: 0x1000,
      flags: 0,
      name: "text",
    },
    { kind: "devmem", da: 0x4000_0000, pa: 0x4000_0000, len: 0x100, flags: 2, name: "uart" },
    { kind: "trace", da: 0x6001_0000, len: 0x400, name: "trace0" },
    { kind: "vendor", type: 200, raw: new Uint8Array([200, 0, 0, 0, 9, 9, 9, 9]) },
  ]));
  return buildElf({
    class: 32,
    machine: EM_ARM,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(8), flags: PF_R | PF_X }],
    resourceTable: { addr: 0x9020_1000, data: table },
  });
}
