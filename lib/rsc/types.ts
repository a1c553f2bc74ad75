/**
 * The decoded form of an OpenAMP resource table (openamp-wire.md section 1):
 * one interface per entry kind, the table, and the findings of its checks.
 *
 * @module
 */

import type { ResourceTableErrorCode } from "../errors.ts";

/** A carveout entry: memory the host allocates (or honours) for the remote. */
export interface Carveout {
  /** Entry kind (type `RSC_CARVEOUT`, 0). */
  kind: "carveout";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Device address, or `FW_RSC_U32_ADDR_ANY`. */
  da: number;
  /** Physical address, or `FW_RSC_U32_ADDR_ANY`. */
  pa: number;
  /** Length in bytes. */
  len: number;
  /** Memory attributes the firmware asks for (IOMMU flags; amp keeps them as found). */
  flags: number;
  /** Must be 0. Absent means 0. */
  reserved?: number;
  /** Up to 32 bytes; decoded up to the first NUL. */
  name: string;
}

/** A devmem entry: a device region the remote wants mapped. Same layout as a carveout. */
export interface Devmem {
  /** Entry kind (type `RSC_DEVMEM`, 1). */
  kind: "devmem";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Device address the remote uses for the region. */
  da: number;
  /** Physical address of the device region. */
  pa: number;
  /** Length in bytes. */
  len: number;
  /** Mapping attributes the firmware asks for (kept as found). */
  flags: number;
  /** Must be 0. Absent means 0. */
  reserved?: number;
  /** Up to 32 bytes; decoded up to the first NUL. */
  name: string;
}

/** A trace entry: a log ring the remote writes. */
export interface Trace {
  /** Entry kind (type `RSC_TRACE`, 2). */
  kind: "trace";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Device address of the ring; never `FW_RSC_U32_ADDR_ANY`. */
  da: number;
  /** Ring length in bytes; never 0. */
  len: number;
  /** Should be 0 (a non-zero value is only a warning). Absent means 0. */
  reserved?: number;
  /** Up to 32 bytes; decoded up to the first NUL (Linux names the file `trace0`...). */
  name: string;
}

/** One vring descriptor of a vdev entry (20 bytes). */
export interface Vring {
  /** Device address of the ring, or `FW_RSC_U32_ADDR_ANY` for "host chooses". */
  da: number;
  /** Used-ring alignment: a non-zero power of two. */
  align: number;
  /** Number of entries: a power of two, 1..32768. */
  num: number;
  /** Notify id the host uses to kick this ring. */
  notifyid: number;
  /** Must be 0. Absent means 0. */
  reserved?: number;
}

/** A virtio device entry, with its vrings and config space. */
export interface Vdev {
  /** Entry kind (type `RSC_VDEV`, 3). */
  kind: "vdev";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Virtio device id (rpmsg = 7). */
  id: number;
  /** Notify id of the device itself. */
  notifyid: number;
  /** Features the device offers. */
  dfeatures: number;
  /** Features the driver accepted (written by the host). */
  gfeatures: number;
  /** Virtio status byte (written by the host). */
  status: number;
  /** The two reserved bytes; must be 0. Absent means `[0, 0]`. */
  reserved?: readonly [number, number];
  /** 0..2 vrings (`num_of_vrings` is their count). */
  vrings: Vring[];
  /** Config space; `config_len` is its length. */
  config: Uint8Array;
}

/** A vendor-specific entry (type 128..512). amp skips it with a warning. */
export interface Vendor {
  /** Entry kind: any type 128..512. */
  kind: "vendor";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** The entry type. */
  type: number;
  /**
   * The entry's bytes, from its type word up to the next entry (or the table
   * end), as far as they could be determined. Absent means just the type word.
   */
  raw?: Uint8Array;
}

/** Any resource entry. */
export type ResourceEntry = Carveout | Devmem | Trace | Vdev | Vendor;

/** An entry before it has been placed in a table (no `offset` yet). */
export type EntryInit<E extends ResourceEntry = ResourceEntry> = E extends unknown
  ? Omit<E, "offset">
  : never;

/** How serious a finding is. Only errors make `parseResourceTable` throw. */
export type RscSeverity = "error" | "warning";

/** One finding about a table. */
export interface RscProblem {
  /** Stable identifier of the check, e.g. `"RSC_VRING_BAD_NUM"`. */
  code: ResourceTableErrorCode;
  /** What failed and why, with the numbers. */
  message: string;
  /** Whether the finding makes the table unusable (error) or is only worth a look (warning). */
  severity: RscSeverity;
  /** Byte offset in the table the finding is about, when there is one. */
  offset?: number;
}

/** A decoded resource table. */
export interface ResourceTable {
  /** Header `ver` (1). */
  version: number;
  /** Entries in the order of the offset array. */
  entries: ResourceEntry[];
  /** The offset array: `offsets[i] === entries[i].offset`. */
  offsets: number[];
  /** Table size in bytes (what it was parsed from, or what it serializes to). */
  size: number;
  /** Warnings found while parsing (vendor entries skipped, odd alignment...). */
  warnings?: RscProblem[];
}

/** Options for parsing and checking. */
export interface ParseResourceTableOptions {
  /** Name of the firmware, used in messages (`Resource table of "fw.elf": ...`). */
  name?: string;
  /** Byte order of the fields. Default `true` (little-endian, the wire order). */
  littleEndian?: boolean;
}

/** What `checkResourceTable` found. */
export interface ResourceTableCheck {
  /**
   * The decoded table, when every entry could be located and read. It may still
   * carry value errors (see `problems`); it is absent when the structure itself
   * is broken (too small, offsets out of bounds, truncated or unknown entries).
   */
  table?: ResourceTable;
  /** Every finding, errors and warnings, in table order. */
  problems: RscProblem[];
  /** True when no finding is an error. */
  ok: boolean;
}
