/**
 * Decoding a resource table from untrusted bytes: the header and offset
 * array, then one decoder per entry kind, then the overlap check. Every
 * check reports one precise finding with its own code; structural failures
 * (the entry cannot be located or read) leave no table. Internal to the rsc
 * package: `table.ts` turns findings into a throw or a list.
 *
 * @module
 */

import type { ResourceTableErrorCode } from "../errors.ts";
import { hex } from "../mem/region.ts";
import {
  CARVEOUT_SIZE,
  DEVMEM_SIZE,
  FW_RSC_U32_ADDR_ANY,
  MAX_VDEV_VRINGS,
  MAX_VRING_NUM,
  RSC_CARVEOUT,
  RSC_DEVMEM,
  RSC_HEADER_SIZE,
  RSC_NAME_LEN,
  RSC_TABLE_VERSION,
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
  VRING_ALIGN,
  VRING_DA,
  VRING_NOTIFYID,
  VRING_NUM,
  VRING_RESERVED,
  VRING_SIZE,
} from "./layout.ts";
import type {
  ParseResourceTableOptions,
  ResourceEntry,
  ResourceTable,
  RscProblem,
  Vring,
} from "./types.ts";

/** Receives every finding as it is made (it may throw to stop at the first error). */
export type Report = (p: RscProblem) => void;

/** The table being decoded and where findings go. */
interface Ctx {
  readonly bytes: Uint8Array;
  readonly size: number;
  /** A u32 field at a table offset the caller checked is inside. */
  u32(o: number): number;
  /** An error finding (`message` without the table label). */
  err(code: ResourceTableErrorCode, message: string, offset?: number): void;
  /** A warning finding (also kept in the table's `warnings`). */
  warn(code: ResourceTableErrorCode, message: string, offset?: number): void;
  /** Distinct entry offsets, ascending (where a vendor entry ends). */
  readonly sorted: readonly number[];
}

/** A decoded entry and the end of the bytes it covers; undefined: it could not be read. */
type Decoded = { entry: ResourceEntry; end: number } | undefined;

/** Decodes the entry at `off`; `what` names it in messages, `avail` bytes remain. */
type EntryDecoder = (c: Ctx, off: number, what: string, avail: number) => Decoded;

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

/** Carveout (0) and devmem (1): the same 56 bytes. */
function decodeMemory(kind: "carveout" | "devmem"): EntryDecoder {
  const code = kind === "carveout"
    ? "RSC_CARVEOUT_RESERVED_NONZERO"
    : "RSC_DEVMEM_RESERVED_NONZERO";
  const size = kind === "carveout" ? CARVEOUT_SIZE : DEVMEM_SIZE;
  return (c, off, what) => {
    const reserved = c.u32(off + 20);
    if (reserved !== 0) c.err(code, `${what}: reserved is ${hex(reserved)}, must be 0`, off + 20);
    const fields = {
      offset: off,
      da: c.u32(off + 4),
      pa: c.u32(off + 8),
      len: c.u32(off + 12),
      flags: c.u32(off + 16),
      reserved,
      name: decodeName(c.bytes, off + 24),
    };
    const entry: ResourceEntry = kind === "carveout"
      ? { kind: "carveout", ...fields }
      : { kind: "devmem", ...fields };
    return { entry, end: off + size };
  };
}

/** Trace (2): a fixed address and a non-zero length. */
const decodeTrace: EntryDecoder = (c, off, what) => {
  const da = c.u32(off + 4), len = c.u32(off + 8), reserved = c.u32(off + 12);
  if (da === FW_RSC_U32_ADDR_ANY) {
    c.err(
      "RSC_TRACE_BAD_DA",
      `${what}: da is ADDR_ANY, a trace buffer needs a fixed address`,
      off + 4,
    );
  }
  if (len === 0) c.err("RSC_TRACE_ZERO_LEN", `${what}: len is 0`, off + 8);
  if (reserved !== 0) {
    c.warn(
      "RSC_TRACE_RESERVED_NONZERO",
      `${what}: reserved is ${hex(reserved)}, should be 0`,
      off + 12,
    );
  }
  const entry: ResourceEntry = {
    kind: "trace",
    offset: off,
    da,
    len,
    reserved,
    name: decodeName(c.bytes, off + 16),
  };
  return { entry, end: off + TRACE_SIZE };
};

/** One vring descriptor of a vdev at table offset `at`. */
function decodeVring(c: Ctx, at: number, what: string, v: number): Vring {
  const vr: Vring = {
    da: c.u32(at + VRING_DA),
    align: c.u32(at + VRING_ALIGN),
    num: c.u32(at + VRING_NUM),
    notifyid: c.u32(at + VRING_NOTIFYID),
    reserved: c.u32(at + VRING_RESERVED),
  };
  if (!isPow2(vr.num) || vr.num > MAX_VRING_NUM) {
    c.err(
      "RSC_VRING_BAD_NUM",
      `${what}: vring ${v} num ${vr.num} is not a power of two in 1..${MAX_VRING_NUM}`,
      at + VRING_NUM,
    );
  }
  if (!isPow2(vr.align)) {
    c.err(
      "RSC_VRING_BAD_ALIGN",
      `${what}: vring ${v} align ${hex(vr.align)} is not a non-zero power of two`,
      at + VRING_ALIGN,
    );
  }
  if (vr.reserved !== 0) {
    c.err(
      "RSC_VRING_RESERVED_NONZERO",
      `${what}: vring ${v} reserved is ${hex(vr.reserved ?? 0)}, must be 0`,
      at + VRING_RESERVED,
    );
  }
  return vr;
}

