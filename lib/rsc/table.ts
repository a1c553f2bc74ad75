/**
 * Parse, check, build and serialize OpenAMP resource tables
 * (openamp-wire.md section 1). The entry types are in `types.ts`, the
 * decoders (one per entry kind) in `_decode.ts`.
 *
 * Everything here treats its input as untrusted: every field is bounds-checked
 * before use and every sum is computed so it cannot wrap. Each failed check has
 * its own stable `code` on the thrown {@linkcode ResourceTableError}.
 *
 * @module
 */

import { ResourceTableError } from "../errors.ts";
import {
  CARVEOUT_SIZE,
  DEVMEM_SIZE,
  RSC_CARVEOUT,
  RSC_DEVMEM,
  RSC_HEADER_SIZE,
  RSC_NAME_LEN,
  RSC_TABLE_VERSION,
  RSC_TRACE,
  RSC_VDEV,
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
import type {
  EntryInit,
  ParseResourceTableOptions,
  ResourceEntry,
  ResourceTable,
  ResourceTableCheck,
  RscProblem,
  Vdev,
  Vring,
} from "./types.ts";
import { decodeTable } from "./_decode.ts";

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
  const table = decodeTable(bytes, options, (p) => {
    if (p.severity === "error") throw new ResourceTableError(p.code, p.message);
  });
  // decodeTable() only returns undefined after reporting an error, which threw above.
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
  const table = decodeTable(bytes, options, (p) => problems.push(p));
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
