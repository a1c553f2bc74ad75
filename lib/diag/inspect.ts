/**
 * The model and the checks behind `amp inspect`: decode a firmware ELF and
 * its resource table, plan the load on a machine profile (heap memory, nothing
 * written) and list every problem, as plain data. The CLI
 * (`lib/cli/inspect.ts`) only parses arguments and renders this report.
 *
 * JSON conventions: every number is a JSON number (all values are exact, the
 * ELF reader rejects anything above 2^53 - 1). Address fields (`entry`,
 * `paddr`, `vaddr`, `addr`, `da`, `pa`) also have a `...Hex` string twin
 * (`"0x90200000"`); a 32-bit resource-table address equal to
 * `FW_RSC_U32_ADDR_ANY` has the twin `"ANY"`. Flag words have a decoded twin
 * (`flagsText: "R-X"`, `dfeatureNames: ["NS"]`, `statusNames: []`).
 *
 * @module
 */

import { isAmpError, ResourceTableError } from "../errors.ts";
import { checkElf, type ElfImage, sectionData, SHT_NOBITS } from "../elf/mod.ts";
import { checkElfResourceTable, type ResourceEntry } from "../rsc/mod.ts";
import { type LoadPlan, planLoad } from "../remoteproc/loader.ts";
import { archMismatch } from "../remoteproc/arch.ts";
import type { MachineProfile } from "../machine/mod.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion, hex } from "../mem/region.ts";
import {
  daHex,
  ELF_MACHINE_NAMES,
  ELF_TYPE_NAMES,
  featureNames,
  nameOf,
  rwx,
  SECTION_TYPE_NAMES,
  sectionFlags,
  SEGMENT_TYPE_NAMES,
  statusNames,
  VIRTIO_DEVICE_NAMES,
} from "./names.ts";

/** Where a problem was found. */
export type ProblemSource = "elf" | "rsc" | "load";

/** One finding. Any `"error"` means the firmware cannot be loaded. */
export interface InspectProblem {
  /** Which checker found it: ELF checks, resource table checks, or the load planner. */
  readonly source: ProblemSource;
  /** Stable code of the failed check, e.g. `"RSC_VRING_BAD_NUM"`. */
  readonly code: string;
  /** `"error"` makes the image unloadable; `"warning"` does not. */
  readonly severity: "error" | "warning";
  /** What failed and why, with the numbers. */
  readonly message: string;
}

/** One program header. */
export interface SegmentInfo {
  /** Position in its table. */
  readonly index: number;
  /** Raw type number. */
  readonly type: number;
  /** Name of `type`, or its hex value when unknown. */
  readonly typeName: string;
  /** Byte offset in the file. */
  readonly offset: number;
  /** Physical (load) address. */
  readonly paddr: number;
  /** `paddr` as hex. */
  readonly paddrHex: string;
  /** Virtual address. */
  readonly vaddr: number;
  /** `vaddr` as hex. */
  readonly vaddrHex: string;
  /** Bytes in the file. */
  readonly filesz: number;
  /** Bytes in memory (the rest is zero-filled). */
  readonly memsz: number;
  /** Raw flag bits. */
  readonly flags: number;
  /** `"R-X"` style. */
  readonly flagsText: string;
  /** Alignment. */
  readonly align: number;
}

/** One section header. */
export interface SectionInfo {
  /** Position in its table. */
  readonly index: number;
  /** Name. */
  readonly name: string;
  /** Raw type number. */
  readonly type: number;
  /** Name of `type`, or its hex value when unknown. */
  readonly typeName: string;
  /** Raw flag bits. */
  readonly flags: number;
  /** `W`, `A`, `X` letters. */
  readonly flagsText: string;
  /** Address. */
  readonly addr: number;
  /** `addr` as hex. */
  readonly addrHex: string;
  /** Byte offset in the file. */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
}

/** The ELF header and tables. */
export interface ElfInfo {
  /** ELF class: 32 or 64. */
  readonly class: 32 | 64;
  /** `e_machine`. */
  readonly machine: number;
  /** Name of `machine`, or the number as text. */
  readonly machineName: string;
  /** Raw type number. */
  readonly type: number;
  /** Name of `type`, or its hex value when unknown. */
  readonly typeName: string;
  /** Raw flag bits. */
  readonly flags: number;
  /** Boot address, `e_entry`. */
  readonly entry: number;
  /** `entry` as hex. */
  readonly entryHex: string;
  /** Program headers. */
  readonly segments: readonly SegmentInfo[];
  /** Section headers. */
  readonly sections: readonly SectionInfo[];
}