/** Vdev (3): 28 bytes, then its vrings, then its config space, all inside the table. */
const decodeVdev: EntryDecoder = (c, off, what, avail) => {
  const bytes = c.bytes;
  const nvr = bytes[off + VDEV_NUM_VRINGS]!;
  const configLen = c.u32(off + VDEV_CONFIG_LEN);
  if (nvr > MAX_VDEV_VRINGS) {
    c.err(
      "RSC_VDEV_TOO_MANY_VRINGS",
      `${what}: num_of_vrings is ${nvr}, at most ${MAX_VDEV_VRINGS} are supported`,
      off + VDEV_NUM_VRINGS,
    );
  }
  // At most 28 + 20 * 255 + (2^32 - 1): far below 2^53, so the sum is exact.
  const need = VDEV_SIZE + VRING_SIZE * nvr + configLen;
  if (need > avail) {
    c.err(
      "RSC_VDEV_TRUNCATED",
      `${what}: needs ${VDEV_SIZE} + ${VRING_SIZE} * ${nvr} vrings + ${configLen} config = ` +
        `${need} bytes, only ${avail} remain in the table`,
      off,
    );
    return undefined;
  }
  const r0 = bytes[off + VDEV_RESERVED]!, r1 = bytes[off + VDEV_RESERVED + 1]!;
  if (r0 !== 0 || r1 !== 0) {
    c.err(
      "RSC_VDEV_RESERVED_NONZERO",
      `${what}: reserved bytes are ${hex(r0)} ${hex(r1)}, must be 0`,
      off + VDEV_RESERVED,
    );
  }
  const vrings: Vring[] = [];
  for (let v = 0; v < nvr; v++) {
    vrings.push(decodeVring(c, off + VDEV_VRINGS + VRING_SIZE * v, what, v));
  }
  const cfgAt = off + VDEV_VRINGS + VRING_SIZE * nvr;
  const entry: ResourceEntry = {
    kind: "vdev",
    offset: off,
    id: c.u32(off + VDEV_ID),
    notifyid: c.u32(off + VDEV_NOTIFYID),
    dfeatures: c.u32(off + VDEV_DFEATURES),
    gfeatures: c.u32(off + VDEV_GFEATURES),
    status: bytes[off + VDEV_STATUS]!,
    reserved: [r0, r1],
    vrings,
    config: bytes.slice(cfgAt, cfgAt + configLen),
  };
  return { entry, end: off + need };
};

/** Vendor types (128..512): skipped with a warning; its bytes run to the next entry or the end. */
function decodeVendor(c: Ctx, off: number, what: string, type: number): Decoded {
  let end = c.size;
  for (const o of c.sorted) {
    if (o > off) {
      end = Math.min(o, c.size);
      break;
    }
  }
  c.warn("RSC_VENDOR_SKIPPED", `${what}: vendor-specific type ${type} skipped`, off);
  return {
    entry: { kind: "vendor", offset: off, type, raw: c.bytes.slice(off, end) },
    end: off + 4,
  };
}

/** Name, fixed size (type word included) and decoder of each known entry type. */
const KINDS: Readonly<Record<number, { name: string; size: number; decode: EntryDecoder }>> = {
  [RSC_CARVEOUT]: { name: "carveout", size: CARVEOUT_SIZE, decode: decodeMemory("carveout") },
  [RSC_DEVMEM]: { name: "devmem", size: DEVMEM_SIZE, decode: decodeMemory("devmem") },
  [RSC_TRACE]: { name: "trace", size: TRACE_SIZE, decode: decodeTrace },
  [RSC_VDEV]: { name: "vdev", size: VDEV_SIZE, decode: decodeVdev },
};

/** Check the 16-byte header; the entry offsets, or undefined when the array does not fit. */
function decodeHeader(c: Ctx): { version: number; offsets: number[] } | undefined {
  const size = c.size;
  if (size % 4 !== 0) c.warn("RSC_SIZE_UNALIGNED", `size ${size} is not a multiple of 4`);
  const version = c.u32(0);
  if (version !== RSC_TABLE_VERSION) {
    c.err("RSC_BAD_VERSION", `version ${version}, expected ${RSC_TABLE_VERSION}`, 0);
  }
  const res0 = c.u32(8), res1 = c.u32(12);
  if (res0 !== 0 || res1 !== 0) {
    c.err(
      "RSC_RESERVED_NONZERO",
      `header reserved words are ${hex(res0)} and ${hex(res1)}, must both be 0`,
      8,
    );
  }
  const num = c.u32(4);
  const maxNum = Math.floor((size - RSC_HEADER_SIZE) / 4);
  if (num > maxNum) {
    c.err(
      "RSC_OFFSETS_OUT_OF_BOUNDS",
      `offset array of ${num} entries needs ${RSC_HEADER_SIZE} + 4 * ${num} bytes, ` +
        `table has ${size} (at most ${maxNum} entries fit)`,
      4,
    );
    return undefined;
  }
  const offsets: number[] = [];
  for (let i = 0; i < num; i++) offsets.push(c.u32(RSC_HEADER_SIZE + 4 * i));
  return { version, offsets };
}

