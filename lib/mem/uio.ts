/**
 * UIO devices (`/dev/uioN`, described by `/sys/class/uio/uioN/maps/mapM/*`):
 * finding the device of a platform device, binding it to `uio_pdrv_genirq`
 * through `driver_override` when it is not bound yet (as libmetal does),
 * reading and checking each map's geometry, and mapping it.
 *
 * @module
 */

import {
  ConfigError,
  type ConfigErrorCode,
  MemoryBoundsError,
  OsError,
  osErrorFrom,
  TimeoutError,
} from "../errors.ts";
import { waitUntil } from "../util/wait.ts";
import { closeQuietly, O_CLOEXEC, O_RDONLY, sysOpen, sysPageSize, sysRead } from "./_libc.ts";
import { mapFile } from "./mmap.ts";
import { hex, type MemoryRegion } from "./region.ts";
import { bindToUioDriver, UIO_DRIVER } from "./_uio_bind.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const U64_MAX = (1n << 64n) - 1n;

/** Where {@linkcode findUio}, {@linkcode readUioMap} and {@linkcode mapUio} look. */
export interface UioOptions {
  /** Root of sysfs. Default `"/sys"`. */
  sysfsRoot?: string;
  /** Directory holding the `uioN` device nodes. Default `"/dev"`. */
  devRoot?: string;
  /** Bus of the device, for `<sysfsRoot>/bus/<bus>/devices/<device>/uio/`. Default `"platform"`. */
  bus?: string;
}

/** One memory map of a UIO device, as read from `maps/mapM/`. */
export interface UioMapInfo {
  /** The UIO device, e.g. `"uio0"`. */
  uio: string;
  /** The map index M. */
  index: number;
  /** The map's `name` attribute (may be empty). */
  name: string;
  /** Physical address (`addr`). */
  addr: number;
  /** Size in bytes (`size`). */
  size: number;
  /** Byte offset of the memory inside the mapping (`offset`), below the page size. */
  offset: number;
}

const UIO_NAME = /^uio(0|[1-9][0-9]{0,8})$/;

/** Directory entries, or undefined when the directory does not exist. */
function listDir(path: string): string[] | undefined {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw osErrorFrom(e, "opendir", path);
  }
}

