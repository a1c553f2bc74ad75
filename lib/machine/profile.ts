/**
 * Machine profiles: everything platform-specific about a remote core, as plain
 * JSON-serialisable data (machines.md). A profile says where the remote's
 * memory and the shared memory are and how each is mapped, where the resource
 * table, buffer pool and vrings go, how each side is notified and how the
 * remote core is started and stopped.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import { RPMSG_HDR_SIZE } from "../rpmsg/mod.ts";
import {
  array,
  at,
  type CheckCtx,
  fail,
  int,
  isObject,
  isPow2,
  object,
  oneOf,
  optBool,
  optInt,
  optStr,
  str,
} from "./_check.ts";
import { BUILTIN_PROFILES } from "./profiles/mod.ts";

/** What a region is used for. */
export type RegionRole = "image" | "shm" | "notify";

/** Every known region role. */
export const REGION_ROLES: readonly RegionRole[] = ["image", "shm", "notify"];

/** A UIO device map (machines.md section 1): `/dev/uioN` map `map` of platform device `device`. */
export interface UioBacking {
  /** Backing kind. */
  kind: "uio";
  /** Platform device name, e.g. `"90200000.rproc"`. */
  device: string;
  /** Map index inside the UIO device. */
  map: number;
}
/** A regular file mapped shared; physical address `pa` is at file offset `offset`. */
export interface FileBacking {
  /** Backing kind. */
  kind: "file";
  /** File to map. */
  path: string;
  /** File offset of the region's first byte (default 0). */
  offset?: number;
  /** Create and size the file when missing. */
  create?: boolean;
}
/** A POSIX shared-memory object (`/dev/shm/<name>`). */
export interface ShmBacking {
  /** Backing kind. */
  kind: "shm";
  /** Object name without a slash, e.g. `"openamp.shm"`. */
  name: string;
  /** Create and size the object when missing. */
  create?: boolean;
}
/** Physical memory through `/dev/mem` (or another memory device). */
export interface DevMemBacking {
  /** Backing kind. */
  kind: "devmem";
  /** Device file (default `/dev/mem`). */
  path?: string;
}
/** Private heap memory (tests, in-process simulations). */
export interface HeapBacking {
  /** Backing kind. */
  kind: "heap";
}
/** How a region's memory is obtained. */
export type RegionBacking = UioBacking | FileBacking | ShmBacking | DevMemBacking | HeapBacking;

/** One physically contiguous memory region of the machine. */
export interface RegionSpec {
  /** Unique name; used in errors and as the `MemoryRegion` name. */
  name: string;
  /** Physical address (as the remote sees it) of the first byte. */
  pa: number;
  /** Size in bytes. */
  size: number;
  /** How the memory is obtained. */
  backing: RegionBacking;
  /** What the region holds. */
  roles: RegionRole[];
}

/** A physical address range. */
export interface Range {
  /** Physical address of the first byte. */
  pa: number;
  /** Size in bytes. */
  size: number;
}

/** Placement of one vring. */
export interface VringSpec {
  /** Address of the descriptor table (a multiple of `align`). */
  pa: number;
  /** Entries: a power of two, at most 32768. */
  num: number;
  /** Used-ring alignment: a power of two. */
  align: number;
}

/** Where the host puts the rpmsg structures in shared memory. */
export interface ShmLayout {
  /** Where the host's copy of the resource table goes. */
  rscTable: Range;
  /** The rpmsg buffer pool: RX buffers (vring0) first, then TX buffers (vring1). */
  pool: Range;
  /** vring0 (device to driver, host RX) and vring1 (driver to device, host TX). */
  vrings: [VringSpec, VringSpec];
  /** rpmsg buffer size per direction, in bytes. */
  bufSize: { rx: number; tx: number };
}

