/**
 * The remote's trace buffer (openamp-wire.md section 1, `RSC_TRACE`): find
 * the trace entry in the live resource table, read the ring of text it names
 * and decode it oldest to newest, or follow it as it grows.
 *
 * Ring format (examples/firmware/rv64-virt/README.md): a buffer of `len`
 * bytes whose first `len - 1` bytes are a ring of text; the byte after the
 * newest character is always NUL and the last byte is always NUL. Reading
 * from just after that NUL, wrapping, gives oldest to newest. Before the ring
 * first wraps the text is simply the C string at the start.
 *
 * Everything read from shared memory is untrusted: the table is parsed with
 * bounds on every field, the buffer must lie inside a mapped region, and
 * control characters in the text are shown escaped (`\x1b`), never sent to a
 * terminal raw.
 *
 * @module
 */

import { MemoryBoundsError, ResourceTableError } from "../errors.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import type { MachineProfile } from "../machine/types.ts";
import {
  FW_RSC_U32_ADDR_ANY,
  RSC_HEADER_SIZE,
  RSC_NAME_LEN,
  RSC_TRACE,
  TRACE_SIZE,
} from "../rsc/layout.ts";

/** Most entries looked at in a live table (a garbage `num` cannot make us loop long). */
export const MAX_LIVE_ENTRIES = 256;

/** A trace entry found in a live resource table. */
export interface TraceEntryInfo {
  /** Position in the table's offset array. */
  index: number;
  /** Byte offset of the entry from the table start. */
  offset: number;
  /** Device address of the ring. */
  da: number;
  /** Ring length in bytes. */
  len: number;
  /** The entry's name (up to the first NUL, at most 32 bytes, control characters escaped). */
  name: string;
}

/** The ring decoded. */
export interface TraceRing {
  /** The text bytes oldest to newest, without NULs. */
  bytes: Uint8Array;
  /** Index of the NUL after the newest character, or -1 when the ring holds no NUL (torn or garbage). */
  writePos: number;
  /** True when the ring has wrapped (text after the write position). */
  wrapped: boolean;
}

const dec = new TextDecoder("utf-8", { fatal: false });
/** C0 controls except tab and newline, DEL and C1 controls. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * Text safe for a terminal: invalid UTF-8 becomes U+FFFD and control
 * characters other than newline and tab are shown as `\xNN`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { safeText } from "./trace.ts";
 * assert(safeText(Uint8Array.of(0x41, 0x1b, 0x0a)) === "A\\x1b\n");
 * assert(safeText(Uint8Array.of(0xff)) === "\ufffd");
 * ```
 */