/** One vring of a vdev. */
export interface VringInfo {
  /** Position in its table. */
  readonly index: number;
  /** Device address. */
  readonly da: number;
  /** Hex, or `"ANY"`. */
  readonly daHex: string;
  /** Alignment. */
  readonly align: number;
  /** Number of entries. */
  readonly num: number;
  /** Notification id. */
  readonly notifyid: number;
}

/** One resource entry, decoded. `index` is its position in the offset array. */
export type EntryInfo =
  | {
    /** Entry kind. */
    readonly kind: "vdev";
    /** Position in the offset array. */
    readonly index: number;
    /** Byte offset of the entry from the table start. */
    readonly offset: number;
    /** Virtio device id. */
    readonly id: number;
    /** `"rpmsg"` for 7; the number as text when unknown. */
    readonly idName: string;
    /** Notification id. */
    readonly notifyid: number;
    /** Features the device offers. */
    readonly dfeatures: number;
    /** Names of the set bits of `dfeatures`. */
    readonly dfeatureNames: readonly string[];
    /** Features the driver accepted (written by the host). */
    readonly gfeatures: number;
    /** Names of the set bits of `gfeatures`. */
    readonly gfeatureNames: readonly string[];
    /** Virtio status byte. */
    readonly status: number;
    /** Set status bits by name; empty means reset (0). */
    readonly statusNames: readonly string[];
    /** Config space length in bytes. */
    readonly configLen: number;
    /** The vrings. */
    readonly vrings: readonly VringInfo[];
  }
  | {
    /** Entry kind. */
    readonly kind: "carveout" | "devmem";
    /** Position in the offset array. */
    readonly index: number;
    /** Byte offset of the entry from the table start. */
    readonly offset: number;
    /** Name. */
    readonly name: string;
    /** Device address. */
    readonly da: number;
    /** `da` as hex, or `"ANY"`. */
    readonly daHex: string;
    /** Physical address. */
    readonly pa: number;
    /** `pa` as hex, or `"ANY"`. */
    readonly paHex: string;
    /** Length in bytes. */
    readonly len: number;
    /** Raw flag bits. */
    readonly flags: number;
  }
  | {
    /** Entry kind. */
    readonly kind: "trace";
    /** Position in the offset array. */
    readonly index: number;
    /** Byte offset of the entry from the table start. */
    readonly offset: number;
    /** Name. */
    readonly name: string;
    /** Device address. */
    readonly da: number;
    /** `da` as hex, or `"ANY"`. */
    readonly daHex: string;
    /** Length in bytes. */
    readonly len: number;
  }
  | {
    /** Entry kind. */
    readonly kind: "vendor";
    /** Position in the offset array. */
    readonly index: number;
    /** Byte offset of the entry from the table start. */
    readonly offset: number;
    /** Raw type number. */
    readonly type: number;
    /** Bytes from its type word to the next entry or the table end. */
    readonly size: number;
  };

/** The `.resource_table` section and what it holds. */
export interface ResourceTableInfo {
  /** Device address of the section (`sh_addr`), where the host writes the table. */
  readonly addr: number;
  /** `addr` as hex. */
  readonly addrHex: string;
  /** Section size in bytes. */
  readonly size: number;
  /** Header `ver` and `num`, when the header could be read. */
  readonly version?: number;
  /** Number of entries. */
  readonly num?: number;
  /** Decoded entries; absent when the table's structure is broken. */
  readonly entries?: readonly EntryInfo[];
}

/** Where each part of the image goes on a machine (the loader's plan, nothing written). */
export interface LoadInfo {
  /** Machine profile name. */
  readonly machine: string;
  /** True when the whole image fits. */
  readonly ok: boolean;
  /** Bytes a load copies or zero-fills (sum of memsz), when the plan succeeded. */
  readonly totalBytes?: number;
  /** Region of each loaded segment (PT_LOAD, memsz > 0), when the plan succeeded. */
  readonly segments: readonly {
    /** Position in its table. */
    readonly index: number;
    /** Physical (load) address. */
    readonly paddr: number;
    /** `paddr` as hex. */
    readonly paddrHex: string;
    /** Bytes in memory (the rest is zero-filled). */
    readonly memsz: number;
    /** Name of the memory region it goes to. */
    readonly region: string;
  }[];
  /** Where the resource table goes: the firmware's copy and the live (shared memory) copy. */
  readonly resourceTable?: {
    /** Section address: where the firmware's own copy goes. */
    readonly imageAddr: number;
    /** `imageAddr` as hex. */
    readonly imageAddrHex: string;
    /** Region holding the firmware's copy. */
    readonly imageRegion: string;
    /** Address. */
    readonly addr: number;
    /** `addr` as hex. */
    readonly addrHex: string;
    /** Name of the memory region it goes to. */
    readonly region: string;
  };
}