/** How one side tells the other that a vring has work. */
export type NotifySpec =
  | {
    kind: "poll-word";
    /** Address of the u32 notify word. */
    pa: number;
    /** `"seed"`: kick = write 1, nobody clears it. `"counter"`: kick = increment. */
    mode: "seed" | "counter";
    /**
     * Address of the word the remote writes to kick the host (default: `pa`,
     * one shared word). Counter mode needs one word per direction.
     */
    watchPa?: number;
  }
  | { kind: "socket"; path: string }
  | { kind: "inproc" };

/** How the remote core is started and stopped. */
export type ControlSpec =
  | {
    kind: "rv64-sysfs";
    /** Root of sysfs (default `/sys`). */
    sysfsRoot?: string;
  }
  | {
    kind: "remoteproc";
    /** `remoteprocN` index. Default 0 when `name` is not given either. */
    index?: number;
    /** Match the instance whose `name` file holds this. */
    name?: string;
    /** Root of sysfs (default `/sys`). */
    sysfsRoot?: string;
    /** Firmware search directory (default `/lib/firmware`). */
    firmwareDir?: string;
  }
  | { kind: "sim" }
  | {
    kind: "qemu-rv64";
    /** QEMU binary (default `qemu-system-riscv64`). */
    binary?: string;
    /** Guest RAM base (default 0x80000000). */
    ramBase?: number;
    /** Guest RAM size (default 512 MiB). */
    ramSize?: number;
    /** QMP socket path. */
    qmpPath?: string;
    /** Number of harts. */
    smp?: number;
  }
  | { kind: "openamp-linux" };

/** Every control kind. */
export const CONTROL_KINDS: readonly ControlSpec["kind"][] = [
  "rv64-sysfs",
  "remoteproc",
  "sim",
  "qemu-rv64",
  "openamp-linux",
];

/** A complete machine description. Plain data: `JSON.stringify` round-trips it. */
export interface MachineProfile {
  /** Profile name, e.g. `"rv64-virt"`. */
  name: string;
  /** One-line description. */
  description: string;
  /** The remote's word size in bytes (msg-test header field width). */
  wordSize: 4 | 8;
  /** Memory regions; they must not overlap. */
  regions: RegionSpec[];
  /** Where the rpmsg structures go. */
  layout: ShmLayout;
  /** How the sides notify each other. */
  notify: NotifySpec;
  /** How the remote core is started and stopped. */
  control: ControlSpec;
  /** Remote cpu numbers that may be started. */
  cpus: number[];
}