export function safeText(bytes: Uint8Array): string {
  return dec.decode(bytes).replace(
    CONTROL,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function entryName(raw: Uint8Array): string {
  const nul = raw.indexOf(0);
  return safeText(nul < 0 ? raw : raw.subarray(0, nul));
}

/**
 * The trace entries of a resource table found in shared memory (`bytes` is a
 * copy of the table area). Only the header must be sane (version 1, an offset
 * array that fits); entries whose offset is unaligned or out of bounds are
 * skipped, and at most {@linkcode MAX_LIVE_ENTRIES} are looked at. Entries
 * with `da` ANY or `len` 0 are skipped (not valid trace buffers).
 *
 * Throws {@linkcode ResourceTableError}: `TRACE_TABLE_TOO_SMALL`,
 * `TRACE_TABLE_VERSION` (nothing published there yet, or garbage),
 * `TRACE_TABLE_OFFSETS` (`num` larger than the area allows).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findTraceEntries } from "./trace.ts";
 * import { buildResourceTable, serializeResourceTable } from "../rsc/table.ts";
 * const bytes = serializeResourceTable(buildResourceTable([
 *   { kind: "trace", da: 0x9024_0000, len: 0x1000, name: "trace0" },
 * ]));
 * const [t] = findTraceEntries(bytes);
 * assert(t?.da === 0x9024_0000 && t.len === 0x1000 && t.name === "trace0");
 * ```
 */
export function findTraceEntries(bytes: Uint8Array): TraceEntryInfo[] {
  if (bytes.length < RSC_HEADER_SIZE) {
    throw new ResourceTableError(
      "TRACE_TABLE_TOO_SMALL",
      `Resource table area is ${bytes.length} bytes, less than the ${RSC_HEADER_SIZE}-byte header`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ver = dv.getUint32(0, true);
  if (ver !== 1) {
    throw new ResourceTableError(
      "TRACE_TABLE_VERSION",
      `Resource table version is ${ver}, not 1 (no table published there yet, or garbage)`,
    );
  }
  const num = dv.getUint32(4, true);
  const room = Math.floor((bytes.length - RSC_HEADER_SIZE) / 4);
  if (num > room) {
    throw new ResourceTableError(
      "TRACE_TABLE_OFFSETS",
      `Resource table says ${num} entries, but only ${room} offsets fit in ${bytes.length} bytes`,
    );
  }
  const out: TraceEntryInfo[] = [];
  for (let i = 0; i < Math.min(num, MAX_LIVE_ENTRIES); i++) {
    const offset = dv.getUint32(RSC_HEADER_SIZE + 4 * i, true);
    if (offset % 4 !== 0 || offset > bytes.length - TRACE_SIZE) continue;
    if (dv.getUint32(offset, true) !== RSC_TRACE) continue;
    const da = dv.getUint32(offset + 4, true);
    const len = dv.getUint32(offset + 8, true);
    if (da === FW_RSC_U32_ADDR_ANY || len === 0) continue;
    const name = entryName(bytes.subarray(offset + 16, offset + 16 + RSC_NAME_LEN));
    out.push({ index: i, offset, da, len, name });
  }
  return out;
}

/**
 * Decode a trace ring buffer (a copy of its `len` bytes) oldest to newest.
 * Never throws: a ring with no NUL (garbage, or torn while the remote wrote)
 * is taken as text from its start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTraceRing } from "./trace.ts";
 * const enc = new TextEncoder();
 * const buf = new Uint8Array(8);
 * buf.set(enc.encode("fgh"), 0); // newest: wrapped to the start
 * buf.set(enc.encode("cde"), 4); // oldest, after the NUL at 3
 * const r = decodeTraceRing(buf);
 * assert(new TextDecoder().decode(r.bytes) === "cdefgh" && r.wrapped && r.writePos === 3);
 * ```
 */
export function decodeTraceRing(buf: Uint8Array): TraceRing {
  if (buf.length < 2) return { bytes: new Uint8Array(0), writePos: -1, wrapped: false };
  const ring = buf.subarray(0, buf.length - 1);
  const writePos = ring.indexOf(0);
  const keep = (b: Uint8Array) => b.filter((c) => c !== 0);
  if (writePos < 0) return { bytes: keep(ring), writePos, wrapped: false };
  const after = keep(ring.subarray(writePos + 1));
  const before = keep(ring.subarray(0, writePos));
  const bytes = new Uint8Array(after.length + before.length);
  bytes.set(after, 0);
  bytes.set(before, after.length);
  return { bytes, writePos, wrapped: after.length > 0 };
}

/** What {@linkcode TraceFollower.update} found. */
export interface TraceUpdate {
  /** Bytes written since the last update (all of the ring on the first update or after a gap). */
  bytes: Uint8Array;
  /**
   * True when the ring cannot be continued from the last update: the remote
   * restarted (trace cleared) or wrote more than a whole ring in between.
   */
  gap: boolean;
}

function startsWith(a: Uint8Array, b: Uint8Array, from: number): boolean {
  // Does a begin with b[from..]?
  const n = b.length - from;
  if (n > a.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[from + i]) return false;
  return true;
}

/**
 * Follows a trace ring across successive snapshots and returns only what is
 * new, using the write position to know how much was written and the text
 * itself to check that the ring really continues.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TraceFollower } from "./trace.ts";
 * const enc = new TextEncoder(), dec = new TextDecoder();
 * const f = new TraceFollower();
 * const buf = new Uint8Array(16);
 * buf.set(enc.encode("ab"));
 * assert(dec.decode(f.update(buf)?.bytes) === "ab");
 * buf.set(enc.encode("cd"), 2);
 * assert(dec.decode(f.update(buf)?.bytes) === "cd");
 * assert(f.update(buf)?.bytes.length === 0);
 * ```
 */
export class TraceFollower {
  #last: TraceRing | undefined;

  /**
   * Feed a fresh copy of the buffer. Returns null when the snapshot is torn
   * (no NUL in the ring: the remote was writing); try again at the next poll.
   */
  update(buf: Uint8Array): TraceUpdate | null {
    const cur = decodeTraceRing(buf);
    if (cur.writePos < 0) return null;
    const prev = this.#last;
    this.#last = cur;
    if (!prev || prev.writePos < 0) return { bytes: cur.bytes, gap: false };
    const ringLen = buf.length - 1;
    const d = (cur.writePos - prev.writePos + ringLen) % ringLen;
    // Characters of prev no longer in cur: everything written minus what cur holds.
    const dropped = prev.bytes.length + d - cur.bytes.length;
    if (dropped < 0 || dropped > prev.bytes.length || !startsWith(cur.bytes, prev.bytes, dropped)) {
      return { bytes: cur.bytes, gap: true };
    }
    return { bytes: cur.bytes.slice(prev.bytes.length - dropped), gap: false };
  }
}

/** A trace buffer located in mapped memory. */
export interface LiveTrace {
  /** The entry it came from. */
  entry: TraceEntryInfo;
  /** The mapped region holding the whole buffer. */
  region: MemoryRegion;
  /** Every valid trace entry of the table. */
  entries: TraceEntryInfo[];
}

/**
 * Find trace entry `which` (default the first) of the live resource table at
 * `profile.layout.rscTable.pa` and check its buffer lies inside one mapped
 * region. Throws `ResourceTableError` (`TRACE_TABLE_*`, `TRACE_NONE`) or
 * {@linkcode MemoryBoundsError} (`TRACE_TABLE_UNMAPPED`, `TRACE_OUTSIDE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { locateTrace } from "./trace.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { buildResourceTable, serializeResourceTable } from "../rsc/table.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * const shm = heapRegion(0x9010_0000, 0x8_0000);
 * const map = new MemoryMap([shm, heapRegion(0x9020_0000, 0x7f_f000)]);
 * shm.write(0x9010_0000, serializeResourceTable(buildResourceTable([
 *   { kind: "trace", da: 0x9024_0000, len: 0x1000, name: "trace0" },
 * ])));
 * assert(locateTrace(map, RV64_VIRT).entry.da === 0x9024_0000);
 * ```
 */
export function locateTrace(map: MemoryMap, profile: MachineProfile, which = 0): LiveTrace {
  const { pa, size } = profile.layout.rscTable;
  const tableRegion = map.find(pa, RSC_HEADER_SIZE);
  if (!tableRegion) {
    throw new MemoryBoundsError(
      "TRACE_TABLE_UNMAPPED",
      `The resource table address ${hex(pa)} of machine "${profile.name}" is not mapped`,
    );
  }
  const len = Math.min(size, tableRegion.end - pa);
  const entries = findTraceEntries(tableRegion.read(pa, len));
  const entry = entries[which];
  if (!entry) {
    throw new ResourceTableError(
      "TRACE_NONE",
      entries.length === 0
        ? `The resource table at ${hex(pa)} has no trace entry`
        : `The resource table at ${hex(pa)} has ${entries.length} trace entries, no entry ${which}`,
    );
  }
  const region = map.find(entry.da, entry.len);
  if (!region) {
    throw new MemoryBoundsError(
      "TRACE_OUTSIDE",
      `Trace buffer "${entry.name}" [${hex(entry.da)}, +${
        hex(entry.len)
      }) is not inside one mapped region of machine "${profile.name}"`,
    );
  }
  return { entry, region, entries };
}

/** The trace text as it is now. */
export interface TraceReport {
  /** The entry read. */
  entry: TraceEntryInfo;
  /** Text oldest to newest, terminal-safe. */
  text: string;
  /** The ring wrapped (the oldest line may be cut). */
  wrapped: boolean;
}

/**
 * Read and decode trace entry `which` (default the first) of the live table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLiveTrace } from "./trace.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { buildResourceTable, serializeResourceTable } from "../rsc/table.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * const shm = heapRegion(0x9010_0000, 0x8_0000);
 * const img = heapRegion(0x9020_0000, 0x7f_f000);
 * shm.write(0x9010_0000, serializeResourceTable(buildResourceTable([
 *   { kind: "trace", da: 0x9024_0000, len: 0x1000, name: "trace0" },
 * ])));
 * img.write(0x9024_0000, new TextEncoder().encode("[0] hello\n"));
 * const r = readLiveTrace(new MemoryMap([shm, img]), RV64_VIRT);
 * assert(r.text === "[0] hello\n" && !r.wrapped);
 * ```
 */
export function readLiveTrace(map: MemoryMap, profile: MachineProfile, which = 0): TraceReport {
  const { entry, region } = locateTrace(map, profile, which);
  const ring = decodeTraceRing(region.read(entry.da, entry.len));
  return { entry, text: safeText(ring.bytes), wrapped: ring.wrapped };
}

/** Options for {@linkcode followTrace}. */
export interface FollowTraceOptions {
  /** Stops following (Ctrl+C in the CLI). */
  signal: AbortSignal;
  /** Milliseconds between polls (default 100). */
  intervalMs?: number;
  /** Receives new text (terminal-safe). */
  write: (text: string) => void;
  /** Called when the ring could not be continued (the remote restarted, or overran the ring). */
  onGap?: () => void;
}

/**
 * Print the ring's text, then poll it every `intervalMs` and print what is
 * new until `signal` aborts. Sleeps between polls (no spinning). A torn
 * snapshot is retried at the next poll.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { followTrace } from "./trace.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const r = heapRegion(0x1000, 64);
 * r.write(0x1000, new TextEncoder().encode("[0] up\n"));
 * const ac = new AbortController();
 * let out = "";
 * setTimeout(() => ac.abort(), 30);
 * await followTrace(r, { da: 0x1000, len: 64 }, { signal: ac.signal, intervalMs: 5, write: (t) => (out += t) });
 * assert(out === "[0] up\n");
 * ```
 */
export async function followTrace(
  region: MemoryRegion,
  entry: Pick<TraceEntryInfo, "da" | "len">,
  options: FollowTraceOptions,
): Promise<void> {
  const f = new TraceFollower();
  const interval = options.intervalMs ?? 100;
  const { signal } = options;
  while (!signal.aborted) {
    const u = f.update(region.read(entry.da, entry.len));
    if (u) {
      if (u.gap) options.onGap?.();
      if (u.bytes.length > 0) options.write(safeText(u.bytes));
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, interval);
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
