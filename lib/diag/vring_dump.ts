/**
 * `amp vring dump`: decode a live rpmsg vdev straight from shared memory,
 * read-only: the vdev's status and features from the live resource table,
 * each vring's indices and flags, the descriptors in flight and the rpmsg
 * headers of the last N used and avail entries. The tool for a stuck channel.
 *
 * Everything is untrusted: the table is checked with the resource-table
 * checker (never throwing), rings are decoded with `readVringSnapshot` (which
 * reads only inside the ring), and a message header is read only when its
 * descriptor's whole 16-byte header lies inside a mapped region. Nonsense is
 * reported as found, with a note, never thrown.
 *
 * @module
 */

import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import type { MachineProfile } from "../machine/types.ts";
import { RPMSG_HDR_SIZE } from "../rpmsg/mod.ts";
import { FW_RSC_U32_ADDR_ANY, VIRTIO_ID_RPMSG } from "../rsc/layout.ts";
import { checkResourceTable, vdevStatusAddr } from "../rsc/table.ts";
import type { Vdev } from "../rsc/types.ts";
import { readVringSnapshot, vringLayout } from "../virtio/virtqueue.ts";
import { featureNames, statusNames } from "./names.ts";

/** An rpmsg header read from a buffer. */
export interface MessageHeaderInfo {
  /** Buffer address. */
  addr: number;
  /** Source endpoint address. */
  src: number;
  /** Destination endpoint address. */
  dst: number;
  /** Reserved word (upstream receivers use it for bookkeeping). */
  reserved: number;
  /** Payload length. */
  len: number;
  /** Flags. */
  flags: number;
  /** True when `len` fits the buffer. */
  ok: boolean;
  /** Why the header is not plausible, when it is not. */
  problem?: string;
}

/** One ring entry with the header of its buffer. */
export interface RingEntryInfo {
  /** Free-running ring index of the entry. */
  idx: number;
  /** Slot in the ring (`idx % num`). */
  slot: number;
  /** Descriptor id (used element id, or avail head). */
  id: number;
  /** Used element `len` (used entries), or the descriptor's `len` (avail entries); -1 unknown. */
  len: number;
  /** Descriptor address, or -1 when the id is out of range. */
  addr: number;
  /** The rpmsg header in the buffer, or null when it could not be read (see `problem`). */
  header: MessageHeaderInfo | null;
  /** Why the entry or its header is unusable. */
  problem?: string;
}

/** A descriptor in flight (posted by the driver, not yet returned). */
export interface InFlightInfo {
  /** Descriptor id. */
  head: number;
  /** Buffer address (-1: head out of range). */
  addr: number;
  /** Buffer length. */
  len: number;
  /** Descriptor flags. */
  flags: number;
  /** Names of the set flags. */
  flagNames: string[];
  /** Next descriptor. */
  next: number;
}

/** One vring. */
export interface VringDump {
  /** Index in the vdev (0 = vring0, device to driver). */
  index: number;
  /** `da` from the live table. */
  da: number;
  /** `da` as hex, or "ANY". */
  daHex: string;
  /** Address decoded: `da`, or the profile layout's when `da` is ANY. */
  pa: number;
  /** `pa` as hex. */
  paHex: string;
  /** Where `pa` came from. */
  source: "table" | "layout";
  /** Entries. */
  num: number;
  /** Used ring alignment. */
  align: number;
  /** Notify id. */
  notifyid: number;
  /** Why the ring could not be decoded, or null. */
  error: string | null;
  /** avail.flags. */
  availFlags: number;
  /** avail.idx. */
  availIdx: number;
  /** used.flags. */
  usedFlags: number;
  /** used.idx. */
  usedIdx: number;
  /** `(avail.idx - used.idx) mod 2^16`: buffers the device holds (> num means corrupt). */
  pending: number;
  /** Descriptors between used.idx and avail.idx (at most num). */
  inFlight: InFlightInfo[];
  /** The last N used entries, oldest first. */
  lastUsed: RingEntryInfo[];
  /** The last N avail entries, oldest first. */
  lastAvail: RingEntryInfo[];
}

/** One vdev of the live table. */
export interface VdevDumpEntry {
  /** Offset in the table. */
  offset: number;
  /** Address of the entry. */
  pa: number;
  /** `pa` as hex. */
  paHex: string;
  /** Virtio device id. */
  id: number;
  /** Notify id. */
  notifyid: number;
  /** Device features. */
  dfeatures: number;
  /** Their names. */
  dfeatureNames: string[];
  /** Features the driver accepted. */
  gfeatures: number;
  /** Their names. */
  gfeatureNames: string[];
  /** The negotiated set (`dfeatures & gfeatures`) by name. */
  negotiatedNames: string[];
  /** Status byte. */
  status: number;
  /** Its set bits by name. */
  statusNames: string[];
  /** Address of the status byte. */
  statusPa: number;
  /** The vrings. */
  vrings: VringDump[];
}