/** Default rpmsg buffer size (openamp-wire.md section 4). */
export const DEFAULT_BUF_SIZE = 512;
/** Resource table header size. */
const RSC_HEADER = 16;

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Bytes occupied by a split vring of `num` entries with used-ring alignment
 * `align` placed at `pa` (openamp-wire.md section 3): descriptors `16*num`,
 * avail `6 + 2*num`, padding to `align`, used `6 + 8*num`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vringBytes } from "./profile.ts";
 * assert(vringBytes(256, 0x1000) === 0x2806);
 * ```
 */
export function vringBytes(num: number, align: number, pa = 0): number {
  const availEnd = pa + 16 * num + 6 + 2 * num;
  return alignUp(availEnd, align) - pa + 6 + 8 * num;
}

function checkBacking(ctx: CheckCtx, v: unknown, path: string): RegionBacking {
  if (!isObject(v)) fail(ctx, path, `must be an object with a "kind", got ${JSON.stringify(v)}`);
  const kind = oneOf(ctx, v.kind, at(path, "kind"), ["uio", "file", "shm", "devmem", "heap"]);
  switch (kind) {
    case "uio": {
      const o = object(ctx, v, path, ["kind", "device", "map"]);
      const device = str(ctx, o.device, at(path, "device"));
      if (device.includes("/") || device === "." || device === "..") {
        fail(ctx, at(path, "device"), `must be a device name without "/", got "${device}"`);
      }
      return { kind, device, map: optInt(ctx, o.map, at(path, "map"), 0, 255) ?? 0 };
    }
    case "file": {
      const o = object(ctx, v, path, ["kind", "path", "offset", "create"]);
      const b: FileBacking = { kind, path: str(ctx, o.path, at(path, "path")) };
      const offset = optInt(ctx, o.offset, at(path, "offset"));
      if (offset !== undefined) b.offset = offset;
      const create = optBool(ctx, o.create, at(path, "create"));
      if (create !== undefined) b.create = create;
      return b;
    }
    case "shm": {
      const o = object(ctx, v, path, ["kind", "name", "create"]);
      const name = str(ctx, o.name, at(path, "name"));
      if (name.includes("/") || name === "." || name === ".." || name.length > 255) {
        fail(ctx, at(path, "name"), `must be a shm object name without "/", got "${name}"`);
      }
      const b: ShmBacking = { kind, name };
      const create = optBool(ctx, o.create, at(path, "create"));
      if (create !== undefined) b.create = create;
      return b;
    }
    case "devmem": {
      const o = object(ctx, v, path, ["kind", "path"]);
      const p = optStr(ctx, o.path, at(path, "path"));
      return p === undefined ? { kind } : { kind, path: p };
    }
    case "heap":
      object(ctx, v, path, ["kind"]);
      return { kind };
  }
}

function checkRegion(ctx: CheckCtx, v: unknown, path: string): RegionSpec {
  const o = object(ctx, v, path, ["name", "pa", "size", "backing", "roles"]);
  const name = str(ctx, o.name, at(path, "name"));
  const pa = int(ctx, o.pa, at(path, "pa"));
  const size = int(ctx, o.size, at(path, "size"), 1);
  if (size > Number.MAX_SAFE_INTEGER - pa) {
    fail(ctx, path, `[${hex(pa)}, +${hex(size)}) wraps the address space`, "PROFILE_RANGE");
  }
  const backing = checkBacking(ctx, o.backing, at(path, "backing"));
  const rolesRaw = array(ctx, o.roles ?? [], at(path, "roles"), 0, REGION_ROLES.length);
  const roles: RegionRole[] = [];
  rolesRaw.forEach((r, i) => {
    const role = oneOf(ctx, r, at(at(path, "roles"), i), REGION_ROLES);
    if (roles.includes(role)) fail(ctx, at(at(path, "roles"), i), `duplicate role "${role}"`);
    roles.push(role);
  });
  return { name, pa, size, backing, roles };
}

function checkRange(ctx: CheckCtx, v: unknown, path: string, minSize: number): Range {
  const o = object(ctx, v, path, ["pa", "size"]);
  const pa = int(ctx, o.pa, at(path, "pa"));
  const size = int(ctx, o.size, at(path, "size"), minSize);
  if (size > Number.MAX_SAFE_INTEGER - pa) {
    fail(ctx, path, `[${hex(pa)}, +${hex(size)}) wraps the address space`, "PROFILE_RANGE");
  }
  if (pa % 4 !== 0) fail(ctx, at(path, "pa"), `must be 4-byte aligned, got ${hex(pa)}`);
  return { pa, size };
}

function checkVring(ctx: CheckCtx, v: unknown, path: string): VringSpec {
  const o = object(ctx, v, path, ["pa", "num", "align"]);
  const pa = int(ctx, o.pa, at(path, "pa"));
  const num = int(ctx, o.num, at(path, "num"), 1, 32768);
  if (!isPow2(num)) fail(ctx, at(path, "num"), `must be a power of two, got ${num}`);
  const align = int(ctx, o.align, at(path, "align"), 16, 0x1000_0000);
  if (!isPow2(align)) fail(ctx, at(path, "align"), `must be a power of two, got ${hex(align)}`);
  if (pa % align !== 0) {
    fail(ctx, at(path, "pa"), `must be a multiple of align ${hex(align)}, got ${hex(pa)}`);
  }
  if (vringBytes(num, align, pa) > Number.MAX_SAFE_INTEGER - pa) {
    fail(ctx, path, `vring at ${hex(pa)} wraps the address space`, "PROFILE_RANGE");
  }
  return { pa, num, align };
}

function checkBufSize(ctx: CheckCtx, v: unknown, path: string): { rx: number; tx: number } {
  const one = (x: unknown, p: string) => {
    const n = int(ctx, x, p, RPMSG_HDR_SIZE * 2, 0x10000);
    if (n % 4 !== 0) fail(ctx, p, `must be a multiple of 4, got ${n}`);
    return n;
  };
  if (v === undefined) return { rx: DEFAULT_BUF_SIZE, tx: DEFAULT_BUF_SIZE };
  if (typeof v === "number") {
    const n = one(v, path);
    return { rx: n, tx: n };
  }
  const o = object(ctx, v, path, ["rx", "tx"]);
  return {
    rx: o.rx === undefined ? DEFAULT_BUF_SIZE : one(o.rx, at(path, "rx")),
    tx: o.tx === undefined ? DEFAULT_BUF_SIZE : one(o.tx, at(path, "tx")),
  };
}

function checkLayout(ctx: CheckCtx, v: unknown, path: string): ShmLayout {
  const o = object(ctx, v, path, ["rscTable", "pool", "vrings", "bufSize"]);
  const rscTable = checkRange(ctx, o.rscTable, at(path, "rscTable"), RSC_HEADER);
  const pool = checkRange(ctx, o.pool, at(path, "pool"), 1);
  const vr = array(ctx, o.vrings, at(path, "vrings"), 2, 2);
  const vrings: [VringSpec, VringSpec] = [
    checkVring(ctx, vr[0], at(at(path, "vrings"), 0)),
    checkVring(ctx, vr[1], at(at(path, "vrings"), 1)),
  ];
  const bufSize = checkBufSize(ctx, o.bufSize, at(path, "bufSize"));
  return { rscTable, pool, vrings, bufSize };
}

function checkNotify(ctx: CheckCtx, v: unknown, path: string): NotifySpec {
  if (!isObject(v)) fail(ctx, path, `must be an object with a "kind", got ${JSON.stringify(v)}`);
  const kind = oneOf(ctx, v.kind, at(path, "kind"), ["poll-word", "socket", "inproc"]);
  switch (kind) {
    case "poll-word": {
      const o = object(ctx, v, path, ["kind", "pa", "mode", "watchPa"]);
      const pa = int(ctx, o.pa, at(path, "pa"));
      if (pa % 4 !== 0) fail(ctx, at(path, "pa"), `must be 4-byte aligned, got ${hex(pa)}`);
      const mode = o.mode === undefined
        ? "seed"
        : oneOf(ctx, o.mode, at(path, "mode"), ["seed", "counter"] as const);
      const watchPa = optInt(ctx, o.watchPa, at(path, "watchPa"));
      if (watchPa === undefined) return { kind, pa, mode };
      if (watchPa % 4 !== 0) {
        fail(ctx, at(path, "watchPa"), `must be 4-byte aligned, got ${hex(watchPa)}`);
      }
      return { kind, pa, mode, watchPa };
    }
    case "socket": {
      const o = object(ctx, v, path, ["kind", "path"]);
      return { kind, path: str(ctx, o.path, at(path, "path")) };
    }
    case "inproc":
      object(ctx, v, path, ["kind"]);
      return { kind };
  }
}

function checkControl(ctx: CheckCtx, v: unknown, path: string): ControlSpec {
  if (!isObject(v)) fail(ctx, path, `must be an object with a "kind", got ${JSON.stringify(v)}`);
  const kind = oneOf(ctx, v.kind, at(path, "kind"), CONTROL_KINDS);
  switch (kind) {
    case "rv64-sysfs": {
      const o = object(ctx, v, path, ["kind", "sysfsRoot"]);
      const sysfsRoot = optStr(ctx, o.sysfsRoot, at(path, "sysfsRoot"));
      return sysfsRoot === undefined ? { kind } : { kind, sysfsRoot };
    }
    case "remoteproc": {
      const o = object(ctx, v, path, ["kind", "index", "name", "sysfsRoot", "firmwareDir"]);
      const c: ControlSpec = { kind };
      const index = optInt(ctx, o.index, at(path, "index"), 0, 0xffff);
      const name = optStr(ctx, o.name, at(path, "name"));
      if (index !== undefined && name !== undefined) {
        fail(ctx, path, `give "index" or "name", not both`);
      }
      if (index !== undefined) c.index = index;
      if (name !== undefined) c.name = name;
      const sysfsRoot = optStr(ctx, o.sysfsRoot, at(path, "sysfsRoot"));
      if (sysfsRoot !== undefined) c.sysfsRoot = sysfsRoot;
      const firmwareDir = optStr(ctx, o.firmwareDir, at(path, "firmwareDir"));
      if (firmwareDir !== undefined) c.firmwareDir = firmwareDir;
      return c;
    }
    case "qemu-rv64": {
      const o = object(ctx, v, path, ["kind", "binary", "ramBase", "ramSize", "qmpPath", "smp"]);
      const c: ControlSpec = { kind };
      const binary = optStr(ctx, o.binary, at(path, "binary"));
      if (binary !== undefined) c.binary = binary;
      const ramBase = optInt(ctx, o.ramBase, at(path, "ramBase"));
      if (ramBase !== undefined) c.ramBase = ramBase;
      const ramSize = optInt(ctx, o.ramSize, at(path, "ramSize"), 1);
      if (ramSize !== undefined) c.ramSize = ramSize;
      const qmpPath = optStr(ctx, o.qmpPath, at(path, "qmpPath"));
      if (qmpPath !== undefined) c.qmpPath = qmpPath;
      const smp = optInt(ctx, o.smp, at(path, "smp"), 1, 64);
      if (smp !== undefined) c.smp = smp;
      return c;
    }
    case "sim":
    case "openamp-linux":
      object(ctx, v, path, ["kind"]);
      return { kind };
  }
}

function rangeText(pa: number, size: number): string {
  return `[${hex(pa)}, +${hex(size)})`;
}

function inside(r: RegionSpec, pa: number, size: number): boolean {
  return pa >= r.pa && pa <= r.pa + r.size && size <= r.pa + r.size - pa;
}

function checkPlacement(ctx: CheckCtx, p: MachineProfile): void {
  // Regions: unique names, no overlaps.
  p.regions.forEach((r, i) => {
    p.regions.forEach((q, j) => {
      if (j >= i) return;
      if (q.name === r.name) {
        fail(ctx, `regions[${i}].name`, `"${r.name}" is already used by regions[${j}]`);
      }
      if (r.pa < q.pa + q.size && q.pa < r.pa + r.size) {
        fail(
          ctx,
          `regions[${i}]`,
          `${r.name} ${rangeText(r.pa, r.size)} overlaps regions[${j}] ${q.name} ${
            rangeText(q.pa, q.size)
          }`,
          "PROFILE_OVERLAP",
        );
      }
    });
  });
  // Layout items: inside one shm region each, not overlapping one another.
  const shm = p.regions.filter((r) => r.roles.includes("shm"));
  if (shm.length === 0) {
    fail(
      ctx,
      "regions",
      `no region has role "shm" (the layout must live in one)`,
      "PROFILE_LAYOUT",
    );
  }
  const items: { path: string; pa: number; size: number }[] = [
    { path: "layout.rscTable", ...p.layout.rscTable },
    { path: "layout.pool", ...p.layout.pool },
    ...p.layout.vrings.map((v, i) => ({
      path: `layout.vrings[${i}]`,
      pa: v.pa,
      size: vringBytes(v.num, v.align, v.pa),
    })),
  ];
  for (const it of items) {
    if (!shm.some((r) => inside(r, it.pa, it.size))) {
      fail(
        ctx,
        it.path,
        `${rangeText(it.pa, it.size)} is not inside a region with role "shm" (${
          shm.map((r) => `${r.name} ${rangeText(r.pa, r.size)}`).join(", ")
        })`,
        "PROFILE_LAYOUT",
      );
    }
  }
  items.forEach((a, i) => {
    items.forEach((b, j) => {
      if (j >= i) return;
      if (a.pa < b.pa + b.size && b.pa < a.pa + a.size) {
        fail(
          ctx,
          a.path,
          `${rangeText(a.pa, a.size)} overlaps ${b.path} ${rangeText(b.pa, b.size)}`,
          "PROFILE_LAYOUT_OVERLAP",
        );
      }
    });
  });
  // Pool: one buffer per vring entry, RX (vring0) then TX (vring1).
  const [v0, v1] = p.layout.vrings;
  const need = v0.num * p.layout.bufSize.rx + v1.num * p.layout.bufSize.tx;
  if (p.layout.pool.size < need) {
    fail(
      ctx,
      "layout.pool.size",
      `${
        hex(p.layout.pool.size)
      } bytes cannot hold ${v0.num} RX buffers of ${p.layout.bufSize.rx} B and ${v1.num} TX buffers of ${p.layout.bufSize.tx} B (${
        hex(need)
      } bytes needed)`,
      "PROFILE_POOL",
    );
  }
  // Notify word inside a "notify" region.
  if (p.notify.kind === "poll-word") {
    const regs = p.regions.filter((r) => r.roles.includes("notify"));
    const words: [string, number | undefined][] = [["pa", p.notify.pa], [
      "watchPa",
      p.notify.watchPa,
    ]];
    for (const [field, pa] of words) {
      if (pa === undefined) continue;
      if (!regs.some((r) => inside(r, pa, 4))) {
        fail(
          ctx,
          `notify.${field}`,
          `the notify word at ${hex(pa)} is not inside a region with role "notify"`,
          "PROFILE_NOTIFY",
        );
      }
    }
  }
}

/**
 * Check untrusted JSON data as a machine profile and return a normalised copy
 * (defaults filled in: `bufSize` as `{rx, tx}`, `notify.mode`, `backing.map`).
 * Every failure is a `ConfigError` whose message starts with `source` and the
 * field path, e.g. `board.json: regions[1].size: must be a positive integer, got -4`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateProfile } from "./profile.ts";
 * import { RV64_VIRT } from "./profiles/rv64_virt.ts";
 * const p = validateProfile(JSON.parse(JSON.stringify(RV64_VIRT)), "copy");
 * assert(p.layout.bufSize.rx === 512);
 * const bad = JSON.parse(JSON.stringify(RV64_VIRT));
 * bad.regions[1].size = -4;
 * let message = "";
 * try {
 *   validateProfile(bad, "board.json");
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * if (message !== "board.json: regions[1].size: must be a positive integer, got -4") {
 *   throw new Error(message);
 * }
 * ```
 */
