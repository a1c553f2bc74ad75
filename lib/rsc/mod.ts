/**
 * OpenAMP resource tables: parse and check them (openamp-wire.md section 1),
 * build and serialize them, and find them in ELF firmware.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseResourceTable, rpmsgVdev, buildResourceTable, serializeResourceTable, vdevStatusAddr } from "./mod.ts";
 * const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
 * const bytes = serializeResourceTable(buildResourceTable(
 *   [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
 *   { offsetSlots: 8 },
 * ));
 * const table = parseResourceTable(bytes);
 * const vdev = table.entries[0];
 * assert(vdev?.kind === "vdev" && vdevStatusAddr(0x9010_0000, vdev) === 0x9010_0048);
 * ```
 *
 * @module
 */

export * from "./layout.ts";
export type * from "./types.ts";
export * from "./table.ts";
export * from "./elf.ts";