/** The whole dump. */
export interface VdevDump {
  /** Machine profile name. */
  machine: string;
  /** Live table address. */
  tablePa: number;
  /** `tablePa` as hex. */
  tablePaHex: string;
  /** The table passed every check. */
  tableOk: boolean;
  /** What the table checker found (errors and warnings). */
  problems: string[];
  /** rpmsg vdevs (other virtio devices are listed too, by id). */
  vdevs: VdevDumpEntry[];
  /**
   * When the table gave no vdev: the profile layout's rings decoded anyway
   * (the channel may still be there with a clobbered table).
   */
  layoutRings: VringDump[];
}

/** Options for {@linkcode dumpVdev}. */
export interface DumpOptions {
  /** Entries shown per list (default 8, capped at each ring's num). */
  last?: number;
}

const DESC_FLAGS: readonly (readonly [number, string])[] = [
  [1, "NEXT"],
  [2, "WRITE"],
  [4, "INDIRECT"],
];

function descFlagNames(flags: number): string[] {
  if (flags < 0) return [];
  const out = DESC_FLAGS.filter(([b]) => flags & b).map(([, n]) => n);
  const rest = flags & ~7;
  if (rest) out.push(hex(rest));
  return out;
}

function readHeader(map: MemoryMap, addr: number, bufLen: number): {
  header: MessageHeaderInfo | null;
  problem?: string;
} {
  if (addr < 0 || !Number.isSafeInteger(addr)) return { header: null, problem: "no descriptor" };
  const r = map.find(addr, RPMSG_HDR_SIZE);
  if (!r) {
    return { header: null, problem: `buffer ${hex(addr)} is not inside a mapped region` };
  }
  const h: MessageHeaderInfo = {
    addr,
    src: r.u32(addr),
    dst: r.u32(addr + 4),
    reserved: r.u32(addr + 8),
    len: r.u16(addr + 12),
    flags: r.u16(addr + 14),
    ok: true,
  };
  if (bufLen < RPMSG_HDR_SIZE) {
    h.ok = false;
    h.problem = `buffer length ${bufLen} is shorter than the ${RPMSG_HDR_SIZE}-byte header`;
  } else if (h.len > bufLen - RPMSG_HDR_SIZE) {
    h.ok = false;
    h.problem = `header len ${h.len} > buffer length ${bufLen} - ${RPMSG_HDR_SIZE}`;
  }
  return { header: h };
}

/**
 * Decode one vring at `pa` (read-only). Never throws: an unmapped or invalid
 * ring gives `error`.
 */
function dumpVring(
  map: MemoryMap,
  init: { index: number; da: number; pa: number; source: "table" | "layout" },
  num: number,
  align: number,
  notifyid: number,
  last: number,
): VringDump {
  const d: VringDump = {
    index: init.index,
    da: init.da,
    daHex: init.da === FW_RSC_U32_ADDR_ANY ? "ANY" : hex(init.da),
    pa: init.pa,
    paHex: hex(init.pa),
    source: init.source,
    num,
    align,
    notifyid,
    error: null,
    availFlags: 0,
    availIdx: 0,
    usedFlags: 0,
    usedIdx: 0,
    pending: 0,
    inFlight: [],
    lastUsed: [],
    lastAvail: [],
  };
  let size: number;
  try {
    size = vringLayout(num, align, init.pa).size;
  } catch (e) {
    d.error = (e as Error).message;
    return d;
  }
  const region = map.find(init.pa, size);
  if (!region) {
    d.error = `ring [${hex(init.pa)}, +${hex(size)}) is not inside a mapped region`;
    return d;
  }
  const s = readVringSnapshot(region, { name: `vring${init.index}`, pa: init.pa, num, align });
  const l = vringLayout(num, align, init.pa);
  d.availFlags = s.availFlags;
  d.availIdx = s.availIdx;
  d.usedFlags = s.usedFlags;
  d.usedIdx = s.usedIdx;
  d.pending = (s.availIdx - s.usedIdx) & 0xffff;
  d.inFlight = s.inFlight.map((f) => ({ ...f, flagNames: descFlagNames(f.flags) }));
  const desc = (id: number) => {
    const a = init.pa + l.desc + 16 * id;
    return {
      addr: region.u32(a + 4) * 0x1_0000_0000 + region.u32(a),
      len: region.u32(a + 8),
      writable: (region.u16(a + 12) & 2) !== 0,
    };
  };
  const n = Math.min(last, num);
  const entries = (
    top: number,
    read: (slot: number) => { id: number; len?: number },
  ): RingEntryInfo[] => {
    // Indices before 0 were never written unless the counter wrapped, which cannot be told.
    const count = Math.min(n, top);
    const out: RingEntryInfo[] = [];
    for (let k = count; k > 0; k--) {
      const idx = (top - k) & 0xffff;
      const slot = idx & (num - 1);
      const { id, len } = read(slot);
      if (id >= num) {
        out.push({
          idx,
          slot,
          id,
          len: len ?? -1,
          addr: -1,
          header: null,
          problem: `id ${id} >= num ${num}`,
        });
        continue;
      }
      const dd = desc(id);
      // A used len only means something for buffers the device wrote (WRITE).
      const usedLen = len !== undefined && dd.writable ? len : undefined;
      const bufLen = usedLen === undefined ? dd.len : Math.min(usedLen, dd.len);
      const h = readHeader(map, dd.addr, bufLen);
      const e: RingEntryInfo = {
        idx,
        slot,
        id,
        len: len ?? dd.len,
        addr: dd.addr,
        header: h.header,
      };
      if (h.problem) e.problem = h.problem;
      else if (usedLen !== undefined && usedLen > dd.len) {
        e.problem = `used len ${len} > descriptor len ${dd.len}`;
      }
      out.push(e);
    }
    return out;
  };
  d.lastUsed = entries(s.usedIdx, (slot) => {
    const e = init.pa + l.used + 4 + 8 * slot;
    return { id: region.u32(e), len: region.u32(e + 4) };
  });
  d.lastAvail = entries(
    s.availIdx,
    (slot) => ({ id: region.u16(init.pa + l.avail + 4 + 2 * slot) }),
  );
  return d;
}