/** A small sysfs attribute's text (at most 4 KiB), or undefined when it does not exist. */
function readAttr(path: string): string | undefined {
  let fd: number;
  try {
    fd = sysOpen(path, O_RDONLY | O_CLOEXEC);
  } catch (e) {
    if (e instanceof OsError && (e.errno === 2 || e.errno === 20)) return undefined;
    throw e;
  }
  try {
    const buf = new Uint8Array(4096);
    let n = 0;
    while (n < buf.length) {
      const chunk = new Uint8Array(buf.length - n);
      const got = sysRead(fd, chunk, path);
      if (got === 0) break;
      buf.set(chunk.subarray(0, got), n);
      n += got;
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    closeQuietly(fd, path);
  }
}

function sortUio(names: string[]): string[] {
  return names.filter((n) => UIO_NAME.test(n)).sort((a, b) =>
    Number(a.slice(3)) - Number(b.slice(3))
  );
}

/**
 * Find the UIO device (`"uioN"`) for `device`: either a UIO name given
 * directly (`"uio0"`), or a device name such as `"90100000.shm"`, looked up
 * first as `<sysfsRoot>/bus/<bus>/devices/<device>/uio/uioN` and then by
 * matching `<sysfsRoot>/class/uio/uio*\/name`.
 *
 * Only finds a device already bound to UIO; {@linkcode findOrBindUio} also
 * binds one that is not.
 *
 * Errors (ConfigError): `UIO_BAD_DEVICE_NAME`, `UIO_NOT_FOUND`, `UIO_AMBIGUOUS`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUio } from "./uio.ts";
 * const sys = Deno.makeTempDirSync();
 * try {
 *   Deno.mkdirSync(`${sys}/bus/platform/devices/90100000.shm/uio/uio3`, { recursive: true });
 *   Deno.mkdirSync(`${sys}/class/uio/uio3`, { recursive: true });
 *   assert(findUio("90100000.shm", { sysfsRoot: sys }) === "uio3");
 * } finally {
 *   Deno.removeSync(sys, { recursive: true });
 * }
 * ```
 */
export function findUio(device: string, options: UioOptions = {}): string {
  const sys = options.sysfsRoot ?? "/sys";
  const bus = options.bus ?? "platform";
  if (
    typeof device !== "string" || device.length === 0 || device.length > 255 ||
    /[/\0\n]/.test(device) || device === "." || device === ".."
  ) {
    throw new ConfigError(
      "UIO_BAD_DEVICE_NAME",
      `UIO device name ${JSON.stringify(device)} is not a valid sysfs name`,
    );
  }
  const classDir = `${sys}/class/uio`;
  if (UIO_NAME.test(device)) {
    if (!listDir(classDir)?.includes(device)) {
      throw new ConfigError("UIO_NOT_FOUND", `UIO device ${device} not found in ${classDir}`);
    }
    return device;
  }
  const devDir = `${sys}/bus/${bus}/devices/${device}/uio`;
  const viaBus = sortUio(listDir(devDir) ?? []);
  if (viaBus.length > 1) {
    throw new ConfigError(
      "UIO_AMBIGUOUS",
      `Device ${device} has ${viaBus.length} UIO devices in ${devDir}: ${viaBus.join(", ")}`,
    );
  }
  if (viaBus[0] !== undefined) return viaBus[0];
  const byName: string[] = [];
  for (const uio of sortUio(listDir(classDir) ?? [])) {
    const n = readAttr(`${classDir}/${uio}/name`);
    if (n !== undefined && n.replace(/\n$/, "") === device) byName.push(uio);
  }
  if (byName.length > 1) {
    throw new ConfigError(
      "UIO_AMBIGUOUS",
      `Several UIO devices in ${classDir} are named ${JSON.stringify(device)}: ${
        byName.join(", ")
      }`,
    );
  }
  if (byName[0] === undefined) {
    throw new ConfigError(
      "UIO_NOT_FOUND",
      `No UIO device for ${
        JSON.stringify(device)
      }: nothing in ${devDir} and no ${classDir}/uio*/name matches (is the device bound to uio_pdrv_genirq?)`,
    );
  }
  return byName[0];
}

/** Options for {@linkcode findOrBindUio}. */
export interface UioLookupOptions extends UioOptions {
  /**
   * When `<sysfsRoot>/bus/<bus>/devices/<device>` exists but has no UIO
   * device, bind it to `uio_pdrv_genirq` first (as libmetal does). Default true.
   */
  bind?: boolean;
  /**
   * After binding, how long to wait for the kernel to create
   * `<device>/uio/uioN` and `<devRoot>/uioN`, in milliseconds. Default 1000.
   */
  bindTimeoutMs?: number;
}

/** True when `path` exists (following symlinks). */
function present(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * {@linkcode findUio}, binding the device to `uio_pdrv_genirq` first when it
 * is on its bus but not bound to UIO yet: write `uio_pdrv_genirq` to
 * `<device>/driver_override`, write the device name to the `unbind` of the
 * driver `<device>/driver` links to (if any), write it to
 * `<sysfsRoot>/bus/<bus>/drivers/uio_pdrv_genirq/bind`, then wait (up to
 * `bindTimeoutMs`, sleeping between checks) for `<device>/uio/uioN` and
 * `<devRoot>/uioN` to appear. A device already bound, a `uioN` name, or
 * `bind: false` is a plain {@linkcode findUio}: nothing is written.
 *
 * Errors: those of {@linkcode findUio}; `UIO_BAD_OPTION` (ConfigError, bad
 * `bindTimeoutMs`); `UIO_DRIVER_LINK`, `UIO_OVERRIDE_FAILED`,
 * `UIO_UNBIND_FAILED`, `UIO_BIND_FAILED` (ConfigError naming the device, the
 * path and the errno; `cause` is the {@linkcode OsError}); `TIMEOUT`
 * ({@linkcode TimeoutError}) when the UIO device does not appear.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findOrBindUio } from "./uio.ts";
 * const root = Deno.makeTempDirSync();
 * try {
 *   const dev = `${root}/sys/bus/platform/devices/90100000.shm`;
 *   const bind = `${root}/sys/bus/platform/drivers/uio_pdrv_genirq/bind`;
 *   Deno.mkdirSync(dev, { recursive: true });
 *   Deno.mkdirSync(`${root}/sys/bus/platform/drivers/uio_pdrv_genirq`, { recursive: true });
 *   Deno.mkdirSync(`${root}/dev`);
 *   Deno.writeTextFileSync(`${dev}/driver_override`, "(null)\n");
 *   Deno.writeTextFileSync(bind, "");
 *   // Stand in for the kernel: once bound, the UIO device appears.
 *   const kernel = setInterval(() => {
 *     if (Deno.readTextFileSync(bind) !== "90100000.shm") return;
 *     Deno.mkdirSync(`${dev}/uio/uio4`, { recursive: true });
 *     Deno.writeFileSync(`${root}/dev/uio4`, new Uint8Array(0));
 *     clearInterval(kernel);
 *   }, 1);
 *   const uio = await findOrBindUio("90100000.shm", {
 *     sysfsRoot: `${root}/sys`,
 *     devRoot: `${root}/dev`,
 *     bindTimeoutMs: 10_000,
 *   });
 *   clearInterval(kernel);
 *   assert(uio === "uio4");
 *   assert(Deno.readTextFileSync(`${dev}/driver_override`) === "uio_pdrv_genirq");
 * } finally {
 *   Deno.removeSync(root, { recursive: true });
 * }
 * ```
 */
export async function findOrBindUio(
  device: string,
  options: UioLookupOptions = {},
): Promise<string> {
  const timeoutMs = options.bindTimeoutMs ?? 1000;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new ConfigError(
      "UIO_BAD_OPTION",
      `bindTimeoutMs ${String(timeoutMs)} is not a number of milliseconds >= 0`,
    );
  }
  let notFound: ConfigError;
  try {
    return findUio(device, options);
  } catch (e) {
    if (
      options.bind === false || !(e instanceof ConfigError) || e.code !== "UIO_NOT_FOUND" ||
      UIO_NAME.test(device)
    ) {
      throw e;
    }
    notFound = e;
  }
  const sys = options.sysfsRoot ?? "/sys";
  const bus = options.bus ?? "platform";
  const devRoot = options.devRoot ?? "/dev";
  const devDir = `${sys}/bus/${bus}/devices/${device}`;
  if (listDir(devDir) === undefined) throw notFound;
  bindToUioDriver(sys, bus, device);
  let uio: string | undefined;
  const appeared = await waitUntil(() => {
    uio = sortUio(listDir(`${devDir}/uio`) ?? [])[0];
    return uio !== undefined && present(`${devRoot}/${uio}`);
  }, { deadlineMs: timeoutMs, spinUs: 0, yieldUs: 0, sleepMs: 10 });
  if (appeared) return findUio(device, options);
  throw new TimeoutError(
    `waiting for ${
      uio === undefined ? `${devDir}/uio/uioN` : `${devRoot}/${uio}`
    } after binding ${device} to ${UIO_DRIVER}`,
    timeoutMs,
    { cause: notFound },
  );
}

/** Strict `0x<hex>` (at most 64 bits), one trailing newline allowed. */
function parseHexAttr(text: string, code: ConfigErrorCode, path: string): bigint {
  const t = text.endsWith("\n") ? text.slice(0, -1) : text;
  if (!/^0x[0-9a-fA-F]{1,16}$/.test(t)) {
    throw new ConfigError(
      code,
      `${path}: ${
        JSON.stringify(text.slice(0, 40))
      } is not a 0x-prefixed hex number of at most 64 bits`,
    );
  }
  return BigInt(t);
}

/**
 * Read and validate `<sysfsRoot>/class/uio/<uio>/maps/map<index>/{name,addr,size,offset}`.
 *
 * Errors: `UIO_BAD_MAP_INDEX`, `UIO_MAP_NOT_FOUND`, `UIO_MAP_ATTR_MISSING`,
 * `UIO_MAP_BAD_ADDR` / `UIO_MAP_BAD_SIZE` / `UIO_MAP_BAD_OFFSET` (not strict
 * hex), `UIO_MAP_EMPTY` (size 0), `UIO_MAP_OFFSET_RANGE` (offset >= page size),
 * `UIO_MAP_WRAP` (addr + size wraps past 2^64), `UIO_MAP_ADDR_RANGE` (addr +
 * size beyond `Number.MAX_SAFE_INTEGER`), `UIO_MAP_LEN_RANGE` (offset + size
 * too large), `UIO_MAP_INDEX_RANGE` (file offset index * page + offset + size
 * too large).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readUioMap } from "./uio.ts";
 * const sys = Deno.makeTempDirSync();
 * try {
 *   const d = `${sys}/class/uio/uio0/maps/map0`;
 *   Deno.mkdirSync(d, { recursive: true });
 *   Deno.writeTextFileSync(`${d}/name`, "shm\n");
 *   Deno.writeTextFileSync(`${d}/addr`, "0x0000000090100000\n");
 *   Deno.writeTextFileSync(`${d}/size`, "0x0000000000100000\n");
 *   Deno.writeTextFileSync(`${d}/offset`, "0x0\n");
 *   const m = readUioMap("uio0", 0, { sysfsRoot: sys });
 *   assert(m.addr === 0x9010_0000 && m.size === 0x10_0000 && m.name === "shm");
 * } finally {
 *   Deno.removeSync(sys, { recursive: true });
 * }
 * ```
 */
export function readUioMap(uio: string, index: number, options: UioOptions = {}): UioMapInfo {
  const sys = options.sysfsRoot ?? "/sys";
  if (typeof uio !== "string" || !UIO_NAME.test(uio)) {
    throw new ConfigError("UIO_BAD_DEVICE_NAME", `${JSON.stringify(uio)} is not a uioN name`);
  }
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new ConfigError("UIO_BAD_MAP_INDEX", `UIO map index ${index} is not an integer >= 0`);
  }
  const dir = `${sys}/class/uio/${uio}/maps/map${index}`;
  const rawAddr = readAttr(`${dir}/addr`);
  const rawSize = readAttr(`${dir}/size`);
  const rawOffset = readAttr(`${dir}/offset`);
  if (rawAddr === undefined && rawSize === undefined && rawOffset === undefined) {
    throw new ConfigError("UIO_MAP_NOT_FOUND", `${uio} has no map ${index} (${dir} is missing)`);
  }
  const need = (v: string | undefined, attr: string): string => {
    if (v === undefined) {
      throw new ConfigError("UIO_MAP_ATTR_MISSING", `${dir}/${attr} is missing`);
    }
    return v;
  };
  const addr = parseHexAttr(need(rawAddr, "addr"), "UIO_MAP_BAD_ADDR", `${dir}/addr`);
  const size = parseHexAttr(need(rawSize, "size"), "UIO_MAP_BAD_SIZE", `${dir}/size`);
  const offset = parseHexAttr(need(rawOffset, "offset"), "UIO_MAP_BAD_OFFSET", `${dir}/offset`);
  const name = (readAttr(`${dir}/name`) ?? "").replace(/\n$/, "");
  const page = BigInt(sysPageSize());
  const where = `${uio} map ${index} (addr ${hex(addr)}, size ${hex(size)}, offset ${hex(offset)})`;

  if (size === 0n) throw new MemoryBoundsError("UIO_MAP_EMPTY", `${where} is empty`);
  if (offset >= page) {
    throw new MemoryBoundsError(
      "UIO_MAP_OFFSET_RANGE",
      `${where}: offset is not below the page size ${hex(page)}`,
    );
  }
  if (addr > U64_MAX - size) {
    throw new MemoryBoundsError("UIO_MAP_WRAP", `${where}: addr + size wraps past 2^64`);
  }
  const safe = BigInt(MAX_SAFE);
  if (addr + size > safe) {
    throw new MemoryBoundsError(
      "UIO_MAP_ADDR_RANGE",
      `${where}: end ${hex(addr + size)} is beyond ${hex(safe)}, the largest exact address`,
    );
  }
  if (offset + size > safe) {
    throw new MemoryBoundsError(
      "UIO_MAP_LEN_RANGE",
      `${where}: mapping length offset + size is beyond ${hex(safe)}`,
    );
  }
  if (BigInt(index) * page + offset + size > safe) {
    throw new MemoryBoundsError(
      "UIO_MAP_INDEX_RANGE",
      `${where}: file range at ${hex(BigInt(index) * page)} ends beyond ${hex(safe)}`,
    );
  }
  return { uio, index, name, addr: Number(addr), size: Number(size), offset: Number(offset) };
}