/** Everything `amp inspect` found. This is the `--json` output. */
export interface InspectReport {
  /** The path given on the command line (or the `name` option). */
  readonly file: string;
  /** File size in bytes. */
  readonly size: number;
  /** Absent when the ELF headers could not be read at all. */
  readonly elf?: ElfInfo;
  /** `null` when the firmware has no `.resource_table` (allowed: no vdevs then). */
  readonly resourceTable?: ResourceTableInfo | null;
  /** Present when a machine profile was planned against. */
  readonly load?: LoadInfo;
  /** Every problem, in the order found: ELF, resource table, load plan. */
  readonly problems: readonly InspectProblem[];
  /** Number of error-severity problems. */
  readonly errors: number;
  /** Number of warnings. */
  readonly warnings: number;
  /** True when nothing stops the firmware from loading. */
  readonly ok: boolean;
}

/** Options of {@linkcode inspectFirmware}. */
export interface InspectOptions {
  /** Name used in messages (default `"firmware"`). */
  readonly name?: string;
  /**
   * Machine profile to plan the load against; `null` skips planning. The
   * memory is heap-backed: nothing real is mapped.
   */
  readonly machine?: MachineProfile | null;
  /**
   * Plan against this map instead of fresh heap regions shaped like the
   * machine's (the fuzz driver reuses one map). Nothing is written to it.
   */
  readonly map?: MemoryMap;
}

function elfInfo(img: ElfImage): ElfInfo {
  return {
    class: img.class,
    machine: img.machine,
    machineName: nameOf(ELF_MACHINE_NAMES, img.machine, String),
    type: img.type,
    typeName: nameOf(ELF_TYPE_NAMES, img.type, String),
    flags: img.flags,
    entry: img.entry,
    entryHex: hex(img.entry),
    segments: img.segments.map((s) => ({
      index: s.index,
      type: s.type,
      typeName: nameOf(SEGMENT_TYPE_NAMES, s.type),
      offset: s.offset,
      paddr: s.paddr,
      paddrHex: hex(s.paddr),
      vaddr: s.vaddr,
      vaddrHex: hex(s.vaddr),
      filesz: s.filesz,
      memsz: s.memsz,
      flags: s.flags,
      flagsText: rwx(s.flags),
      align: s.align,
    })),
    sections: img.sections.map((s) => ({
      index: s.index,
      name: s.name,
      type: s.type,
      typeName: nameOf(SECTION_TYPE_NAMES, s.type),
      flags: s.flags,
      flagsText: sectionFlags(s.flags),
      addr: s.addr,
      addrHex: hex(s.addr),
      offset: s.offset,
      size: s.size,
    })),
  };
}

function entryInfo(e: ResourceEntry, index: number): EntryInfo {
  switch (e.kind) {
    case "vdev":
      return {
        kind: "vdev",
        index,
        offset: e.offset,
        id: e.id,
        idName: nameOf(VIRTIO_DEVICE_NAMES, e.id, String),
        notifyid: e.notifyid,
        dfeatures: e.dfeatures,
        dfeatureNames: featureNames(e.id, e.dfeatures),
        gfeatures: e.gfeatures,
        gfeatureNames: featureNames(e.id, e.gfeatures),
        status: e.status,
        statusNames: statusNames(e.status),
        configLen: e.config.length,
        vrings: e.vrings.map((v, i) => ({
          index: i,
          da: v.da,
          daHex: daHex(v.da),
          align: v.align,
          num: v.num,
          notifyid: v.notifyid,
        })),
      };
    case "carveout":
    case "devmem":
      return {
        kind: e.kind,
        index,
        offset: e.offset,
        name: e.name,
        da: e.da,
        daHex: daHex(e.da),
        pa: e.pa,
        paHex: daHex(e.pa),
        len: e.len,
        flags: e.flags,
      };
    case "trace":
      return {
        kind: "trace",
        index,
        offset: e.offset,
        name: e.name,
        da: e.da,
        daHex: daHex(e.da),
        len: e.len,
      };
    case "vendor":
      return {
        kind: "vendor",
        index,
        offset: e.offset,
        type: e.type,
        size: Math.max(4, e.raw?.length ?? 0),
      };
  }
}

/** Build a heap-backed memory map with the profile's regions (for planning only). */
function planningMap(profile: MachineProfile): MemoryMap {
  return new MemoryMap(
    profile.regions.map((r) => heapRegion(r.pa, r.size, { name: r.name })),
  );
}

interface PlanResult {
  plan?: LoadPlan;
  problems: { code: string; message: string; severity: "error" | "warning" }[];
}

/**
 * Plan the load; when it fails, plan each segment alone and the resource
 * table alone so that every placement problem is listed, not just the first.
 * Resource table format errors are left out: the table checks report them.
 */