/**
 * Decode the live rpmsg vdev(s) of `profile` from mapped memory. Read-only;
 * never throws on what it finds (a missing or garbage table is reported in
 * `problems`, and the profile layout's rings are decoded in `layoutRings`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dumpVdev } from "./vring_dump.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * const map = new MemoryMap([heapRegion(0x9010_0000, 0x8_0000)]);
 * const d = dumpVdev(map, RV64_VIRT, { last: 2 });
 * assert(d.vdevs.length === 0 && d.layoutRings.length === 2 && d.problems.length > 0);
 * ```
 */
export function dumpVdev(
  map: MemoryMap,
  profile: MachineProfile,
  options: DumpOptions = {},
): VdevDump {
  const last = Math.max(0, Math.min(options.last ?? 8, 32768));
  const { pa, size } = profile.layout.rscTable;
  const out: VdevDump = {
    machine: profile.name,
    tablePa: pa,
    tablePaHex: hex(pa),
    tableOk: false,
    problems: [],
    vdevs: [],
    layoutRings: [],
  };
  const region = map.find(pa, 16);
  if (!region) {
    out.problems.push(`the resource table address ${hex(pa)} is not mapped`);
  } else {
    const bytes = region.read(pa, Math.min(size, region.end - pa));
    const check = checkResourceTable(bytes, { name: `live table at ${hex(pa)}` });
    out.tableOk = check.ok;
    out.problems = check.problems.map((p) => `${p.severity} ${p.code}: ${p.message}`);
    for (const e of check.table?.entries ?? []) {
      if (e.kind !== "vdev") continue;
      out.vdevs.push(dumpVdevEntry(map, profile, pa, e, last));
    }
  }
  if (out.vdevs.length === 0) {
    out.layoutRings = profile.layout.vrings.map((v, index) =>
      dumpVring(map, { index, da: v.pa, pa: v.pa, source: "layout" }, v.num, v.align, -1, last)
    );
  }
  return out;
}

function dumpVdevEntry(
  map: MemoryMap,
  profile: MachineProfile,
  tablePa: number,
  v: Vdev,
  last: number,
): VdevDumpEntry {
  const entryPa = tablePa + v.offset;
  return {
    offset: v.offset,
    pa: entryPa,
    paHex: hex(entryPa),
    id: v.id,
    notifyid: v.notifyid,
    dfeatures: v.dfeatures,
    dfeatureNames: v.id === VIRTIO_ID_RPMSG ? featureNames(v.id, v.dfeatures) : [],
    gfeatures: v.gfeatures,
    gfeatureNames: v.id === VIRTIO_ID_RPMSG ? featureNames(v.id, v.gfeatures) : [],
    negotiatedNames: v.id === VIRTIO_ID_RPMSG
      ? featureNames(v.id, (v.dfeatures & v.gfeatures) >>> 0)
      : [],
    status: v.status,
    statusNames: statusNames(v.status),
    statusPa: vdevStatusAddr(tablePa, v),
    vrings: v.vrings.map((r, index) => {
      const layout = profile.layout.vrings[index];
      const any = r.da === FW_RSC_U32_ADDR_ANY;
      const placed = any && layout ? layout.pa : r.da;
      return dumpVring(
        map,
        { index, da: r.da, pa: placed, source: any && layout ? "layout" : "table" },
        r.num,
        r.align,
        r.notifyid,
        last,
      );
    }),
  };
}