/** Options for {@linkcode mapUio}. */
export interface MapUioOptions extends UioOptions {
  /** Region name for errors. Default: the device name (plus `:mapM` for M > 0). */
  name?: string;
}

/**
 * Map memory map `mapIndex` of a UIO device. `device` is `"uioN"` or a device
 * name such as `"90100000.shm"` (see {@linkcode findUio}). The map is read
 * and validated with {@linkcode readUioMap}, then `<devRoot>/uioN` is mapped
 * at file offset `mapIndex * pageSize()` for `offset + size` bytes; the
 * region's base is `addr` and its first byte is `offset` bytes into the
 * mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapUio } from "./uio.ts";
 * import { pageSize } from "./mmap.ts";
 * const root = Deno.makeTempDirSync();
 * try {
 *   const d = `${root}/sys/class/uio/uio0/maps/map0`;
 *   Deno.mkdirSync(d, { recursive: true });
 *   Deno.writeTextFileSync(`${root}/sys/class/uio/uio0/name`, "90100000.shm\n");
 *   Deno.writeTextFileSync(`${d}/addr`, "0x90100000\n");
 *   Deno.writeTextFileSync(`${d}/size`, "0x1000\n");
 *   Deno.writeTextFileSync(`${d}/offset`, "0x0\n");
 *   Deno.mkdirSync(`${root}/dev`);
 *   Deno.writeFileSync(`${root}/dev/uio0`, new Uint8Array(pageSize()).fill(0x5a));
 *   const r = mapUio("90100000.shm", 0, { sysfsRoot: `${root}/sys`, devRoot: `${root}/dev` });
 *   assert(r.base === 0x9010_0000 && r.u8(0x9010_0000) === 0x5a);
 *   r.close();
 * } finally {
 *   Deno.removeSync(root, { recursive: true });
 * }
 * ```
 */
export function mapUio(
  device: string,
  mapIndex: number,
  options: MapUioOptions = {},
): MemoryRegion {
  const uio = findUio(device, options);
  const info = readUioMap(uio, mapIndex, options);
  const devRoot = options.devRoot ?? "/dev";
  return mapFile(`${devRoot}/${uio}`, {
    base: info.addr,
    size: info.size,
    offset: mapIndex * sysPageSize() + info.offset,
    sync: true,
    name: options.name ?? (mapIndex === 0 ? device : `${device}:map${mapIndex}`),
  });
}
