/**
 * Validation of machine profiles: untrusted JSON in, a checked and
 * normalised {@linkcode MachineProfile} out, or a `ConfigError` naming the
 * field ("board.json: regions[1].size: must be a positive integer, got -4").
 *
 * @module
 */

import { ConfigError, VirtioError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import { RSC_HEADER_SIZE } from "../rsc/layout.ts";
import { RPMSG_HDR_SIZE } from "../rpmsg/mod.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
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
import {
  type ArchSpec,
  CONTROL_KINDS,
  type ControlSpec,
  DEFAULT_BUF_SIZE,
  DEMO_APPS,
  type DemoSpec,
  type FileBacking,
  type MachineProfile,
  type NotifySpec,
  type Range,
  REGION_ROLES,
  type RegionBacking,
  type RegionRole,
  type RegionSpec,
  type ShmBacking,
  type ShmLayout,
  type VringSpec,
} from "./types.ts";

/**
 * The address ranges a layout's items take, each named by its path in a
 * profile: the resource table, the buffer pool and each vring (its whole
 * split-ring size).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layoutRanges } from "./validate.ts";
 * import { OPENAMP_LINUX } from "./profiles/openamp_linux.ts";
 * const r = layoutRanges(OPENAMP_LINUX.layout);
 * assert.deepEqual(r.map((x) => x.path), [
 *   "layout.rscTable", "layout.pool", "layout.vrings[0]", "layout.vrings[1]",
 * ]);
 * assert.equal(r[2]!.pa, 0x4000);
 * ```
 */
export function layoutRanges(layout: ShmLayout): { path: string; pa: number; size: number }[] {
  return [
    { path: "layout.rscTable", ...layout.rscTable },
    { path: "layout.pool", ...layout.pool },
    ...layout.vrings.map((v, i) => ({
      path: `layout.vrings[${i}]`,
      pa: v.pa,
      size: vringLayout(v.num, v.align, v.pa).size,
    })),
  ];
}

/** Bytes of a vring of `num` entries and alignment `align` at `pa` (checked geometry). */
function ringBytes(ctx: CheckCtx, path: string, num: number, align: number, pa: number): number {
  try {
    return vringLayout(num, align, pa).size;
  } catch (e) {
    if (e instanceof VirtioError) {
      fail(ctx, path, `vring at ${hex(pa)} wraps the address space`, "PROFILE_RANGE");
    }
    throw e;
  }
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
  const size = ringBytes(ctx, path, num, align, pa);
  if (size > Number.MAX_SAFE_INTEGER - pa) {
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
  const rscTable = checkRange(ctx, o.rscTable, at(path, "rscTable"), RSC_HEADER_SIZE);
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
      const o = object(ctx, v, path, [
        "kind",
        "binary",
        "ramBase",
        "ramSize",
        "qmpPath",
        "smp",
        "boot",
        "bios",
      ]);
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
      if (o.boot !== undefined) {
        c.boot = oneOf(ctx, o.boot, at(path, "boot"), ["sbi", "direct"] as const);
      }
      const bios = optStr(ctx, o.bios, at(path, "bios"));
      if (bios !== undefined) {
        if (bios === "" || /[,\0\n]/.test(bios)) {
          fail(
            ctx,
            at(path, "bios"),
            `must be "default", "none" or a file path without ",", newline or NUL, got ${
              JSON.stringify(bios)
            }`,
          );
        }
        if (c.boot === "direct" && bios !== "none") {
          fail(ctx, at(path, "bios"), `needs boot "sbi": boot "direct" runs with -bios none`);
        }
        if (c.boot !== "direct" && bios === "none") {
          fail(
            ctx,
            at(path, "bios"),
            `"none" leaves boot "sbi" without an SBI (use boot "direct")`,
          );
        }
        c.bios = bios;
      }
      return c;
    }
    case "sim":
    case "openamp-linux":
      object(ctx, v, path, ["kind"]);
      return { kind };
  }
}

function checkArch(ctx: CheckCtx, v: unknown, path: string): ArchSpec {
  const o = object(ctx, v, path, ["name", "elfMachine", "elfClass"]);
  return {
    name: str(ctx, o.name, at(path, "name")),
    elfMachine: int(ctx, o.elfMachine, at(path, "elfMachine"), 0, 0xffff),
    elfClass: oneOf(ctx, o.elfClass, at(path, "elfClass"), [32, 64] as const),
  };
}

/** Bytes of the libmetal shared-memory demo block. */
const SHMEM_BLOCK_BYTES = 0x1000;

/** A console command: printable ASCII without quotes, 1..64 characters (it is typed verbatim). */
const COMMAND_RE = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;

function checkDemos(ctx: CheckCtx, v: unknown, path: string): DemoSpec {
  const o = object(ctx, v, path, ["commands", "shmemPa", "readyWord", "resetHoldMs"]);
  const d: DemoSpec = {};
  if (o.commands !== undefined) {
    const cpath = at(path, "commands");
    const c = object(ctx, o.commands, cpath, DEMO_APPS);
    const commands: DemoSpec["commands"] = {};
    for (const app of DEMO_APPS) {
      const cmd = optStr(ctx, c[app], at(cpath, app));
      if (cmd === undefined) continue;
      if (!COMMAND_RE.test(cmd)) {
        fail(
          ctx,
          at(cpath, app),
          `must be 1-64 printable ASCII characters, got ${JSON.stringify(cmd)}`,
        );
      }
      commands[app] = cmd;
    }
    d.commands = commands;
  }
  for (const k of ["shmemPa", "readyWord"] as const) {
    const pa = optInt(ctx, o[k], at(path, k));
    if (pa === undefined) continue;
    if (pa % 4 !== 0) fail(ctx, at(path, k), `must be 4-byte aligned, got ${hex(pa)}`);
    d[k] = pa;
  }
  const hold = optInt(ctx, o.resetHoldMs, at(path, "resetHoldMs"), 0, 10_000);
  if (hold !== undefined) d.resetHoldMs = hold;
  return d;
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
  const items = layoutRanges(p.layout);
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
  // Demo facts inside some region.
  const demoItems: [string, number | undefined, number][] = [
    ["demos.shmemPa", p.demos?.shmemPa, SHMEM_BLOCK_BYTES],
    ["demos.readyWord", p.demos?.readyWord, 8],
  ];
  for (const [path, pa, size] of demoItems) {
    if (pa !== undefined && !p.regions.some((r) => inside(r, pa, size))) {
      fail(ctx, path, `${rangeText(pa, size)} is not inside any region`, "PROFILE_LAYOUT");
    }
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
 * import { validateProfile } from "./validate.ts";
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
    "arch",
    "demos",
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
  if (o.arch !== undefined) p.arch = checkArch(ctx, o.arch, "arch");
  if (o.demos !== undefined) p.demos = checkDemos(ctx, o.demos, "demos");
  checkPlacement(ctx, p);
  return p;
}

/**
 * The region of `profile` that has `role` (the first one), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { regionWithRole } from "./validate.ts";
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
 * import { checkCpu } from "./validate.ts";
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