export function validateProfile(json: unknown, source: string): MachineProfile {
  const ctx: CheckCtx = { source };
  const o = object(ctx, json, "", [
    "$schema",
    "name",
    "description",
    "wordSize",
    "regions",
    "layout",
    "notify",
    "control",
    "cpus",
  ]);
  const name = str(ctx, o.name, "name");
  const description = o.description === undefined ? "" : (() => {
    if (typeof o.description !== "string") {
      fail(ctx, "description", `must be a string, got ${JSON.stringify(o.description)}`);
    }
    return o.description;
  })();
  const wordSize = oneOf(ctx, o.wordSize, "wordSize", [4, 8] as const);
  const regions = array(ctx, o.regions, "regions", 1, 64).map((r, i) =>
    checkRegion(ctx, r, `regions[${i}]`)
  );
  const layout = checkLayout(ctx, o.layout, "layout");
  const notify = checkNotify(ctx, o.notify, "notify");
  const control = checkControl(ctx, o.control, "control");
  const cpus: number[] = [];
  array(ctx, o.cpus, "cpus", 1, 4096).forEach((c, i) => {
    const n = int(ctx, c, `cpus[${i}]`, 0, 4095);
    if (cpus.includes(n)) fail(ctx, `cpus[${i}]`, `cpu ${n} is listed twice`);
    cpus.push(n);
  });
  const p: MachineProfile = {
    name,
    description,
    wordSize,
    regions,
    layout,
    notify,
    control,
    cpus,
  };
  checkPlacement(ctx, p);
  return p;
}

