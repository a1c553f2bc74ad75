/**
 * Binding a device to the generic UIO driver through sysfs, the way libmetal
 * opens a device on Linux: write the driver's name to the device's
 * `driver_override`, unbind it from any other driver, and write the device
 * name to the UIO driver's `bind` attribute. The kernel then creates
 * `<device>/uio/uioN`; waiting for it is the caller's job.
 *
 * The writes are plain sysfs attribute writes through Deno's file APIs. Every
 * failure is a {@linkcode ConfigError} with a code per step whose `cause` is
 * the {@linkcode OsError} carrying the errno.
 *
 * @module
 */

import { ConfigError, type ConfigErrorCode, OsError, osErrorFrom } from "../errors.ts";

/** The generic platform UIO driver libmetal binds devices to. */
export const UIO_DRIVER = "uio_pdrv_genirq";

/** Write `text` to an existing sysfs attribute in one `write` call. */
function writeAttr(path: string, text: string): void {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { write: true, truncate: true });
  } catch (e) {
    // Opening is part of writing the attribute; report it as the write.
    throw osErrorFrom(e, "write", path);
  }
  try {
    const bytes = new TextEncoder().encode(text);
    const n = f.writeSync(bytes);
    if (n !== bytes.length) {
      throw new OsError("write", 5, `${path} (short write ${n}/${bytes.length})`);
    }
  } catch (e) {
    throw osErrorFrom(e, "write", path);
  } finally {
    f.close();
  }
}

/** What to suggest for an errno of a bind step. */
function hint(errno: number, step: "override" | "unbind" | "bind"): string {
  if (errno === 1 || errno === 13) return "; binding a device needs root";
  if (step === "bind" && (errno === 2 || errno === 19)) {
    return `; is the ${UIO_DRIVER} module loaded?`;
  }
  if (step === "override" && errno === 2) return "; the kernel has no driver_override for this bus";
  return "";
}

/** Where the device's current driver is: its directory, or undefined when unbound. */
function currentDriver(devDir: string, device: string): string | undefined {
  const link = `${devDir}/driver`;
  try {
    if (!Deno.lstatSync(link).isSymlink) return undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    const os = osErrorFrom(e, "lstat", link);
    throw new ConfigError(
      "UIO_DRIVER_LINK",
      `Cannot bind ${device} to ${UIO_DRIVER}: ${os.message}`,
      { cause: os },
    );
  }
  try {
    return Deno.realPathSync(link);
  } catch (e) {
    const os = osErrorFrom(e, "realpath", link);
    throw new ConfigError(
      "UIO_DRIVER_LINK",
      `Cannot bind ${device} to ${UIO_DRIVER}: ${os.message} (dangling driver link)`,
      { cause: os },
    );
  }
}

/** What {@linkcode bindToUioDriver} wrote, in order, as `[path, text]`. */
export type BindWrites = [path: string, text: string][];

/**
 * Bind `<sysfsRoot>/bus/<bus>/devices/<device>` to {@linkcode UIO_DRIVER}:
 * write the driver name to `<device>/driver_override`; when `<device>/driver`
 * links to another driver, write the device name to that driver's `unbind`;
 * then write the device name to `<sysfsRoot>/bus/<bus>/drivers/<UIO_DRIVER>/bind`
 * (EBUSY or EEXIST there mean it is bound already, which is fine). A device
 * already bound to the UIO driver is left alone. Returns the writes made.
 *
 * Errors (ConfigError, `cause` the OsError): `UIO_DRIVER_LINK`,
 * `UIO_OVERRIDE_FAILED`, `UIO_UNBIND_FAILED`, `UIO_BIND_FAILED`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindToUioDriver } from "./_uio_bind.ts";
 * const sys = Deno.makeTempDirSync();
 * try {
 *   const dev = `${sys}/bus/platform/devices/90100000.shm`;
 *   const drv = `${sys}/bus/platform/drivers/uio_pdrv_genirq`;
 *   Deno.mkdirSync(dev, { recursive: true });
 *   Deno.mkdirSync(drv, { recursive: true });
 *   Deno.writeTextFileSync(`${dev}/driver_override`, "(null)\n");
 *   Deno.writeTextFileSync(`${drv}/bind`, "");
 *   bindToUioDriver(sys, "platform", "90100000.shm");
 *   assert(Deno.readTextFileSync(`${dev}/driver_override`) === "uio_pdrv_genirq");
 *   assert(Deno.readTextFileSync(`${drv}/bind`) === "90100000.shm");
 * } finally {
 *   Deno.removeSync(sys, { recursive: true });
 * }
 * ```
 */
export function bindToUioDriver(sysfsRoot: string, bus: string, device: string): BindWrites {
  const devDir = `${sysfsRoot}/bus/${bus}/devices/${device}`;
  const writes: BindWrites = [];
  const step = (
    path: string,
    text: string,
    code: ConfigErrorCode,
    kind: "override" | "unbind" | "bind",
    tolerate: readonly number[] = [],
  ): void => {
    try {
      writeAttr(path, text);
      writes.push([path, text]);
    } catch (e) {
      const os = osErrorFrom(e, "write", path);
      if (tolerate.includes(os.errno)) return;
      throw new ConfigError(
        code,
        `Cannot bind ${device} to ${UIO_DRIVER}: ${os.message}${hint(os.errno, kind)}`,
        { cause: os },
      );
    }
  };
  const driver = currentDriver(devDir, device);
  const driverName = driver?.slice(driver.lastIndexOf("/") + 1);
  if (driverName === UIO_DRIVER) return writes;
  step(`${devDir}/driver_override`, UIO_DRIVER, "UIO_OVERRIDE_FAILED", "override");
  if (driver !== undefined) step(`${driver}/unbind`, device, "UIO_UNBIND_FAILED", "unbind");
  step(
    `${sysfsRoot}/bus/${bus}/drivers/${UIO_DRIVER}/bind`,
    device,
    "UIO_BIND_FAILED",
    "bind",
    [16, 17],
  );
  return writes;
}