function planEverything(
  img: ElfImage,
  map: MemoryMap,
  options: { name: string; rscTableAddr: number },
): PlanResult {
  const attempt = (part: ElfImage) => {
    try {
      return { plan: planLoad(part, map, options) };
    } catch (e) {
      if (!isAmpError(e)) throw e;
      return { error: e };
    }
  };
  const whole = attempt(img);
  if (whole.plan) {
    return {
      plan: whole.plan,
      problems: whole.plan.warnings.map((w) => ({ ...w, severity: "warning" as const })),
    };
  }
  const errors: ((Error & { code: string }) | undefined)[] = [whole.error];
  for (const s of img.segments) errors.push(attempt({ ...img, segments: [s], sections: [] }).error);
  errors.push(attempt({ ...img, segments: [] }).error);
  const seen = new Set<string>();
  const problems: PlanResult["problems"] = [];
  for (const e of errors) {
    if (!e || e instanceof ResourceTableError || seen.has(e.message)) continue;
    seen.add(e.message);
    problems.push({ code: e.code, message: e.message, severity: "error" });
  }
  return { problems };
}

function loadInfo(machine: string, map: MemoryMap, plan: LoadPlan | undefined): LoadInfo {
  if (!plan) return { machine, ok: false, segments: [] };
  const rsc = plan.rsc;
  const regionOf = (pa: number, len: number) => map.find(pa, len)?.name ?? "?";
  return {
    machine,
    ok: true,
    totalBytes: plan.totalBytes,
    segments: plan.segments.map((s) => ({
      index: s.index,
      paddr: s.paddr,
      paddrHex: hex(s.paddr),
      memsz: s.memsz,
      region: s.region.name,
    })),
    ...(rsc
      ? {
        resourceTable: {
          imageAddr: rsc.imageAddr,
          imageAddrHex: hex(rsc.imageAddr),
          imageRegion: regionOf(rsc.imageAddr, rsc.bytes.length),
          addr: rsc.addr,
          addrHex: hex(rsc.addr),
          region: regionOf(rsc.addr, rsc.bytes.length),
        },
      }
      : {}),
  };
}

/**
 * Inspect firmware bytes: decode the ELF and its resource table and collect
 * every problem (never throws on malformed input).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspectFirmware } from "./inspect.ts";
 * const r = inspectFirmware(new TextEncoder().encode("not an ELF file"), { name: "x", machine: null });
 * assert(!r.ok && r.elf === undefined && r.problems[0]?.source === "elf");
 * ```
 */
export function inspectFirmware(bytes: Uint8Array, options: InspectOptions = {}): InspectReport {
  const name = options.name ?? "firmware";
  const problems: InspectProblem[] = [];
  const add = (source: ProblemSource, p: { code: string; message: string; severity: string }) =>
    problems.push({
      source,
      code: p.code,
      message: p.message,
      severity: p.severity === "error" ? "error" : "warning",
    });

  const elfCheck = checkElf(bytes, { name });
  for (const p of elfCheck.problems) add("elf", p);
  const img = elfCheck.image;

  let elf: ElfInfo | undefined;
  let resourceTable: ResourceTableInfo | null | undefined;
  let load: LoadInfo | undefined;
  if (img) {
    elf = elfInfo(img);
    const rsc = checkElfResourceTable(img, { name });
    for (const p of rsc.problems) add("rsc", p);
    if (!rsc.section) {
      resourceTable = null;
    } else {
      const raw = rsc.section.type === SHT_NOBITS
        ? new Uint8Array(0)
        : sectionData(img, rsc.section);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const header = raw.length >= 8
        ? { version: dv.getUint32(0, true), num: dv.getUint32(4, true) }
        : {};
      resourceTable = {
        addr: rsc.section.addr,
        addrHex: hex(rsc.section.addr),
        size: rsc.section.size,
        ...header,
        ...(rsc.table ? { entries: rsc.table.entries.map(entryInfo) } : {}),
      };
    }

    if (options.machine) {
      const profile = options.machine;
      const wrong = archMismatch(img, profile, name);
      if (wrong) add("load", { code: wrong.code, message: wrong.message, severity: "error" });
      const map = options.map ?? planningMap(profile);
      try {
        const r = planEverything(img, map, { name, rscTableAddr: profile.layout.rscTable.pa });
        for (const p of r.problems) add("load", p);
        load = loadInfo(profile.name, map, r.plan);
      } finally {
        if (!options.map) map.close();
      }
    }
  }

  const errors = problems.filter((p) => p.severity === "error").length;
  return {
    file: name,
    size: bytes.length,
    ...(elf ? { elf } : {}),
    ...(resourceTable !== undefined ? { resourceTable } : {}),
    ...(load ? { load } : {}),
    problems,
    errors,
    warnings: problems.length - errors,
    ok: errors === 0,
  };
}