/**
 * The region of `profile` that has `role` (the first one), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { regionWithRole } from "./profile.ts";
 * import { RV64_VIRT } from "./profiles/rv64_virt.ts";
 * assert(regionWithRole(RV64_VIRT, "image")?.pa === 0x9020_0000);
 * ```
 */
export function regionWithRole(
  profile: MachineProfile,
  role: RegionRole,
): RegionSpec | undefined {
  return profile.regions.find((r) => r.roles.includes(role));
}

/**
 * Check that `cpu` is one of the profile's cpus; throws `ConfigError`
 * `PROFILE_CPU` naming the valid ones.
 *
 * @example
 * ```ts
 * import { checkCpu } from "./profile.ts";
 * import { RV64_VIRT } from "./profiles/rv64_virt.ts";
 * checkCpu(RV64_VIRT, 1);
 * ```
 */
export function checkCpu(profile: MachineProfile, cpu: number): number {
  if (!profile.cpus.includes(cpu)) {
    throw new ConfigError(
      "PROFILE_CPU",
      `Machine "${profile.name}" has no remote cpu ${cpu} (valid: ${profile.cpus.join(", ")})`,
    );
  }
  return cpu;
}

/** Largest profile file {@linkcode loadProfile} reads. */
const MAX_PROFILE_BYTES = 1 << 20;