function headerText(h: MessageHeaderInfo | null): string {
  if (!h) return "";
  return `src ${h.src} dst ${h.dst} len ${h.len} flags ${hex(h.flags)}${
    h.reserved ? ` reserved ${hex(h.reserved)}` : ""
  }`;
}

function vringText(v: VringDump, last: number, indent: string): string[] {
  const lines: string[] = [];
  lines.push(
    `${indent}vring${v.index} at ${v.paHex}${v.source === "layout" ? " (layout; da ANY)" : ""}` +
      `: num ${v.num}, align ${hex(v.align)}${v.notifyid >= 0 ? `, notifyid ${v.notifyid}` : ""}`,
  );
  const i2 = indent + "  ";
  if (v.error) {
    lines.push(`${i2}cannot decode: ${v.error}`);
    return lines;
  }
  lines.push(
    `${i2}avail idx ${v.availIdx} flags ${hex(v.availFlags)}${
      v.availFlags & 1 ? " NO_INTERRUPT" : ""
    }; used idx ${v.usedIdx} flags ${hex(v.usedFlags)}${v.usedFlags & 1 ? " NO_NOTIFY" : ""}; ` +
      `in flight ${v.pending}${v.pending > v.num ? ` (more than num ${v.num}: corrupt)` : ""}`,
  );
  if (v.inFlight.length > 0) {
    const shown = v.inFlight.slice(0, Math.max(last, 1));
    lines.push(
      `${i2}in flight: ` + shown.map((f) =>
        f.addr < 0
          ? `#${f.head}(bad head)`
          : `#${f.head} ${hex(f.addr)}+${f.len}${
            f.flagNames.length ? " " + f.flagNames.join("|") : ""
          }`
      ).join(", ") +
        (v.inFlight.length > shown.length ? `, ... ${v.inFlight.length - shown.length} more` : ""),
    );
  }
  const list = (title: string, entries: RingEntryInfo[]) => {
    if (entries.length === 0) return;
    lines.push(`${i2}last ${entries.length} ${title}:`);
    for (const e of entries) {
      const where = e.addr >= 0 ? ` ${hex(e.addr)}` : "";
      const h = headerText(e.header);
      const note = e.problem ?? e.header?.problem;
      lines.push(
        `${i2}  [${e.idx}] id ${e.id}${where} len ${e.len}${h ? ": " + h : ""}${
          note ? `  <- ${note}` : ""
        }`,
      );
    }
  };
  list("used", v.lastUsed);
  list("avail", v.lastAvail);
  return lines;
}

/**
 * The dump as text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dumpVdev, formatVdevDump } from "./vring_dump.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * const map = new MemoryMap([heapRegion(0x9010_0000, 0x8_0000)]);
 * const text = formatVdevDump(dumpVdev(map, RV64_VIRT));
 * assert(text.includes("vring0 at 0x90160000"));
 * ```
 */
export function formatVdevDump(d: VdevDump, last = 8): string {
  const lines: string[] = [];
  lines.push(`Resource table at ${d.tablePaHex} on ${d.machine}: ${d.tableOk ? "ok" : "PROBLEMS"}`);
  for (const p of d.problems) lines.push(`  ${p}`);
  if (d.vdevs.length === 0) {
    lines.push("No vdev in the live table; the machine layout's rings:");
    for (const v of d.layoutRings) lines.push(...vringText(v, last, "  "));
  }
  d.vdevs.forEach((v, i) => {
    lines.push(
      `vdev ${i} at ${v.paHex}: id ${v.id}${
        v.id === VIRTIO_ID_RPMSG ? " (rpmsg)" : ""
      }, notifyid ${v.notifyid}`,
    );
    lines.push(
      `  status ${hex(v.status)} ${v.statusNames.length ? v.statusNames.join("|") : "(reset)"}`,
    );
    lines.push(
      `  dfeatures ${hex(v.dfeatures)} ${v.dfeatureNames.join(",") || "-"}; gfeatures ${
        hex(v.gfeatures)
      } ${v.gfeatureNames.join(",") || "-"}; negotiated ${v.negotiatedNames.join(",") || "-"}`,
    );
    for (const r of v.vrings) lines.push(...vringText(r, last, "  "));
  });
  return lines.join("\n") + "\n";
}