/** Locate entry `i` at `off` and decode it by its type; undefined when it cannot be read. */
function decodeEntry(c: Ctx, i: number, off: number, headerEnd: number): Decoded {
  const size = c.size;
  const where = `entry ${i} at ${hex(off)}`;
  if (off > size - 4) {
    c.err(
      "RSC_ENTRY_OUT_OF_BOUNDS",
      `${where} leaves no room for its type word in a ${size}-byte table`,
      RSC_HEADER_SIZE + 4 * i,
    );
    return undefined;
  }
  if (off % 4 !== 0) c.warn("RSC_ENTRY_UNALIGNED", `${where} is not 4-byte aligned`, off);
  if (off < headerEnd) {
    c.warn(
      "RSC_ENTRY_OVERLAPS_HEADER",
      `${where} overlaps the header and offset array (which end at ${hex(headerEnd)})`,
      off,
    );
  }
  const type = c.u32(off);
  const avail = size - off;
  const kind = KINDS[type];
  if (kind !== undefined && kind.size > avail) {
    c.err(
      "RSC_ENTRY_TRUNCATED",
      `${where}: ${kind.name} needs ${kind.size} bytes, only ${avail} remain in the table`,
      off,
    );
    return undefined;
  }
  const what = `entry ${i} (${kind?.name ?? `type ${type}`} at ${hex(off)})`;
  if (kind !== undefined) return kind.decode(c, off, what, avail);
  if (type >= RSC_VENDOR_START && type <= RSC_VENDOR_END) return decodeVendor(c, off, what, type);
  c.err(
    "RSC_UNKNOWN_TYPE",
    `${where}: unknown type ${type} (known: 0..3, vendor ${RSC_VENDOR_START}..${RSC_VENDOR_END})`,
    off,
  );
  return undefined;
}

/** Warn about every entry that starts inside the one before it (in address order). */
function checkOverlaps(c: Ctx, extents: { start: number; end: number; i: number }[]): void {
  extents.sort((a, b) => a.start - b.start || a.i - b.i);
  for (let k = 1; k < extents.length; k++) {
    const prev = extents[k - 1]!, cur = extents[k]!;
    if (cur.start < prev.end) {
      c.warn(
        "RSC_ENTRIES_OVERLAP",
        `entry ${cur.i} at ${hex(cur.start)} overlaps entry ${prev.i} ` +
          `[${hex(prev.start)}, ${hex(prev.end)})`,
        cur.start,
      );
    }
  }
}

/**
 * Decode `bytes` as a resource table, reporting every finding through
 * `report` in table order. Returns the table, or undefined when its
 * structure is broken (too small, offsets out of bounds, truncated or
 * unknown entries); value errors still leave a table.
 */
export function decodeTable(
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
  const warnings: RscProblem[] = [];
  const finding = (
    code: ResourceTableErrorCode,
    message: string,
    severity: "error" | "warning",
    offset?: number,
  ): RscProblem =>
    offset === undefined
      ? { code, message: `${label}: ${message}`, severity }
      : { code, message: `${label}: ${message}`, severity, offset };
  const c = {
    bytes,
    size,
    u32: (o: number) => dv.getUint32(o, le),
    err: (code: ResourceTableErrorCode, message: string, offset?: number) =>
      report(finding(code, message, "error", offset)),
    warn: (code: ResourceTableErrorCode, message: string, offset?: number) => {
      const p = finding(code, message, "warning", offset);
      warnings.push(p);
      report(p);
    },
    sorted: [] as number[],
  };

  if (size < RSC_HEADER_SIZE) {
    c.err("RSC_TOO_SMALL", `${size} bytes is smaller than the ${RSC_HEADER_SIZE}-byte header`);
    return undefined;
  }
  const header = decodeHeader(c);
  if (header === undefined) return undefined;
  const { version, offsets } = header;
  const headerEnd = RSC_HEADER_SIZE + 4 * offsets.length;
  c.sorted = [...new Set(offsets)].sort((a, b) => a - b);

  const entries: ResourceEntry[] = [];
  const extents: { start: number; end: number; i: number }[] = [];
  let broken = false;
  offsets.forEach((off, i) => {
    const d = decodeEntry(c, i, off, headerEnd);
    if (d === undefined) {
      broken = true;
      return;
    }
    entries.push(d.entry);
    extents.push({ start: off, end: d.end, i });
  });
  checkOverlaps(c, extents);
  if (broken) return undefined;
  return { version, entries, offsets, size, warnings };
}
