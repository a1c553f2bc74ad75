/**
 * Parse, check, build and serialize OpenAMP resource tables
 * (openamp-wire.md section 1).
 *
 * Everything here treats its input as untrusted: every field is bounds-checked
 * before use and every sum is computed so it cannot wrap. Each failed check has
 * its own stable `code` on the thrown {@linkcode ResourceTableError}.
 *
 * @module
 */

import { ResourceTableError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import {
  CARVEOUT_SIZE,
  DEVMEM_SIZE,
  FW_RSC_U32_ADDR_ANY,
  RSC_CARVEOUT,
  RSC_DEVMEM,
  RSC_HEADER_SIZE,
  RSC_NAME_LEN,
  RSC_TRACE,
  RSC_VDEV,
  RSC_VENDOR_END,
  RSC_VENDOR_START,
  TRACE_SIZE,
  VDEV_CONFIG_LEN,
  VDEV_DFEATURES,
  VDEV_GFEATURES,
  VDEV_ID,
  VDEV_NOTIFYID,
  VDEV_NUM_VRINGS,
  VDEV_RESERVED,
  VDEV_SIZE,
  VDEV_STATUS,
  VDEV_VRINGS,
  VIRTIO_ID_RPMSG,
  VIRTIO_RPMSG_F_NS,
  VRING_ALIGN,
  VRING_DA,
  VRING_NOTIFYID,
  VRING_NUM,
  VRING_RESERVED,
  VRING_SIZE,
} from "./layout.ts";

/** The resource table version every peer uses. */
export const RSC_TABLE_VERSION = 1;
/** Most vrings one vdev may declare (Linux refuses more). */
export const MAX_VDEV_VRINGS = 2;
/** Largest vring size allowed (`num`). */
export const MAX_VRING_NUM = 32768;

/** A carveout entry: memory the host allocates (or honours) for the remote. */
export interface Carveout {
  kind: "carveout";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Device address, or `FW_RSC_U32_ADDR_ANY`. */
  da: number;
  /** Physical address, or `FW_RSC_U32_ADDR_ANY`. */
  pa: number;
  len: number;
  flags: number;
  /** Must be 0. Absent means 0. */
  reserved?: number;
  /** Up to 32 bytes; decoded up to the first NUL. */
  name: string;
}

/** A devmem entry: a device region the remote wants mapped. Same layout as a carveout. */
export interface Devmem {
  kind: "devmem";
  /** Byte offset of the entry from the table start. */
  offset: number;
  da: number;
  pa: number;
  len: number;
  flags: number;
  /** Must be 0. Absent means 0. */
  reserved?: number;
  name: string;
}

/** A trace entry: a log ring the remote writes. */
export interface Trace {
  kind: "trace";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Device address of the ring; never `FW_RSC_U32_ADDR_ANY`. */
  da: number;
  /** Ring length in bytes; never 0. */
  len: number;
  /** Should be 0 (a non-zero value is only a warning). Absent means 0. */
  reserved?: number;
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
  notifyid: number;
  /** Must be 0. Absent means 0. */
  reserved?: number;
}

/** A virtio device entry, with its vrings and config space. */
export interface Vdev {
  kind: "vdev";
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Virtio device id (rpmsg = 7). */
  id: number;
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

/** How serious a finding is. Only errors make {@linkcode parseResourceTable} throw. */
export type RscSeverity = "error" | "warning";

/** One finding about a table. */
export interface RscProblem {
  /** Stable identifier of the check, e.g. `"RSC_VRING_BAD_NUM"`. */
  code: string;
  /** What failed and why, with the numbers. */
  message: string;
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

/** What {@linkcode checkResourceTable} found. */
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

// ---------------------------------------------------------------------------
// Decoding

type Report = (p: RscProblem) => void;

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0 && Number.isSafeInteger(n);
}

/** Decode a NUL-padded name field: stop at the first NUL, never rely on one. */
function decodeName(bytes: Uint8Array, at: number): string {
  const field = bytes.subarray(at, at + RSC_NAME_LEN);
  let end = field.indexOf(0);
  if (end < 0) end = field.length;
  const raw = field.subarray(0, end);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    // Not UTF-8: read it as Latin-1, one character per byte.
    let s = "";
    for (const b of raw) s += String.fromCharCode(b);
    return s;
  }
}

/** Name and fixed size (type word included) of each known entry type. */
const KINDS: Readonly<Record<number, { name: string; size: number }>> = {
  [RSC_CARVEOUT]: { name: "carveout", size: CARVEOUT_SIZE },
  [RSC_DEVMEM]: { name: "devmem", size: DEVMEM_SIZE },
  [RSC_TRACE]: { name: "trace", size: TRACE_SIZE },
  [RSC_VDEV]: { name: "vdev", size: VDEV_SIZE },
};

function problem(
  code: string,
  message: string,
  severity: RscSeverity,
  offset: number | undefined,
): RscProblem {
  return offset === undefined ? { code, message, severity } : { code, message, severity, offset };
}

function decode(
  bytes: Uint8Array,
  options: ParseResourceTableOptions,
  report: Report,
): ResourceTable | undefined {
  const le = options.littleEndian ?? true;
  const label = options.name === undefined
    ? "Resource table"
    : `Resource table of "${options.name}"`;
  const size = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (o: number) => dv.getUint32(o, le);
  const warnings: RscProblem[] = [];
  const err = (code: string, message: string, offset?: number) =>
    report(problem(code, `${label}: ${message}`, "error", offset));
  const warn = (code: string, message: string, offset?: number) => {
    const p = problem(code, `${label}: ${message}`, "warning", offset);
    warnings.push(p);
    report(p);
  };

  if (size < RSC_HEADER_SIZE) {
    err("RSC_TOO_SMALL", `${size} bytes is smaller than the ${RSC_HEADER_SIZE}-byte header`);
    return undefined;
  }
  if (size % 4 !== 0) {
    warn("RSC_SIZE_UNALIGNED", `size ${size} is not a multiple of 4`);
  }
  const version = u32(0);
  if (version !== RSC_TABLE_VERSION) {
    err("RSC_BAD_VERSION", `version ${version}, expected ${RSC_TABLE_VERSION}`, 0);
  }
  const res0 = u32(8), res1 = u32(12);
  if (res0 !== 0 || res1 !== 0) {
    err(
      "RSC_RESERVED_NONZERO",
      `header reserved words are ${hex(res0)} and ${hex(res1)}, must both be 0`,
      8,
    );
  }
  const num = u32(4);
  const maxNum = Math.floor((size - RSC_HEADER_SIZE) / 4);
  if (num > maxNum) {
    err(
      "RSC_OFFSETS_OUT_OF_BOUNDS",
      `offset array of ${num} entries needs ${RSC_HEADER_SIZE} + 4 * ${num} bytes, ` +
        `table has ${size} (at most ${maxNum} entries fit)`,
      4,
    );
    return undefined;
  }
  const headerEnd = RSC_HEADER_SIZE + 4 * num;
  const offsets: number[] = [];
  for (let i = 0; i < num; i++) offsets.push(u32(RSC_HEADER_SIZE + 4 * i));
  const sorted = [...new Set(offsets)].sort((a, b) => a - b);

  const entries: ResourceEntry[] = [];
  const extents: { start: number; end: number; i: number }[] = [];
  let broken = false;

  for (let i = 0; i < num; i++) {
    const off = offsets[i]!;
    const where = `entry ${i} at ${hex(off)}`;
    if (off > size - 4) {
      err(
        "RSC_ENTRY_OUT_OF_BOUNDS",
        `${where} leaves no room for its type word in a ${size}-byte table`,
        RSC_HEADER_SIZE + 4 * i,
      );
      broken = true;
      continue;
    }
    if (off % 4 !== 0) warn("RSC_ENTRY_UNALIGNED", `${where} is not 4-byte aligned`, off);
    if (off < headerEnd) {
      warn(
        "RSC_ENTRY_OVERLAPS_HEADER",
        `${where} overlaps the header and offset array (which end at ${hex(headerEnd)})`,
        off,
      );
    }
    const type = u32(off);
    const avail = size - off;
    const kind = KINDS[type];
    const kindName = kind?.name;
    const fixed = kind?.size ?? 4;
    if (kind !== undefined && fixed > avail) {
      err(
        "RSC_ENTRY_TRUNCATED",
        `${where}: ${kindName} needs ${fixed} bytes, only ${avail} remain in the table`,
        off,
      );
      broken = true;
      continue;
    }
    const what = `entry ${i} (${kindName ?? `type ${type}`} at ${hex(off)})`;

    if (type === RSC_CARVEOUT || type === RSC_DEVMEM) {
      const reserved = u32(off + 20);
      if (reserved !== 0) {
        err(
          type === RSC_CARVEOUT ? "RSC_CARVEOUT_RESERVED_NONZERO" : "RSC_DEVMEM_RESERVED_NONZERO",
          `${what}: reserved is ${hex(reserved)}, must be 0`,
          off + 20,
        );
      }
      const fields = {
        offset: off,
        da: u32(off + 4),
        pa: u32(off + 8),
        len: u32(off + 12),
        flags: u32(off + 16),
        reserved,
        name: decodeName(bytes, off + 24),
      };
      entries.push(
        type === RSC_CARVEOUT ? { kind: "carveout", ...fields } : { kind: "devmem", ...fields },
      );
      extents.push({ start: off, end: off + fixed, i });
    } else if (type === RSC_TRACE) {
      const da = u32(off + 4), len = u32(off + 8), reserved = u32(off + 12);
      if (da === FW_RSC_U32_ADDR_ANY) {
        err(
          "RSC_TRACE_BAD_DA",
          `${what}: da is ADDR_ANY, a trace buffer needs a fixed address`,
          off + 4,
        );
      }
      if (len === 0) err("RSC_TRACE_ZERO_LEN", `${what}: len is 0`, off + 8);
      if (reserved !== 0) {
        warn(
          "RSC_TRACE_RESERVED_NONZERO",
          `${what}: reserved is ${hex(reserved)}, should be 0`,
          off + 12,
        );
      }
      entries.push({
        kind: "trace",
        offset: off,
        da,
        len,
        reserved,
        name: decodeName(bytes, off + 16),
      });
      extents.push({ start: off, end: off + fixed, i });
    } else if (type === RSC_VDEV) {
      const nvr = bytes[off + VDEV_NUM_VRINGS]!;
      const configLen = u32(off + VDEV_CONFIG_LEN);
      if (nvr > MAX_VDEV_VRINGS) {
        err(
          "RSC_VDEV_TOO_MANY_VRINGS",
          `${what}: num_of_vrings is ${nvr}, at most ${MAX_VDEV_VRINGS} are supported`,
          off + VDEV_NUM_VRINGS,
        );
      }
      // At most 28 + 20 * 255 + (2^32 - 1): far below 2^53, so the sum is exact.
      const need = VDEV_SIZE + VRING_SIZE * nvr + configLen;
      if (need > avail) {
        err(
          "RSC_VDEV_TRUNCATED",
          `${what}: needs ${VDEV_SIZE} + ${VRING_SIZE} * ${nvr} vrings + ${configLen} config = ` +
            `${need} bytes, only ${avail} remain in the table`,
          off,
        );
        broken = true;
        continue;
      }
      const r0 = bytes[off + VDEV_RESERVED]!, r1 = bytes[off + VDEV_RESERVED + 1]!;
      if (r0 !== 0 || r1 !== 0) {
        err(
          "RSC_VDEV_RESERVED_NONZERO",
          `${what}: reserved bytes are ${hex(r0)} ${hex(r1)}, must be 0`,
          off + VDEV_RESERVED,
        );
      }
      const vrings: Vring[] = [];
      for (let v = 0; v < nvr; v++) {
        const at = off + VDEV_VRINGS + VRING_SIZE * v;
        const vr: Vring = {
          da: u32(at + VRING_DA),
          align: u32(at + VRING_ALIGN),
          num: u32(at + VRING_NUM),
          notifyid: u32(at + VRING_NOTIFYID),
          reserved: u32(at + VRING_RESERVED),
        };
        if (!isPow2(vr.num) || vr.num > MAX_VRING_NUM) {
          err(
            "RSC_VRING_BAD_NUM",
            `${what}: vring ${v} num ${vr.num} is not a power of two in 1..${MAX_VRING_NUM}`,
            at + VRING_NUM,
          );
        }
        if (!isPow2(vr.align)) {
          err(
            "RSC_VRING_BAD_ALIGN",
            `${what}: vring ${v} align ${hex(vr.align)} is not a non-zero power of two`,
            at + VRING_ALIGN,
          );
        }
        if (vr.reserved !== 0) {
          err(
            "RSC_VRING_RESERVED_NONZERO",
            `${what}: vring ${v} reserved is ${hex(vr.reserved ?? 0)}, must be 0`,
            at + VRING_RESERVED,
          );
        }
        vrings.push(vr);
      }
      const cfgAt = off + VDEV_VRINGS + VRING_SIZE * nvr;
      entries.push({
        kind: "vdev",
        offset: off,
        id: u32(off + VDEV_ID),
        notifyid: u32(off + VDEV_NOTIFYID),
        dfeatures: u32(off + VDEV_DFEATURES),
        gfeatures: u32(off + VDEV_GFEATURES),
        status: bytes[off + VDEV_STATUS]!,
        reserved: [r0, r1],
        vrings,
        config: bytes.slice(cfgAt, cfgAt + configLen),
      });
      extents.push({ start: off, end: off + need, i });
    } else if (type >= RSC_VENDOR_START && type <= RSC_VENDOR_END) {
      // Its length is unknown: take the bytes up to the next entry or the table end.
      let end = size;
      for (const o of sorted) {
        if (o > off) {
          end = Math.min(o, size);
          break;
        }
      }
      warn("RSC_VENDOR_SKIPPED", `${what}: vendor-specific type ${type} skipped`, off);
      entries.push({ kind: "vendor", offset: off, type, raw: bytes.slice(off, end) });
      extents.push({ start: off, end: off + 4, i });
    } else {
      err(
        "RSC_UNKNOWN_TYPE",
        `${where}: unknown type ${type} (known: 0..3, vendor ${RSC_VENDOR_START}..${RSC_VENDOR_END})`,
        off,
      );
      broken = true;
    }
  }

  extents.sort((a, b) => a.start - b.start || a.i - b.i);
  for (let k = 1; k < extents.length; k++) {
    const prev = extents[k - 1]!, cur = extents[k]!;
    if (cur.start < prev.end) {
      warn(
        "RSC_ENTRIES_OVERLAP",
        `entry ${cur.i} at ${hex(cur.start)} overlaps entry ${prev.i} ` +
          `[${hex(prev.start)}, ${hex(prev.end)})`,
        cur.start,
      );
    }
  }

  if (broken) return undefined;
  return { version, entries, offsets, size, warnings };
}

/**
 * Parse a resource table, throwing at the first failed check.
 *
 * Vendor entries (types 128..512) are kept as {@linkcode Vendor} and reported in
 * `warnings`; everything else wrong throws a {@linkcode ResourceTableError} with
 * a code per check: `RSC_TOO_SMALL`, `RSC_BAD_VERSION`, `RSC_RESERVED_NONZERO`,
 * `RSC_OFFSETS_OUT_OF_BOUNDS`, `RSC_ENTRY_OUT_OF_BOUNDS`, `RSC_ENTRY_TRUNCATED`,
 * `RSC_UNKNOWN_TYPE`, `RSC_CARVEOUT_RESERVED_NONZERO`, `RSC_DEVMEM_RESERVED_NONZERO`,
 * `RSC_TRACE_BAD_DA`, `RSC_TRACE_ZERO_LEN`, `RSC_VDEV_TOO_MANY_VRINGS`,
 * `RSC_VDEV_TRUNCATED`, `RSC_VDEV_RESERVED_NONZERO`, `RSC_VRING_BAD_NUM`,
 * `RSC_VRING_BAD_ALIGN`, `RSC_VRING_RESERVED_NONZERO`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildResourceTable, parseResourceTable, rpmsgVdev, serializeResourceTable } from "./table.ts";
 * const bytes = serializeResourceTable(buildResourceTable([
 *   rpmsgVdev({ vrings: [{ da: 0x4000, align: 0x1000, num: 256, notifyid: 1 }] }),
 * ]));
 * const t = parseResourceTable(bytes);
 * assert(t.entries[0]?.kind === "vdev" && t.entries[0].offset === 0x14);
 * ```
 */
export function parseResourceTable(
  bytes: Uint8Array,
  options: ParseResourceTableOptions = {},
): ResourceTable {
  const table = decode(bytes, options, (p) => {
    if (p.severity === "error") throw new ResourceTableError(p.code, p.message);
  });
  // decode() only returns undefined after reporting an error, which threw above.
  if (!table) throw new ResourceTableError("RSC_INVALID", "Resource table is invalid");
  return table;
}

/**
 * Run every check and collect all findings instead of stopping at the first
 * (the linter behind `amp inspect`). Never throws on malformed input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkResourceTable } from "./table.ts";
 * const bytes = new Uint8Array(18); // version 0, size not a multiple of 4
 * const r = checkResourceTable(bytes);
 * assert(!r.ok);
 * assert(r.problems.map((p) => p.code).join() === "RSC_SIZE_UNALIGNED,RSC_BAD_VERSION");
 * ```
 */
export function checkResourceTable(
  bytes: Uint8Array,
  options: ParseResourceTableOptions = {},
): ResourceTableCheck {
  const problems: RscProblem[] = [];
  const table = decode(bytes, options, (p) => problems.push(p));
  const ok = !problems.some((p) => p.severity === "error");
  return table ? { table, problems, ok } : { problems, ok };
}

// ---------------------------------------------------------------------------
// Addresses inside a table

/**
 * Byte offset of a vdev's status byte from the table start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vdevStatusOffset } from "./table.ts";
 * assert(vdevStatusOffset({ offset: 0x30 }) === 0x48);
 * ```
 */
export function vdevStatusOffset(vdev: Pick<Vdev, "offset">): number {
  return vdev.offset + VDEV_STATUS;
}

/**
 * Address of a vdev's status byte in a table copy placed at `tableAddr`
 * (`tableAddr + vdev.offset + VDEV_STATUS`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vdevStatusAddr } from "./table.ts";
 * assert(vdevStatusAddr(0x9010_0000, { offset: 0x30 }) === 0x9010_0048);
 * ```
 */
export function vdevStatusAddr(tableAddr: number, vdev: Pick<Vdev, "offset">): number {
  return tableAddr + vdevStatusOffset(vdev);
}

/**
 * Byte offset from the table start of vring `index` of a vdev (its `da` word).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vringOffset } from "./table.ts";
 * assert(vringOffset({ offset: 0x14 }, 1) === 0x14 + 28 + 20);
 * ```
 */
export function vringOffset(vdev: Pick<Vdev, "offset">, index: number): number {
  return vdev.offset + VDEV_VRINGS + VRING_SIZE * index;
}

/**
 * Bytes an entry occupies in the table (the vendor size is its `raw` length, at least 4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entrySize, rpmsgVdev } from "./table.ts";
 * const v = rpmsgVdev({ vrings: [{ da: 0, align: 4096, num: 8, notifyid: 0 }], configLen: 3 });
 * assert(entrySize(v) === 28 + 20 + 3);
 * ```
 */
export function entrySize(e: EntryInit | ResourceEntry): number {
  switch (e.kind) {
    case "carveout":
      return CARVEOUT_SIZE;
    case "devmem":
      return DEVMEM_SIZE;
    case "trace":
      return TRACE_SIZE;
    case "vdev":
      return VDEV_SIZE + VRING_SIZE * e.vrings.length + e.config.length;
    case "vendor":
      return Math.max(4, e.raw?.length ?? 0);
  }
}

/**
 * Bytes a table actually uses: the header, the offset array and every entry
 * (vrings and config space included), rounded up to a multiple of 4. This is
 * what to copy when a table was parsed out of a larger reserved area.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildResourceTable, resourceTableExtent, rpmsgVdev } from "./table.ts";
 * const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
 * const t = buildResourceTable(
 *   [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
 *   { offsetSlots: 8, size: 0x100 },
 * );
 * assert(t.size === 0x100 && resourceTableExtent(t) === 116);
 * ```
 */
export function resourceTableExtent(table: Pick<ResourceTable, "offsets" | "entries">): number {
  let end = RSC_HEADER_SIZE + 4 * table.offsets.length;
  for (const e of table.entries) end = Math.max(end, e.offset + entrySize(e));
  return Math.ceil(end / 4) * 4;
}

// ---------------------------------------------------------------------------
// Building and serializing

/** Options for {@linkcode buildResourceTable}. */
export interface BuildResourceTableOptions {
  /**
   * Slots in the offset array (at least the number of entries). Firmware often
   * declares more slots than entries, e.g. 8. Unused slots are zero.
   */
  offsetSlots?: number;
  /** Total size; default: the end of the last entry rounded up to 4. */
  size?: number;
}

/**
 * Lay entries out the way a C firmware struct does: header, offset array,
 * then each entry in order, each starting on a 4-byte boundary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildResourceTable, rpmsgVdev } from "./table.ts";
 * const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
 * const t = buildResourceTable(
 *   [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
 *   { offsetSlots: 8 },
 * );
 * assert(t.offsets[0] === 0x30 && t.size === 116);
 * ```
 */
export function buildResourceTable(
  entries: readonly EntryInit[],
  options: BuildResourceTableOptions = {},
): ResourceTable {
  const slots = options.offsetSlots ?? entries.length;
  if (!Number.isSafeInteger(slots) || slots < entries.length) {
    throw new ResourceTableError(
      "RSC_LAYOUT",
      `Resource table: ${slots} offset slots cannot hold ${entries.length} entries`,
    );
  }
  let at = RSC_HEADER_SIZE + 4 * slots;
  const placed: ResourceEntry[] = [];
  for (const e of entries) {
    at = Math.ceil(at / 4) * 4;
    placed.push({ ...e, offset: at } as ResourceEntry);
    at += entrySize(e);
  }
  const size = options.size ?? Math.ceil(at / 4) * 4;
  const table: ResourceTable = {
    version: RSC_TABLE_VERSION,
    entries: placed,
    offsets: placed.map((e) => e.offset),
    size,
  };
  checkLayout(table);
  return table;
}

/** Options for {@linkcode rpmsgVdev}. */
export interface RpmsgVdevOptions {
  /** Virtio device id. Default 7 (rpmsg). */
  id?: number;
  /** Default 0. */
  notifyid?: number;
  /** Default `VIRTIO_RPMSG_F_NS` (1). */
  dfeatures?: number;
  /** The vrings: rpmsg uses two (TX then RX, as the remote sees them). */
  vrings: readonly Vring[];
  /** Bytes of (zeroed) config space. Default 0. */
  configLen?: number;
}

/**
 * A vdev entry for rpmsg with host-written fields (gfeatures, status) zeroed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rpmsgVdev } from "./table.ts";
 * const v = rpmsgVdev({ notifyid: 0, vrings: [{ da: 0x4000, align: 0x1000, num: 256, notifyid: 1 }] });
 * assert(v.id === 7 && v.dfeatures === 1 && v.status === 0);
 * ```
 */
export function rpmsgVdev(options: RpmsgVdevOptions): EntryInit<Vdev> {
  const configLen = options.configLen ?? 0;
  if (!Number.isSafeInteger(configLen) || configLen < 0 || configLen > 0xffff_ffff) {
    throw new ResourceTableError(
      "RSC_LAYOUT",
      `Resource table: config length ${configLen} is invalid`,
    );
  }
  return {
    kind: "vdev",
    id: options.id ?? VIRTIO_ID_RPMSG,
    notifyid: options.notifyid ?? 0,
    dfeatures: options.dfeatures ?? VIRTIO_RPMSG_F_NS,
    gfeatures: 0,
    status: 0,
    reserved: [0, 0],
    vrings: options.vrings.map((v) => ({ ...v, reserved: v.reserved ?? 0 })),
    config: new Uint8Array(configLen),
  };
}

function layoutError(message: string): never {
  throw new ResourceTableError("RSC_LAYOUT", `Resource table: ${message}`);
}

function isU32(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

/** Check that a table can be serialized without clobbering itself. */
function checkLayout(table: ResourceTable): void {
  const { size, entries, offsets } = table;
  if (!Number.isSafeInteger(size) || size < RSC_HEADER_SIZE) {
    layoutError(`size ${size} is smaller than the ${RSC_HEADER_SIZE}-byte header`);
  }
  if (offsets.length !== entries.length) {
    layoutError(`${offsets.length} offsets for ${entries.length} entries`);
  }
  const headerEnd = RSC_HEADER_SIZE + 4 * entries.length;
  if (headerEnd > size) layoutError(`offset array ends at ${headerEnd}, past size ${size}`);
  const spans: { start: number; end: number; i: number }[] = [];
  entries.forEach((e, i) => {
    if (offsets[i] !== e.offset) {
      layoutError(`offsets[${i}] is ${offsets[i]} but entry ${i} has offset ${e.offset}`);
    }
    const len = entrySize(e);
    if (!Number.isSafeInteger(e.offset) || e.offset < headerEnd || e.offset > size - len) {
      layoutError(
        `entry ${i} (${e.kind}) [${e.offset}, +${len}) is outside [${headerEnd}, ${size})`,
      );
    }
    if (e.kind === "vdev" && e.vrings.length > 255) {
      layoutError(`entry ${i} has ${e.vrings.length} vrings, the count is one byte`);
    }
    spans.push({ start: e.offset, end: e.offset + len, i });
  });
  spans.sort((a, b) => a.start - b.start);
  for (let k = 1; k < spans.length; k++) {
    if (spans[k]!.start < spans[k - 1]!.end) {
      layoutError(`entry ${spans[k]!.i} overlaps entry ${spans[k - 1]!.i}`);
    }
  }
}

function encodeName(out: Uint8Array, at: number, name: string, where: string): void {
  const enc = new TextEncoder().encode(name);
  if (enc.length > RSC_NAME_LEN) {
    throw new ResourceTableError(
      "RSC_NAME_TOO_LONG",
      `Resource table: ${where} name "${name}" is ${enc.length} bytes, at most ${RSC_NAME_LEN}`,
    );
  }
  out.set(enc, at); // the rest stays NUL
}

/** Options for {@linkcode serializeResourceTable}. */
export interface SerializeResourceTableOptions {
  /** Byte order. Default `true` (little-endian). */
  littleEndian?: boolean;
}

/**
 * Encode a table to `table.size` bytes, each entry at its `offset`. Bytes no
 * entry covers are zero. Throws `RSC_LAYOUT` for an inconsistent table
 * (overlaps, entries past `size`) and `RSC_FIELD_RANGE` for a field that does
 * not fit its width.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildResourceTable, parseResourceTable, serializeResourceTable } from "./table.ts";
 * const t = buildResourceTable([
 *   { kind: "trace", da: 0x9030_0000, len: 0x1000, name: "trace0" },
 * ]);
 * const bytes = serializeResourceTable(t);
 * assert(bytes.length === 16 + 4 + 48);
 * const back = parseResourceTable(bytes).entries[0];
 * assert(back?.kind === "trace" && back.name === "trace0");
 * ```
 */
export function serializeResourceTable(
  table: ResourceTable,
  options: SerializeResourceTableOptions = {},
): Uint8Array {
  checkLayout(table);
  const le = options.littleEndian ?? true;
  const out = new Uint8Array(table.size);
  const dv = new DataView(out.buffer);
  const put = (o: number, v: number, field: string) => {
    if (!isU32(v)) {
      throw new ResourceTableError(
        "RSC_FIELD_RANGE",
        `Resource table: ${field} = ${v} does not fit in a u32`,
      );
    }
    dv.setUint32(o, v, le);
  };
  const putU8 = (o: number, v: number, field: string) => {
    if (!Number.isSafeInteger(v) || v < 0 || v > 0xff) {
      throw new ResourceTableError(
        "RSC_FIELD_RANGE",
        `Resource table: ${field} = ${v} does not fit in a u8`,
      );
    }
    out[o] = v;
  };
  put(0, table.version, "version");
  put(4, table.entries.length, "num");
  table.entries.forEach((e, i) => {
    put(RSC_HEADER_SIZE + 4 * i, e.offset, `offset[${i}]`);
    const o = e.offset;
    const w = `entry ${i} (${e.kind})`;
    switch (e.kind) {
      case "carveout":
      case "devmem":
        put(o, e.kind === "carveout" ? RSC_CARVEOUT : RSC_DEVMEM, `${w} type`);
        put(o + 4, e.da, `${w} da`);
        put(o + 8, e.pa, `${w} pa`);
        put(o + 12, e.len, `${w} len`);
        put(o + 16, e.flags, `${w} flags`);
        put(o + 20, e.reserved ?? 0, `${w} reserved`);
        encodeName(out, o + 24, e.name, w);
        break;
      case "trace":
        put(o, RSC_TRACE, `${w} type`);
        put(o + 4, e.da, `${w} da`);
        put(o + 8, e.len, `${w} len`);
        put(o + 12, e.reserved ?? 0, `${w} reserved`);
        encodeName(out, o + 16, e.name, w);
        break;
      case "vdev": {
        put(o, RSC_VDEV, `${w} type`);
        put(o + VDEV_ID, e.id, `${w} id`);
        put(o + VDEV_NOTIFYID, e.notifyid, `${w} notifyid`);
        put(o + VDEV_DFEATURES, e.dfeatures, `${w} dfeatures`);
        put(o + VDEV_GFEATURES, e.gfeatures, `${w} gfeatures`);
        put(o + VDEV_CONFIG_LEN, e.config.length, `${w} config_len`);
        putU8(o + VDEV_STATUS, e.status, `${w} status`);
        putU8(o + VDEV_NUM_VRINGS, e.vrings.length, `${w} num_of_vrings`);
        putU8(o + VDEV_RESERVED, e.reserved?.[0] ?? 0, `${w} reserved[0]`);
        putU8(o + VDEV_RESERVED + 1, e.reserved?.[1] ?? 0, `${w} reserved[1]`);
        e.vrings.forEach((v, k) => {
          const at = vringOffset(e, k);
          const vw = `${w} vring ${k}`;
          put(at + VRING_DA, v.da, `${vw} da`);
          put(at + VRING_ALIGN, v.align, `${vw} align`);
          put(at + VRING_NUM, v.num, `${vw} num`);
          put(at + VRING_NOTIFYID, v.notifyid, `${vw} notifyid`);
          put(at + VRING_RESERVED, v.reserved ?? 0, `${vw} reserved`);
        });
        out.set(e.config, vringOffset(e, e.vrings.length));
        break;
      }
      case "vendor":
        if (e.raw) out.set(e.raw, o);
        put(o, e.type, `${w} type`);
        break;
    }
  });
  return out;
}
