/**
 * The host's handling of a firmware's resource table before the remote starts
 * (openamp-wire.md sections 1 and 2, machines.md section 1): vrings whose `da`
 * is ANY get the machine layout's addresses, every vdev's status is reset to
 * 0, and the result is the host's private copy, which it writes to the
 * layout's resource-table address (and to the table's own section address).
 *
 * The rpmsg layer attaches through {@linkcode HostResourceTable}: the live
 * table address, each vdev's status-byte address and vring placement.
 *
 * @module
 */

import { LoadError } from "../errors.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import type { MachineProfile } from "../machine/types.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import { FW_RSC_U32_ADDR_ANY, VRING_DA } from "../rsc/layout.ts";
import { vdevStatusAddr, vdevStatusOffset, vringOffset } from "../rsc/table.ts";
import type { ResourceTable, Vdev } from "../rsc/types.ts";

/** Where one vring of a vdev lives, after assignment. */
export interface HostVring {
  /** Index inside the vdev (0 = vring0, the host's RX). */
  index: number;
  /** Physical address of the descriptor table. */
  pa: number;
  /** Entries. */
  num: number;
  /** Used-ring alignment. */
  align: number;
  /** Notify id of the vring. */
  notifyid: number;
  /** True when the firmware said ANY and the address came from the machine layout. */
  assigned: boolean;
}

/** One vdev of the processed table. */
export interface HostVdev {
  /** Byte offset of the entry in the table. */
  offset: number;
  /** Virtio device id (7 = rpmsg). */
  id: number;
  /** The vdev's notify id. */
  notifyid: number;
  /** Device features offered. */
  dfeatures: number;
  /** Address of the status byte in the live table. */
  statusPa: number;
  /** The vdev's vrings, in table order. */
  vrings: HostVring[];
}

/** A trace buffer the remote writes its log into. */
export interface HostTrace {
  /** Device address of the ring. */
  da: number;
  /** Ring length in bytes. */
  len: number;
  /** Name from the table. */
  name: string;
}

/** A processed resource table. */
export interface HostResourceTable {
  /** Live table address: the machine layout's `rscTable.pa`. */
  pa: number;
  /** The table's section address (`sh_addr`) in the image. */
  imageAddr: number;
  /** The host's private copy as written (never read back from shared memory). */
  bytes: Uint8Array;
  /** The parsed table with assigned vring addresses and status 0. */
  table: ResourceTable;
  /** Every vdev entry, in table order. */
  vdevs: HostVdev[];
  /** Every trace entry, in table order. */
  traces: HostTrace[];
  /** Odd but accepted findings (unplaced carveouts...). */
  warnings: { code: string; message: string }[];
}

/** Input: what the loader found. */
export interface FirmwareTable {
  /** The table's section address (`sh_addr`). */
  imageAddr: number;
  /** The section's bytes as found in the firmware. */
  bytes: Uint8Array;
  /** The parsed table. */
  table: ResourceTable;
}

function range(pa: number, len: number): string {
  return `[${hex(pa)}, +${hex(len)})`;
}

/**
 * Process a firmware's resource table for `profile`: assign ANY vring
 * addresses from `profile.layout.vrings` (one vdev may use them), check every
 * vring lies in mapped memory and fits its layout slot, reset vdev status to 0,
 * and check the table fits `layout.rscTable`. Nothing is written. Throws
 * {@linkcode LoadError} (`LOAD_RSC_TOO_BIG`, `LOAD_VRING_SLOT`,
 * `LOAD_VRING_NO_SLOT`, `LOAD_VRING_OUTSIDE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prepareHostTable } from "./placement.ts";
 * import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../rsc/table.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * const ANY = 0xffff_ffff;
 * const table = buildResourceTable([rpmsgVdev({ vrings: [
 *   { da: ANY, align: 0x1000, num: 256, notifyid: 1 },
 *   { da: ANY, align: 0x1000, num: 256, notifyid: 2 },
 * ] })]);
 * const map = new MemoryMap([heapRegion(0x9010_0000, 0x8_0000, { name: "shm" })]);
 * const t = prepareHostTable(
 *   { imageAddr: 0x9010_0000, bytes: serializeResourceTable(table), table },
 *   RV64_VIRT, map,
 * );
 * assert(t.vdevs[0]?.vrings[1]?.pa === 0x9016_4000);
 * ```
 */