/**
 * Names of the built-in profiles.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtinProfileNames } from "./profile.ts";
 * assert(builtinProfileNames().includes("sim"));
 * ```
 */
export function builtinProfileNames(): string[] {
  return Object.keys(BUILTIN_PROFILES);
}

/**
 * Load a machine profile: a built-in by name (`rv64-virt`, `sim`,
 * `openamp-linux`) or a JSON file by path. The result is validated and is a
 * fresh copy the caller may modify. Fails with `ConfigError`:
 * `PROFILE_NOT_FOUND`, `PROFILE_READ`, `PROFILE_JSON` or a validation code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadProfile } from "./profile.ts";
 * const p = await loadProfile("openamp-linux");
 * assert(p.regions[0]?.backing.kind === "shm");
 * ```
 */
export async function loadProfile(nameOrPath: string): Promise<MachineProfile> {
  const builtin = Object.hasOwn(BUILTIN_PROFILES, nameOrPath)
    ? BUILTIN_PROFILES[nameOrPath]
    : undefined;
  if (builtin) return validateProfile(structuredClone(builtin), `built-in profile "${nameOrPath}"`);
  const looksLikePath = nameOrPath.includes("/") || nameOrPath.endsWith(".json");
  let text: string;
  try {
    const st = await Deno.stat(nameOrPath);
    if (!st.isFile) {
      throw new ConfigError("PROFILE_READ", `Machine profile ${nameOrPath} is not a regular file`);
    }
    if (st.size > MAX_PROFILE_BYTES) {
      throw new ConfigError(
        "PROFILE_READ",
        `Machine profile ${nameOrPath} is ${st.size} bytes, more than the ${MAX_PROFILE_BYTES} allowed`,
      );
    }
    text = await Deno.readTextFile(nameOrPath);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        "PROFILE_NOT_FOUND",
        looksLikePath
          ? `Machine profile file ${nameOrPath} does not exist`
          : `Unknown machine "${nameOrPath}": not a built-in (${
            builtinProfileNames().join(", ")
          }) and no such file`,
        { cause: e },
      );
    }
    throw new ConfigError(
      "PROFILE_READ",
      `Cannot read machine profile ${nameOrPath}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      "PROFILE_JSON",
      `${nameOrPath}: not valid JSON: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return validateProfile(json, nameOrPath);
}