export function prepareHostTable(
  fw: FirmwareTable,
  profile: MachineProfile,
  map: MemoryMap,
  name?: string,
): HostResourceTable {
  const prefix = `Cannot load ${name === undefined ? "firmware" : `firmware "${name}"`}`;
  const layout = profile.layout;
  if (fw.bytes.length > layout.rscTable.size) {
    throw new LoadError(
      "LOAD_RSC_TOO_BIG",
      `${prefix}: its resource table is ${hex(fw.bytes.length)} bytes, more than the ${
        hex(layout.rscTable.size)
      } machine "${profile.name}" reserves at ${hex(layout.rscTable.pa)}`,
    );
  }
  const bytes = fw.bytes.slice();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table: ResourceTable = structuredClone(fw.table);
  const vdevs: HostVdev[] = [];
  const traces: HostTrace[] = [];
  const warnings: { code: string; message: string }[] = [];
  let slotsUsedBy: number | undefined;

  table.entries.forEach((e, i) => {
    switch (e.kind) {
      case "vdev": {
        vdevs.push(processVdev(e, i));
        break;
      }
      case "trace":
        traces.push({ da: e.da, len: e.len, name: e.name });
        break;
      case "carveout":
      case "devmem":
        if (e.da === FW_RSC_U32_ADDR_ANY || !map.find(e.da, e.len)) {
          warnings.push({
            code: "LOAD_CARVEOUT_UNMAPPED",
            message: `Loading ${name ?? "firmware"}: ${e.kind} "${e.name}" ${
              e.da === FW_RSC_U32_ADDR_ANY ? "(da ANY)" : range(e.da, e.len)
            } is not in the host's memory map; amp does not allocate it`,
          });
        }
        break;
      case "vendor":
        break;
    }
  });

  function processVdev(v: Vdev, entryIndex: number): HostVdev {
    const vrings = v.vrings.map((r, k): HostVring => {
      let pa = r.da;
      let assigned = false;
      if (r.da === FW_RSC_U32_ADDR_ANY) {
        if (slotsUsedBy !== undefined && slotsUsedBy !== entryIndex) {
          throw new LoadError(
            "LOAD_VRING_NO_SLOT",
            `${prefix}: vdev entry ${entryIndex} vring ${k} asks the host to choose its address, ` +
              `but the machine layout's vrings already went to entry ${slotsUsedBy}`,
          );
        }
        const slot = layout.vrings[k as 0 | 1];
        if (!slot) {
          throw new LoadError(
            "LOAD_VRING_NO_SLOT",
            `${prefix}: vdev entry ${entryIndex} vring ${k} has no slot in the machine layout`,
          );
        }
        slotsUsedBy = entryIndex;
        const need = vringLayout(r.num, r.align, slot.pa).size;
        const room = vringLayout(slot.num, slot.align, slot.pa).size;
        if (need > room) {
          throw new LoadError(
            "LOAD_VRING_SLOT",
            `${prefix}: vdev entry ${entryIndex} vring ${k} (num ${r.num}, align ${
              hex(r.align)
            }) needs ${hex(need)} bytes; machine "${profile.name}" reserves ${hex(room)} at ${
              hex(slot.pa)
            } (num ${slot.num}, align ${hex(slot.align)})`,
          );
        }
        pa = slot.pa;
        assigned = true;
        r.da = pa;
        dv.setUint32(vringOffset(v, k) + VRING_DA, pa, true);
      }
      const size = vringLayout(r.num, r.align, pa).size;
      if (!map.find(pa, size)) {
        throw new LoadError(
          "LOAD_VRING_OUTSIDE",
          `${prefix}: vdev entry ${entryIndex} vring ${k} ${
            range(pa, size)
          } is not inside one mapped memory region`,
        );
      }
      return { index: k, pa, num: r.num, align: r.align, notifyid: r.notifyid, assigned };
    });
    v.status = 0;
    bytes[vdevStatusOffset(v)] = 0;
    return {
      offset: v.offset,
      id: v.id,
      notifyid: v.notifyid,
      dfeatures: v.dfeatures,
      statusPa: vdevStatusAddr(layout.rscTable.pa, v),
      vrings,
    };
  }

  return {
    pa: layout.rscTable.pa,
    imageAddr: fw.imageAddr,
    bytes,
    table,
    vdevs,
    traces,
    warnings,
  };
}

/**
 * Write the host's copy to the live address and to the section address
 * (when that one is mapped and different).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeHostTable } from "./placement.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const map = new MemoryMap([heapRegion(0x1000, 0x100)]);
 * writeHostTable({ pa: 0x1000, imageAddr: 0x1080, bytes: Uint8Array.of(1, 0, 0, 0) }, map);
 * assert(map.get(0x1080).u32(0x1080) === 1);
 * ```
 */
export function writeHostTable(
  t: Pick<HostResourceTable, "pa" | "imageAddr" | "bytes">,
  map: MemoryMap,
): void {
  map.get(t.pa, t.bytes.length).write(t.pa, t.bytes);
  if (t.imageAddr !== t.pa) {
    const r = map.find(t.imageAddr, t.bytes.length);
    if (r) r.write(t.imageAddr, t.bytes);
  }
}
